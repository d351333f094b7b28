"""MicroScan: find the 512-byte sectors that really changed, only inside the chunks written.

The appliance tracks which 64 KiB chunks were written since each snapshot. A replication cycle
feeds MicroScan the dirty chunks as ``(chunk_index, base_bytes, head_bytes)``: the content at the
last replicated snapshot and now. MicroScan compares them sector by sector (numpy, in batches of
about 16 MiB), and coalesces runs of changed sectors into extents. Cost is proportional to the
number of dirty chunks, never to the device size.

Extent kinds (what travels for a run of changed sectors):

- ``RAW``  the new content.
- ``XOR``  new XOR old, for sectors where few bytes changed in place: at most ``xor_max_bytes``
  (32) and under 3/4 of the new sector's non-zero bytes. Mostly zeros, so zstd shrinks it to
  almost nothing. Which is smallest per sector was measured on bench/wan.py with the wire
  format's base dictionary (literal data is compressed against the base content around it):
  XOR wins for small in-place updates (a counter, a balance, a timestamp), literal wins for
  rewritten or shifted content (SQLite pages: 52 KB literal vs 127 KB with a 384-byte XOR cap),
  ZERO for zeroed sectors, and unchanged sectors never travel.
  Only valid when the receiver holds exactly the base content (incremental, resync after
  rollback): the replication driver turns it on for those (``xor=True``), off for initial.
- ``ZERO`` the new content is all zeros: only offset and length travel.

``base_bytes=None`` means "the receiver's content here is unknown": every sector of the chunk is
sent (RAW or ZERO). ``diff_initial`` diffs against an all-zero device (the fresh replica), so
only non-zero sectors travel.

Invariant (tested with hypothesis): if the dirty chunks include every chunk where base and head
differ, ``apply(base, diff(base, head)) == head``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from .errors import DiffInputError
from .microscan_batch import (
    CHUNK_SIZE,
    MERGE_LIMIT,
    SECTOR,
    Chunk,
    ChunkBatch,
    DiffStats,
    Extent,
    Kind,
    batches,
    coalesce,
)
from .microscan_kinds import batch_extents, changed_mask, count_blocks, sector_mask, word_counts

__all__ = ["CHUNK_SIZE", "MERGE_LIMIT", "SECTOR", "Chunk", "ChunkBatch", "DiffStats", "Extent",
           "Kind",
           "apply", "apply_to_file", "block_bytes", "diff", "diff_images", "diff_initial",
           "extent_sectors", "image_chunks", "iter_diff"]

XOR_MAX_BYTES = 32
BLOCK_SIZES = (4096, 65536)


def _check_chunk_size(chunk_size: int, block_sizes: Sequence[int] = ()) -> None:
    if chunk_size <= 0 or chunk_size % SECTOR:
        raise DiffInputError(f"chunk_size {chunk_size} is not a positive multiple of 512",
                             field="chunk_size")
    for bs in block_sizes:
        if bs <= 0 or bs % SECTOR or chunk_size % bs:
            raise DiffInputError(f"block size {bs} must be a multiple of 512 dividing "
                                 f"chunk_size {chunk_size}", field="block_size")


def iter_diff(chunks: Iterable[Chunk], *, chunk_size: int = CHUNK_SIZE, xor: bool = False,
              xor_max_bytes: int = XOR_MAX_BYTES, stats: DiffStats | None = None,
              block_sizes: Sequence[int] | None = None,
              batch_chunks: int | None = None) -> Iterator[Extent]:
    """Yield the extents of changed sectors, in offset order, from ``(index, base, head)``
    tuples and/or ``ChunkBatch`` blocks of whole chunks (the fast path).

    Chunk indices must be strictly increasing; every chunk but possibly the device's last is
    ``chunk_size`` bytes. ``stats`` (if given) is filled in as the extents are consumed,
    including differing-block counts for ``block_sizes`` (default: those of 4 KiB and 64 KiB
    that divide ``chunk_size``).
    """
    if block_sizes is None:
        block_sizes = [bs for bs in BLOCK_SIZES if chunk_size % bs == 0]
    _check_chunk_size(chunk_size, block_sizes)
    stats = stats if stats is not None else DiffStats()
    for e in coalesce(_scan(chunks, chunk_size, xor, xor_max_bytes, stats, block_sizes,
                             batch_chunks)):
        stats.extents += 1
        stats.payload_bytes += len(e.data)
        yield e


def _scan(chunks: Iterable[Chunk], chunk_size: int, xor: bool, xor_max: int, stats: DiffStats,
          block_sizes: Sequence[int], batch_chunks: int | None) -> Iterator[list[Extent]]:
    for b in batches(chunks, chunk_size, batch_chunks):
        counts = word_counts(b)
        mask = sector_mask(b, counts)
        stats.chunks_scanned += b.n
        stats.bytes_scanned += b.nbytes
        count_blocks(mask, stats, block_sizes)
        yield batch_extents(b, mask, counts, xor, xor_max, stats)


def diff(chunks: Iterable[Chunk], **options: Any) -> list[Extent]:
    """The extents of changed sectors as a list; options as for ``iter_diff``."""
    return list(iter_diff(chunks, **options))


def diff_initial(heads: Iterable[tuple[int, Any]], **options: Any) -> list[Extent]:
    """Initial sync to a fresh, all-zero replica: only non-zero sectors travel."""
    size = options.get("chunk_size", CHUNK_SIZE)
    zero = np.zeros(size, np.uint8)
    return diff(((i, zero[: len(h)], h) for i, h in heads), **options)


def image_chunks(base: Any, head: Any, dirty_chunks: Iterable[int] | None = None,
                 chunk_size: int = CHUNK_SIZE) -> list[Chunk]:
    """``(index, base, head)`` views of two equal-sized images (bytes, ndarray or memmap)."""
    old, new = _image(base, "base"), _image(head, "head")
    if old.size != new.size:
        raise DiffInputError(f"base has {old.size} bytes, head {new.size}", field="head")
    count = -(-new.size // chunk_size)
    if dirty_chunks is None:
        wanted: Iterable[int] = range(count)
    else:
        wanted = np.unique(np.fromiter(dirty_chunks, np.int64)).tolist()
        bad = [i for i in wanted if not 0 <= i < count]
        if bad:
            raise DiffInputError(f"dirty chunk {bad[0]} outside the device's {count} chunks",
                                 chunk=bad[0], field="dirty_chunks")
    return [(i, old[i * chunk_size : (i + 1) * chunk_size], new[i * chunk_size : (i + 1) *
             chunk_size]) for i in wanted]


def _image(buf: Any, what: str) -> np.ndarray:
    # np.asarray drops subclasses (np.memmap): their per-operation overhead is large
    arr = np.asarray(buf) if isinstance(buf, np.ndarray) else np.frombuffer(buf, dtype=np.uint8)
    arr = arr.reshape(-1).view(np.uint8)
    if arr.size % SECTOR:
        raise DiffInputError(f"{what} size {arr.size} is not a multiple of 512", field=what)
    return arr


def diff_images(base: Any, head: Any, dirty_chunks: Iterable[int] | None = None,
                **options: Any) -> list[Extent]:
    """Diff two whole images, only inside ``dirty_chunks`` (all chunks when None)."""
    size = options.get("chunk_size", CHUNK_SIZE)
    return diff(image_chunks(base, head, dirty_chunks, size), **options)


def block_bytes(chunks: Iterable[Chunk], block_size: int, *,
                chunk_size: int = CHUNK_SIZE) -> int:
    """What block replication at ``block_size`` would send: differing blocks x block size."""
    _check_chunk_size(chunk_size, (block_size,))
    stats = DiffStats()
    for b in batches(chunks, chunk_size, None):
        count_blocks(changed_mask(b), stats, (block_size,))
    return stats.block_bytes(block_size)


def _validated(extents: Iterable[Extent], size: int) -> list[Extent]:
    out = list(extents)
    for e in out:
        if e.end > size:
            raise DiffInputError(f"extent {e.offset}+{e.length} ends past the image's {size} "
                                 "bytes", offset=e.offset, length=e.length)
    return out


def apply(image: Any, extents: Iterable[Extent]) -> Any:
    """Apply extents in place to a writable buffer (bytearray, mmap, ndarray); returns it.

    All extents are checked against the image size before anything is written.
    """
    view = image.reshape(-1).view(np.uint8) if isinstance(image, np.ndarray) else \
        np.frombuffer(image, dtype=np.uint8)
    for e in _validated(extents, view.size):
        target = view[e.offset : e.end]
        if e.kind is Kind.ZERO:
            target[:] = 0
        elif e.kind is Kind.XOR:
            target ^= np.frombuffer(e.data, np.uint8)
        else:
            target[:] = np.frombuffer(e.data, np.uint8)
    return image


def apply_to_file(fd: int, extents: Iterable[Extent]) -> None:
    """Apply extents to an open file descriptor with pread/pwrite (no fsync: the caller's job)."""
    zeros = bytes(1 << 20)
    for e in _validated(extents, os.fstat(fd).st_size):
        if e.kind is Kind.RAW:
            os.pwrite(fd, e.data, e.offset)
        elif e.kind is Kind.XOR:
            old = np.frombuffer(os.pread(fd, e.length, e.offset), np.uint8)
            os.pwrite(fd, np.bitwise_xor(old, np.frombuffer(e.data, np.uint8)).tobytes(),
                      e.offset)
        else:
            for at in range(e.offset, e.end, len(zeros)):
                os.pwrite(fd, zeros[: min(len(zeros), e.end - at)], at)


def extent_sectors(extents: Iterable[Extent]) -> np.ndarray:
    """Sorted sector numbers covered by the extents (for checks against ground truth)."""
    runs = [np.arange(e.offset // SECTOR, e.end // SECTOR) for e in extents]
    return np.concatenate(runs) if runs else np.zeros(0, np.int64)
