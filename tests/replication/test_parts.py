"""Cutting extent streams into parts: exact fill, every byte once, resume from any part."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.nss.replication.logic import parts
from simulators.nss.replication.logic.microscan import Extent, Kind, apply

SIZE = 1 << 22
PAYLOAD = 64 * 1024 + 13


def test_a_large_extent_fills_parts_exactly() -> None:
    """A 1 MiB extent in 64 KiB parts: every part but the last is full, no orphan parts."""
    e = Extent(0, bytes(range(256)) * 4096)
    cut = list(parts.pack([e], PAYLOAD, SIZE))
    assert [p.serialized_bytes for p in cut] == [PAYLOAD] * 16
    assert [p.last for p in cut] == [False] * 15 + [True] and cut[-1].covers_to == SIZE
    assert [p.covers_to for p in cut[:3]] == [65536, 131072, 196608]


@st.composite
def extent_lists(draw: st.DrawFn) -> list[Extent]:
    out, at = [], 0
    for _ in range(draw(st.integers(0, 12))):
        at += draw(st.integers(0, 64)) * 512
        n = draw(st.integers(1, 400)) * 512
        if at + n > SIZE:
            break
        kind = draw(st.sampled_from(list(Kind)))
        out.append(Extent.zeros(at, n) if kind is Kind.ZERO else
                   Extent(at, bytes([len(out) % 251 + 1]) * n, kind))
        at += n
    return out


@settings(max_examples=60, deadline=None)
@given(extent_lists(), st.integers(600, 100_000), st.data())
def test_resuming_after_any_part_gives_the_same_bytes(extents, payload, data) -> None:
    whole = list(parts.pack(extents, payload, SIZE))
    assert all(p.serialized_bytes <= payload for p in whole)
    acked = data.draw(st.integers(0, len(whole) - 1))
    resumed = list(parts.pack(extents, payload, SIZE, first_part=acked + 1,
                              start=whole[acked].covers_to)) if not whole[acked].last else []
    got = bytearray(SIZE)
    for p in whole[: acked + 1] + resumed:
        apply(got, p.extents)
    want = apply(bytearray(SIZE), extents)
    assert got == want
    assert [p.index for p in whole[: acked + 1] + resumed] == list(
        range(len(whole[: acked + 1] + resumed)))
