"""How the store turns a buffered batch into write requests: pure functions, no I/O.

Two plans for the same batch (WAL records, account pages, checkpoint):

- :func:`unordered` - the background flush of a database without write barriers: contiguous
  runs of records are cut at random sector boundaries (as a block layer splits large I/O, often
  inside a multi-sector record), and all the pieces of both devices are shuffled and issued in
  parallel. A snapshot in the middle sees any subset of them.
- :func:`ordered` - the flush under ``freeze``: three phases separated by barriers (WAL, then
  data, then checkpoint), each coalesced into as few large requests as possible (WAL records padded
  to their 3 KiB slot, account pages merged into contiguous runs).
"""

from __future__ import annotations

import itertools
import random

from simulators.agent import layout as L

Write = tuple[str, int, bytes]  # (device name: "data" | "wal", byte offset, bytes)


def batch(g: L.Geometry, records: list[L.WalRecord], pages: list[L.Account],
          checkpoint: int, pad_wal: bool = False) -> tuple[list[Write], list[Write], Write]:
    """The batch as (WAL record writes, account page writes, checkpoint write)."""
    wal = []
    for r in records:
        blob = L.encode_wal_record(r)
        wal.append(("wal", g.slot_offset(r.lsn),
                    blob.ljust(L.WAL_SLOT_BYTES, b"\0") if pad_wal else blob))
    data = [("data", g.record_offset(p.account), L.encode_account(p, g.record_bytes))
            for p in pages]
    return wal, data, ("wal", 0, L.encode_wal_superblock(g, checkpoint))


def unordered(parts: tuple[list[Write], list[Write], Write], rng: random.Random) -> list[Write]:
    """Contiguous runs cut at 0..2 random sector boundaries, every piece shuffled."""
    wal, data, checkpoint = parts
    pieces: list[Write] = [checkpoint]
    for dev, offset, blob in coalesce(wal) + coalesce(data):
        sectors = len(blob) // L.SECTOR
        cuts = sorted(rng.sample(range(1, sectors), min(sectors - 1, rng.randint(0, 2))))
        bounds = [0, *(c * L.SECTOR for c in cuts), len(blob)]
        pieces += [(dev, offset + a, blob[a:b]) for a, b in itertools.pairwise(bounds)]
    rng.shuffle(pieces)
    return pieces


def coalesce(writes: list[Write]) -> list[Write]:
    """Merge writes that touch contiguous byte ranges of the same device."""
    merged: list[Write] = []
    for dev, offset, blob in sorted(writes, key=lambda w: (w[0], w[1])):
        if merged and merged[-1][0] == dev and merged[-1][1] + len(merged[-1][2]) == offset:
            last = merged.pop()
            merged.append((dev, last[1], last[2] + blob))
        else:
            merged.append((dev, offset, blob))
    return merged


def ordered(parts: tuple[list[Write], list[Write], Write]) -> list[list[Write]]:
    wal, data, checkpoint = parts
    return [phase for phase in (coalesce(wal), coalesce(data), [checkpoint]) if phase]
