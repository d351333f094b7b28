"""MicroScan's batches: extents, dirty chunks gathered into 2-D batches, coalescing.

``microscan`` is the public face (and re-exports ``Extent``, ``Kind``, ``DiffStats``);
``microscan_kinds`` compares one batch and builds its extents. A batch is up to
``BATCH_BYTES`` of dirty chunks as two (chunks, chunk_size) arrays: a ``ChunkBatch`` (how the
replication scanner reads them) is used as it is, without a copy; ``(index, base, head)``
tuples are copied into fresh arrays. Runs of changed sectors cut at batch boundaries are
merged again by ``coalesce`` up to ``MERGE_LIMIT`` bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np

from .errors import DiffInputError

SECTOR = 512
CHUNK_SIZE = 65536
BATCH_BYTES = 16 << 20
MERGE_LIMIT = 1 << 20
_WORDS = SECTOR // 8

Chunk = tuple[int, Any, Any]  # (chunk_index, base bytes-like or None, head bytes-like)


class Kind(IntEnum):
    RAW = 0
    XOR = 1
    ZERO = 2


@dataclass(frozen=True, slots=True)
class Extent:
    """A run of changed sectors at byte ``offset``; ``data`` is empty for ZERO extents.

    ``data`` is ``bytes`` or a read-only ``memoryview`` (a view of a ``ChunkBatch``'s head
    buffer, or a piece cut by ``parts``): read it with the buffer protocol."""

    offset: int
    data: bytes | memoryview = b""
    kind: Kind = Kind.RAW
    length: int = -1

    def __post_init__(self) -> None:
        if self.kind is not Kind.ZERO:
            object.__setattr__(self, "length", len(self.data))
        elif self.data:
            raise DiffInputError("ZERO extent must carry no data", offset=self.offset)
        if self.offset < 0 or self.offset % SECTOR or self.length <= 0 or self.length % SECTOR:
            raise DiffInputError(
                f"extent at offset {self.offset} length {self.length} is not a positive "
                "whole number of 512-byte sectors", offset=self.offset, length=self.length)

    @classmethod
    def zeros(cls, offset: int, length: int) -> Extent:
        return cls(offset, b"", Kind.ZERO, length)

    @property
    def end(self) -> int:
        return self.offset + self.length


@dataclass
class DiffStats:
    """Counters of one diff; ``block_changed[bs]`` counts differing blocks of ``bs`` bytes."""

    chunks_scanned: int = 0
    bytes_scanned: int = 0
    sectors_changed: int = 0
    sectors_by_kind: dict[str, int] = field(default_factory=lambda: {k.name: 0 for k in Kind})
    extents: int = 0
    payload_bytes: int = 0
    block_changed: dict[int, int] = field(default_factory=dict)

    @property
    def ideal_bytes(self) -> int:
        return self.sectors_changed * SECTOR

    def block_bytes(self, block_size: int) -> int:
        return self.block_changed.get(block_size, 0) * block_size


_new = object.__new__
_set_offset, _set_data = Extent.offset.__set__, Extent.data.__set__  # type: ignore[attr-defined]
_set_kind, _set_length = Extent.kind.__set__, Extent.length.__set__  # type: ignore[attr-defined]


def trusted_extent(offset: int, data: bytes | memoryview, kind: Kind, length: int) -> Extent:
    """An extent MicroScan built itself (aligned by construction): no re-validation, and
    the frozen dataclass's slots set directly (a quarter of ``Extent(...)``'s cost)."""
    e = _new(Extent)
    _set_offset(e, offset)
    _set_data(e, data)
    _set_kind(e, kind)
    _set_length(e, length)
    return e


@dataclass(frozen=True)
class ChunkBatch:
    """Whole chunks read into 2-D buffers, one row per chunk (how the replication scanner
    reads them): compared in one vectorised pass, with no per-chunk Python work.

    ``base`` None means an all-zero base (an initial sync); rows set in ``unknown`` have no
    base at all (every sector travels). The batch is handed over: RAW extents of densely
    changed batches are read-only views of ``head`` (no copy), so the caller must not write
    to ``head`` while those extents are in use."""

    idx: np.ndarray
    base: np.ndarray | None
    head: np.ndarray
    unknown: np.ndarray | None = None


@dataclass
class Batch:
    """Up to ~16 MiB of dirty chunks as (n, chunk_size) uint8 arrays, one row per chunk."""

    idx: np.ndarray                # (n,) int64 chunk indices, strictly increasing
    head: np.ndarray               # C-contiguous
    base: np.ndarray | None        # same shape; None: an all-zero base
    unknown: np.ndarray | None     # (n,) bool: rows without a base (every sector travels)
    valid: np.ndarray | None       # (n,) sectors per row, when some rows are short
    nbytes: int                    # head bytes actually given

    @property
    def n(self) -> int:
        return len(self.idx)

    @property
    def spc(self) -> int:
        return self.head.shape[1] // SECTOR


@dataclass
class _Rows:
    """``(index, base, head)`` tuples collected for one batch (views of the caller's data)."""

    idx: list[int] = field(default_factory=list)
    base: list[np.ndarray | None] = field(default_factory=list)
    head: list[np.ndarray] = field(default_factory=list)


def _rows_2d(buf: Any, n: int, chunk_size: int, what: str) -> np.ndarray:
    arr = np.asarray(buf)
    if arr.shape[:1] != (n,) or arr.size != n * chunk_size:
        raise DiffInputError(f"chunk batch of {n} chunks must hold ({n}, {chunk_size}) bytes in "
                             f"head and base; {what} has shape {arr.shape}", field=what)
    return np.ascontiguousarray(arr).view(np.uint8).reshape(n, chunk_size)


def _from_block(cb: ChunkBatch, chunk_size: int, last: int) -> Batch:
    idx = np.asarray(cb.idx, np.int64).reshape(-1)
    if idx.size == 0:
        raise DiffInputError("chunk batch holds no chunks", field="idx")
    if idx[0] <= last or np.any(np.diff(idx) <= 0):
        raise DiffInputError(f"chunk batch indices must be strictly increasing above {last}",
                             chunk=int(idx[0]), field="dirty_chunks")
    head = _rows_2d(cb.head, idx.size, chunk_size, "head")
    base = None if cb.base is None else _rows_2d(cb.base, idx.size, chunk_size, "base")
    unknown = None if cb.unknown is None else np.asarray(cb.unknown)
    if unknown is not None and (unknown.dtype != bool or unknown.shape != idx.shape):
        raise DiffInputError(f"chunk batch unknown must be {idx.size} booleans, got "
                             f"{unknown.dtype} {unknown.shape}", field="unknown")
    return Batch(idx, head, base, unknown if unknown is not None and unknown.any() else None,
                 None, head.size)


def _from_rows(r: _Rows, chunk_size: int) -> Batch:
    """Copy the rows into fresh (n, chunk_size) arrays, short rows zero-padded."""
    n = len(r.idx)
    head, base = np.zeros((n, chunk_size), np.uint8), np.zeros((n, chunk_size), np.uint8)
    for row, (old, new) in enumerate(zip(r.base, r.head, strict=True)):
        head[row, : new.size] = new
        if old is not None:
            base[row, : old.size] = old
    sizes = np.fromiter((h.size for h in r.head), np.int64, n)
    unknown = np.fromiter((o is None for o in r.base), bool, n)
    valid = None if np.all(sizes == chunk_size) else sizes // SECTOR
    return Batch(np.asarray(r.idx, np.int64), head, base, unknown if unknown.any() else None,
                 valid, int(sizes.sum()))


def _u8(buf: Any, what: str, index: int) -> np.ndarray:
    # np.asarray drops subclasses (np.memmap): their per-operation overhead is large
    arr = np.asarray(buf) if isinstance(buf, np.ndarray) else np.frombuffer(buf, dtype=np.uint8)
    arr = arr.reshape(-1).view(np.uint8)
    if arr.size == 0 or arr.size % SECTOR:
        raise DiffInputError(f"chunk {index}: {what} length {arr.size} is not a positive "
                             "multiple of 512", chunk=index, field=what)
    return arr


def batches(chunks: Iterable[Chunk], chunk_size: int, rows: int | None) -> Iterator[Batch]:
    """The chunks as batches of at most ``rows`` chunks (tuples) or as given (``ChunkBatch``)."""
    rows = rows or max(1, BATCH_BYTES // chunk_size)
    pending, last = _Rows(), -1
    for item in chunks:
        if isinstance(item, ChunkBatch):
            if pending.idx:
                yield _from_rows(pending, chunk_size)
                pending = _Rows()
            block = _from_block(item, chunk_size, last)
            last = int(block.idx[-1])
            yield block
            continue
        last = _put(pending, last, item, chunk_size)
        if len(pending.idx) == rows:
            yield _from_rows(pending, chunk_size)
            pending = _Rows()
    if pending.idx:
        yield _from_rows(pending, chunk_size)


def _put(r: _Rows, last: int, item: Chunk, chunk_size: int) -> int:
    index, base, head = item
    if not isinstance(index, int | np.integer) or index <= last:
        raise DiffInputError(f"chunk index {index!r} is not an integer above {last}: "
                             "dirty chunks must be strictly increasing", chunk=index)
    h = _u8(head, "head", index)
    if h.size > chunk_size:
        raise DiffInputError(f"chunk {index}: head has {h.size} bytes, more than chunk_size "
                             f"{chunk_size}", chunk=index, field="head")
    o = None if base is None else _u8(base, "base", index)
    if o is not None and o.size != h.size:
        raise DiffInputError(f"chunk {index}: base has {o.size} bytes, head {h.size}",
                             chunk=index, field="base")
    r.idx.append(int(index))
    r.base.append(o)
    r.head.append(h)
    return int(index)


def coalesce(per_batch: Iterable[list[Extent]]) -> Iterator[Extent]:
    """Merge runs split at batch boundaries, while the merged data stays under MERGE_LIMIT.

    Within a batch, runs are maximal already: only a batch's first extent can continue the
    previous batch's last. Longer runs stay split there (13 bytes of record per ~16 MiB batch)
    rather than being copied again into one huge bytes object.
    """
    pending: list[Extent] = []
    size = 0
    for extents in per_batch:
        if not extents:
            continue
        first = extents[0]
        if pending and _continues(pending[-1], first) and size + len(first.data) <= MERGE_LIMIT:
            pending.append(first)
            if len(extents) == 1:
                size += len(first.data)
                continue
            yield _join(pending)
            yield from extents[1:-1]
        else:
            if pending:
                yield _join(pending)
            yield from extents[:-1]
        pending, size = [extents[-1]], len(extents[-1].data)
    if pending:
        yield _join(pending)


def _continues(a: Extent, b: Extent) -> bool:
    return a.end == b.offset and a.kind is b.kind


def _join(parts: list[Extent]) -> Extent:
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    if first.kind is Kind.ZERO:
        return Extent.zeros(first.offset, parts[-1].end - first.offset)
    return Extent(first.offset, b"".join(p.data for p in parts), first.kind)
