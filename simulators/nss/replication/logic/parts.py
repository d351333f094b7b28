"""Cut a device's extent stream into wire parts that fill exactly, and resume it by offset.

A part holds at most ``payload`` serialized bytes (13-byte record + data per extent). An extent
that does not fit is cut at the last whole sector that does, so every part but the last is full
to within one sector plus one record, whatever the extent sizes (a 16 MiB extent never leaves a
512-byte orphan part behind it).

Each part says ``covers_to``: the byte offset below which the delta is complete once this part
is applied (the start of whatever did not fit; the device size for the last part). A sender
told "part *n* acknowledged, covering up to *X*" resumes with ``pack(..., first_part=n + 1,
start=X)`` over a scan restarted at X's chunk: ``clip`` drops what lies below X. MicroScan is
deterministic, so the resumed stream continues exactly where the acknowledged one stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from .errors import DeltaTooLargeError
from .microscan import SECTOR, Extent, Kind
from .wire import (
    MAX_PART_PAYLOAD,
    VERSION,
    Delta,
    WireStats,
    dictionary_ranges,
    encode_with_stats,
)

RECORD = 13


@dataclass(frozen=True)
class Part:
    index: int
    extents: tuple[Extent, ...]
    covers_to: int
    last: bool

    @property
    def serialized_bytes(self) -> int:
        return sum(RECORD + len(e.data) for e in self.extents)


def clip(e: Extent, start: int) -> Extent | None:
    """The part of ``e`` at or after byte ``start`` (None if nothing is left)."""
    if e.end <= start:
        return None
    if e.offset >= start:
        return e
    if e.kind is Kind.ZERO:
        return Extent.zeros(start, e.end - start)
    return Extent(start, e.data[start - e.offset :], e.kind)


def _cut(e: Extent, nbytes: int) -> tuple[Extent, Extent]:
    if e.kind is Kind.ZERO:
        return Extent.zeros(e.offset, nbytes), Extent.zeros(e.offset + nbytes, e.length - nbytes)
    data = memoryview(e.data)  # no copies: the pieces are views until serialized
    return (Extent(e.offset, data[:nbytes], e.kind),
            Extent(e.offset + nbytes, data[nbytes:], e.kind))


class _Packer:
    def __init__(self, payload: int, first_part: int) -> None:
        self.payload, self.index = payload, first_part
        self.room, self.extents = payload, []

    def add(self, e: Extent) -> Iterator[Part]:
        """Place ``e``, yielding every part it fills."""
        while True:
            cost = RECORD + len(e.data)
            if cost <= self.room:
                self.extents.append(e)
                self.room -= cost
                return
            fit = (self.room - RECORD) // SECTOR * SECTOR
            if fit > 0 and e.kind is not Kind.ZERO:
                head, e = _cut(e, fit)
                self.extents.append(head)
            yield self.seal(e.offset, last=False)

    def seal(self, covers_to: int, last: bool) -> Part:
        part = Part(self.index, tuple(self.extents), covers_to, last)
        self.index, self.room, self.extents = self.index + 1, self.payload, []
        return part


def pack(extents: Iterable[Extent], payload: int, device_size: int, *, first_part: int = 0,
         start: int = 0) -> Iterator[Part]:
    """Parts ``first_part``, ``first_part + 1``, ... of the extents at or after ``start``; the
    final part (possibly empty) has ``last=True`` and covers the whole device."""
    if payload < RECORD + SECTOR:
        raise DeltaTooLargeError(f"part payload {payload} cannot hold one sector",
                                 field="payload")
    packer = _Packer(payload, first_part)
    for e in extents:
        piece = clip(e, start)
        if piece is not None:
            yield from packer.add(piece)
    yield packer.seal(device_size, last=True)


SMALL_PART = 2 << 20   # data up to this size is compressed harder
LEVEL_SMALL, LEVEL_LARGE = 12, 3


def level_for(part: Part) -> int:
    """zstd level by measurement (bench/wan.py): against the base dictionary, level 12 (the
    last before the much slower binary-tree strategies) makes SQLite page updates 5x and
    scattered sector rewrites 1.6x smaller than level 3; large parts (initial syncs, long
    rewrites) gain under 10 % and stay at 3, so a fast link is never CPU-bound on zstd."""
    data = sum(len(e.data) for e in part.extents)
    return LEVEL_SMALL if data <= SMALL_PART else LEVEL_LARGE


def seal(part: Part, header: Any, key: bytes, payload: int,
         base: Callable[[list[tuple[int, int]]], bytes] | None,
         version: int = VERSION) -> tuple[bytearray, WireStats]:
    """One part sealed with the default settings: compressed against the base content when
    the receiver holds the base (``base`` given), at ``level_for(part)``, in wire ``version``."""
    h = replace(header, part=part.index, last=part.last, covers_to=part.covers_to,
                dictionary=base is not None)
    ranges = dictionary_ranges(part.extents, header.device_size)
    return encode_with_stats(Delta(h, part.extents), key, level=level_for(part),
                             max_payload=payload,
                             dictionary=base(ranges) if base is not None else None,
                             version=version)


def encode_all(delta: Delta, key: bytes, payload: int = MAX_PART_PAYLOAD,
               base: Callable[[list[tuple[int, int]]], bytes] | None = None) -> list[bytearray]:
    """A whole in-memory delta as sealed parts (tests and benchmarks; cycles stream)."""
    return [seal(p, delta.header, key, payload, base)[0]
            for p in pack(delta.extents, payload, delta.header.device_size)]
