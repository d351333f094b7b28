"""The source's pipeline for one device: scan -> MicroScan -> pack -> seal, bounded.

The scan reads the chunks to compare in large sequential batches (``SCAN_CHUNKS`` chunks per
metadata query and per run of ``pread``) and hands them to MicroScan as views of the batch
buffers. Parts are sealed on a producer thread and handed to the sender through a queue of at
most ``QUEUE_PARTS`` parts: when the link is slow the producer blocks, so memory stays bounded
by a few parts and one scan batch, whatever the device or delta size.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from ..blockdev import CHUNK
from ..model import Snapshot
from .logic import microscan, parts, wire
from .volumes import Volumes, read_ranges

SCAN_CHUNKS = 128              # 8 MiB of chunks per read batch
PART_PAYLOAD = 8 * 2**20       # serialized bytes per part
QUEUE_PARTS = 2
_DONE = object()


@dataclass(frozen=True)
class Scan:
    """What to compare on one device: ``base`` None means an all-zero base (initial sync);
    chunks in ``unknown`` have no base at all (every sector travels)."""

    head: Snapshot
    base: Snapshot | None
    chunks: np.ndarray
    unknown: frozenset[int]
    size: int
    xor: bool


@dataclass(frozen=True)
class Sealed:
    part: parts.Part
    blob: bytearray
    stats: wire.WireStats


def chunk_pairs(vol: Volumes, scan: Scan, start: int) -> Iterator[Any]:
    """MicroScan's input from chunk ``start // CHUNK`` on: ``ChunkBatch`` blocks of whole
    chunks, and the device's last chunk as a tuple when it is shorter than a chunk."""
    chunks = scan.chunks[scan.chunks >= start // CHUNK]
    short = scan.size % CHUNK and chunks.size and chunks[-1] == scan.size // CHUNK
    whole = chunks[:-1] if short else chunks
    for at in range(0, len(whole), SCAN_CHUNKS):
        batch = whole[at : at + SCAN_CHUNKS]
        head = _read(vol, scan.head, batch.tolist())
        base = None if scan.base is None else _read(vol, scan.base, batch.tolist())
        unknown = np.isin(batch, list(scan.unknown)) if scan.unknown else None
        yield microscan.ChunkBatch(batch, base, head, unknown)
    if short:
        c, n = int(chunks[-1]), scan.size % CHUNK
        head = _read(vol, scan.head, [c])[0, :n]
        base = np.zeros(n, np.uint8) if scan.base is None else _read(vol, scan.base, [c])[0, :n]
        yield c, None if c in scan.unknown else base, head


def _read(vol: Volumes, snap: Snapshot, batch: list[int]) -> np.ndarray:
    buf = np.zeros((len(batch), CHUNK), np.uint8)
    vol.read_chunks(snap, batch, memoryview(buf.reshape(-1)))
    return buf


def sealed_parts(vol: Volumes, scan: Scan, header: wire.DeltaHeader, key: bytes,
                 stats: microscan.DiffStats, first_part: int, start: int,
                 payload: int = PART_PAYLOAD, version: int = wire.VERSION) -> Iterator[Sealed]:
    extents = microscan.iter_diff(chunk_pairs(vol, scan, start), xor=scan.xor, stats=stats,
                                  batch_chunks=SCAN_CHUNKS)
    base = None if scan.base is None else partial(read_ranges, vol, scan.base)
    for part in parts.pack(extents, payload, scan.size, first_part=first_part, start=start):
        blob, st = parts.seal(part, header, key, payload, base, version)
        yield Sealed(part, blob, st)


class Pipeline:
    """Runs an iterator on a producer thread; iterate to consume, ``close`` to abandon."""

    def __init__(self, source: Iterator[Any], depth: int = QUEUE_PARTS) -> None:
        self._q: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._source = source
        self._thread = threading.Thread(target=self._run, name="repl-produce", daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        return self._q.qsize()

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self._q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._q.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()

    def _run(self) -> None:
        try:
            for item in self._source:
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False
