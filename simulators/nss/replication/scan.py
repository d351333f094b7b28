"""Feeding MicroScan from the appliance: which chunks to compare and their bytes."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from ..blockdev import CHUNK
from ..datapath import DataPath
from ..model import Lun, Snapshot


def allocated_chunks(path: os.PathLike[str] | str, size: int) -> set[int]:
    """Chunks of a sparse file that hold data (SEEK_DATA/SEEK_HOLE): what an initial sync reads."""
    out: set[int] = set()
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return out
    try:
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:  # ENXIO: no data after pos
                break
            end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
            out.update(range(start // CHUNK, (end - 1) // CHUNK + 1))
            pos = end
    finally:
        os.close(fd)
    return {c for c in out if c * CHUNK < size}


def snapshot_chunks(data: DataPath, lun: Lun, snap: Snapshot | None,
                    chunks: Iterable[int]) -> Iterator[tuple[int, bytes]]:
    """``(index, bytes)`` of each chunk of a snapshot (zeros when ``snap`` is None)."""
    for c in sorted(chunks):
        n = data.chunk_len(lun.size_bytes, c)
        if snap is None:
            yield c, bytes(n)
        else:
            yield c, data.read_snapshot(snap, lun.size_bytes, c * CHUNK, n)


def pairs(data: DataPath, lun: Lun, base: Snapshot | None, head: Snapshot,
          chunks: Iterable[int], unknown: frozenset[int] = frozenset(),
          ) -> Iterator[tuple[int, bytes | None, bytes]]:
    """``(index, base bytes, head bytes)`` for MicroScan's ``iter_diff``. A chunk in
    ``unknown`` (the replica wrote it, so its content there is not the base) gets base None:
    MicroScan then sends every sector of it."""
    chunks = sorted(chunks)
    for (c, old), (_, new) in zip(snapshot_chunks(data, lun, base, chunks),
                                  snapshot_chunks(data, lun, head, chunks), strict=True):
        yield c, None if c in unknown else old, new
