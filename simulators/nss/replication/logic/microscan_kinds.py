"""MicroScan's numpy core for one batch: which sectors changed, their kinds, their extents.

Every step is vectorised over the whole batch or over its changed sectors; Python loops only
once per extent. Memory traffic is the cost, so each byte of the batch is read as few times
as possible:

1. ``word_counts``: one compare of head and base as 64-bit words gives, per 512-byte sector,
   how many of its 64 words differ (a popcount of the compare's bools, added eight at a time
   as bytes of a uint64). A sector changed when the count is non-zero.
2. ``_nonzero``: RAW or ZERO. Against an all-zero base the counts already say it; otherwise
   one more pass over the head when the batch is dense, else only its changed sectors.
3. ``_xor``: only RAW sectors with at most ``xor_max`` differing words are gathered and
   compared byte by byte (more differing words means more differing bytes too).
4. ``batch_extents``: runs of consecutive sectors of one kind. RAW data of a batch at least
   half RAW is a read-only view of the head buffer (no copy: a dense 64 MiB rewrite would
   otherwise spend more time faulting in fresh pages than comparing); of sparser batches, one
   gather and copy of the RAW sectors, cut per extent. An extent so pins at most twice its
   batch's RAW bytes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .microscan_batch import SECTOR, Batch, DiffStats, Extent, Kind, trusted_extent

_WORDS = SECTOR // 8
_ONES = np.uint64(0x0101010101010101)
_TOP = np.uint64(56)
_LOW_BYTES, _BYTE = np.uint64(0x00FF00FF00FF00FF), np.uint64(8)
_ONES16, _TOP16 = np.uint64(0x0001000100010001), np.uint64(48)
DENSE = 3  # one whole-batch pass for zero sectors when at least 1/DENSE of sectors changed
_KINDS = (Kind.RAW, Kind.XOR, Kind.ZERO)


def _popcounts(ne: np.ndarray) -> np.ndarray:
    """Per sector, how many of its 64 bools are True (``ne``: 64 bools per sector).

    Eight bools are one uint64 of 0/1 bytes: adding a sector's eight words adds byte lanes
    (each at most 8, no carries); multiplying by 0x0101... sums the lanes into the top byte."""
    w = ne.view(np.uint64).reshape(-1, 8)
    s = w[:, 0] + w[:, 1]
    for col in range(2, 8):
        s += w[:, col]
    return _lane_sum(s)


def _lane_sum(s: np.ndarray) -> np.ndarray:
    s *= _ONES
    s >>= _TOP
    return s


def _nonzero_bytes(rows: np.ndarray) -> np.ndarray:
    """Non-zero bytes per row of (count, 512) uint8. The row's 512 bools summed as 64 uint64
    give eight byte lanes of at most 64; pairs of lanes added into 16-bit lanes (at most 128
    each) are then summed into the top 16 bits."""
    s = (rows != 0).view(np.uint64).sum(axis=1, dtype=np.uint64)
    s = (s & _LOW_BYTES) + ((s >> _BYTE) & _LOW_BYTES)
    s *= _ONES16
    s >>= _TOP16
    return s.astype(np.int64)


def word_counts(b: Batch) -> np.ndarray:
    """(n * spc,) differing 8-byte words per sector; against an all-zero base (``base`` None)
    that is the head's non-zero words."""
    head = b.head.view(np.uint64)
    return _popcounts(head != 0 if b.base is None else head != b.base.view(np.uint64))


def sector_mask(b: Batch, counts: np.ndarray) -> np.ndarray:
    """(n, spc) bool: which sectors travel (changed, or in a row without a base)."""
    mask = (counts != 0).reshape(b.n, b.spc)
    if b.unknown is not None:
        mask[b.unknown] = True
    if b.valid is not None:
        mask &= np.arange(b.spc) < b.valid[:, None]
    return mask


def changed_mask(b: Batch) -> np.ndarray:
    return sector_mask(b, word_counts(b))


