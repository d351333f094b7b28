"""The flush plans cover exactly the batch; the ordered plan is few requests with barriers."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.agent import flushplan as plan
from simulators.agent import layout as L
from tests.agent.helpers import small_geometry


def image(writes: list[plan.Write]) -> dict[str, bytes]:
    """Result of applying the writes in order to blank devices (with a written-bytes mask)."""
    out = {dev: bytearray(2 * 65536) for dev in ("data", "wal", "data-mask", "wal-mask")}
    for dev, offset, blob in writes:
        out[dev][offset:offset + len(blob)] = blob
        out[f"{dev}-mask"][offset:offset + len(blob)] = b"\1" * len(blob)
    return {k: bytes(v) for k, v in out.items()}


def some_batch(accounts: list[int], lsns: list[int]) -> tuple:
    g = small_geometry()
    records = [L.WalRecord(n, (L.Update(0, 1, 1), L.Update(1, -1, -1)), 1024 + 512 * (n % 5))
               for n in lsns]
    pages = [L.Account(a, 10, max(lsns, default=0)) for a in sorted(set(accounts))]
    return plan.batch(g, records, pages, max(lsns, default=0), pad_wal=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 15), max_size=16), st.lists(st.integers(1, 15), unique=True,
                                                           max_size=15), st.integers(0, 99))
def test_both_plans_write_exactly_the_batch(accounts: list[int], lsns: list[int],
                                            seed: int) -> None:
    parts = some_batch(accounts, lsns)
    wal, data, ckpt = parts
    want = image([*wal, *data, ckpt])
    shuffled = plan.unordered(parts, random.Random(seed))
    assert image(shuffled) == want
    assert all(len(b) % L.SECTOR == 0 and off % L.SECTOR == 0 for _, off, b in shuffled)
    phases = plan.ordered(parts)
    assert image([w for phase in phases for w in phase]) == want
    assert phases[-1] == [ckpt]  # the checkpoint goes last, after a barrier


def test_ordered_plan_coalesces_contiguous_records() -> None:
    wal, data, _ = phases = plan.ordered(some_batch(list(range(16)), list(range(1, 9))))
    assert len(wal) == 1 and len(data) == 1 and len(phases) == 3