def count_blocks(mask: np.ndarray, stats: DiffStats, block_sizes: Sequence[int]) -> None:
    n, spc = mask.shape
    for bs in block_sizes:
        per = bs // SECTOR
        changed = int(mask.reshape(n, spc // per, per).any(axis=2).sum())
        stats.block_changed[bs] = stats.block_changed.get(bs, 0) + changed


def _sectors(arr: np.ndarray) -> np.ndarray:
    return arr.reshape(-1, SECTOR)


def _nonzero(b: Batch, pos: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Whether each changed sector ``pos`` of the head holds a non-zero byte."""
    if b.base is None:
        return counts[pos] != 0
    if pos.size * DENSE >= counts.size:
        return (_popcounts(b.head.view(np.uint64) != 0) != 0)[pos]
    return _popcounts(np.take(b.head.view(np.uint64).reshape(-1, _WORDS), pos, axis=0) != 0) != 0


def _xor(b: Batch, pos: np.ndarray, counts: np.ndarray, kind: np.ndarray,
         xor_max: int) -> np.ndarray | None:
    """Mark XOR sectors in ``kind``; returns new XOR old for them, in order (or None).

    XOR when at most ``xor_max`` bytes differ and under 3/4 of the new sector's non-zero
    bytes; never against an all-zero base (new XOR 0 is the new content itself)."""
    if b.base is None:
        return None
    cand = (kind == Kind.RAW) & (counts[pos] <= xor_max)
    if b.unknown is not None:
        cand &= ~b.unknown[pos // b.spc]
    at = np.flatnonzero(cand)
    if at.size == 0:
        return None
    new = np.take(_sectors(b.head), pos[at], axis=0)
    delta = np.take(_sectors(b.base), pos[at], axis=0)
    delta ^= new
    n_delta = _nonzero_bytes(delta)
    use = (n_delta <= xor_max) & (4 * n_delta < 3 * _nonzero_bytes(new))
    kind[at[use]] = Kind.XOR
    return delta[use]


def _kinds(b: Batch, pos: np.ndarray, counts: np.ndarray, xor: bool,
           xor_max: int) -> tuple[np.ndarray, np.ndarray | None]:
    kind = np.where(_nonzero(b, pos, counts), np.int8(Kind.RAW), np.int8(Kind.ZERO))
    return kind, _xor(b, pos, counts, kind, xor_max) if xor else None


def _raw_source(b: Batch, pos: np.ndarray, raw: np.ndarray) -> tuple[memoryview | bytes,
                                                                      np.ndarray]:
    """Where RAW data is cut from, and each changed sector's row there."""
    if 2 * int(np.count_nonzero(raw)) >= b.head.shape[0] * b.spc:
        flat = b.head.reshape(-1).view()
        flat.flags.writeable = False
        return memoryview(flat), pos
    return np.take(_sectors(b.head), pos[raw], axis=0).tobytes(), np.cumsum(raw) - 1


def _runs(b: Batch, pos: np.ndarray, kind: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """Start positions, device sectors and lengths of runs of consecutive same-kind sectors."""
    sector = b.idx[pos // b.spc] * b.spc + pos % b.spc
    breaks = np.flatnonzero((np.diff(sector) != 1) | (np.diff(kind) != 0)) + 1
    starts = np.r_[0, breaks]
    return starts, sector[starts], np.diff(np.r_[starts, pos.size])


def batch_extents(b: Batch, mask: np.ndarray, counts: np.ndarray, xor: bool, xor_max: int,
                  stats: DiffStats) -> list[Extent]:
    """The batch's extents in offset order (runs are maximal within the batch)."""
    pos = np.flatnonzero(mask)
    if pos.size == 0:
        return []
    kind, delta = _kinds(b, pos, counts, xor, xor_max)
    by_kind = np.bincount(kind, minlength=len(Kind))
    stats.sectors_changed += int(pos.size)
    for k in Kind:
        stats.sectors_by_kind[k.name] += int(by_kind[k])
    raw = kind == Kind.RAW
    source, row = _raw_source(b, pos, raw)
    sources = (source, b"" if delta is None else delta.tobytes(), b"")
    if delta is not None:
        row = np.where(raw, row, np.cumsum(kind == Kind.XOR) - 1)
    starts, sector, count = _runs(b, pos, kind)
    return _build(sources, (sector * SECTOR).tolist(), kind[starts].tolist(),
                  (row[starts] * SECTOR).tolist(), (count * SECTOR).tolist())


def _build(sources: tuple[memoryview | bytes, bytes, bytes], offsets: list[int],
           kinds: list[int], at: list[int], lengths: list[int]) -> list[Extent]:
    return [trusted_extent(offset, sources[k][a : a + n], _KINDS[k], n)
            for offset, k, a, n in zip(offsets, kinds, at, lengths, strict=True)]
