"""What the replication driver needs from the appliance's storage, and nothing more.

``Volumes`` is the contract (a Protocol, nearly all docstring); ``ApplianceVolumes`` is the one
implementation, composed from above by ``Appliance``. The driver never sees the appliance
itself: devices, groups, snapshots, the dirty map, reads and replica writes go through here.
Every method raises the appliance's own errors (``errors.NotFound`` for an unknown id, ...).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from ..blockdev import CHUNK
from ..model import Group, Lun, Snapshot


class Volumes(Protocol):
    durable: bool
    """True when device writes are fsync'd (``--fsync``): staging then fsyncs too."""

    # ---------------------------------------------------------------- devices
    def lun(self, lun_id: str) -> Lun:
        """The device record; NotFound if unknown."""

    def luns(self) -> list[Lun]:
        """Every device, oldest first (for free replica names)."""

    def create_replica(self, name: str, size: int, rep_id: str) -> Lun:
        """A new, all-zero, read-only device with role ``replica`` for ``rep_id``."""

    def delete_lun(self, lun_id: str) -> None:
        """Remove a device (only replicas created by a refused replication)."""

    def set_role(self, lun_id: str, role: str, access: str, **attrs: Any) -> Lun:
        """Change a device's role and access; ``attrs`` merge (None removes a key)."""

    # ---------------------------------------------------------------- groups
    def group(self, group_id: str) -> Group: ...

    def group_of(self, lun_id: str) -> Group | None: ...

    def groups(self) -> list[Group]: ...

    def create_group(self, name: str, lun_ids: list[str], attrs: dict[str, Any]) -> Group: ...

    def set_group_attrs(self, group_id: str, **attrs: Any) -> Group: ...

    # ---------------------------------------------------------------- snapshots
    def snapshot(self, lun_ids: list[str], quiesce: bool, attrs: dict[str, Any],
                 consistency: str | None = None) -> list[Snapshot]:
        """One snapshot of every device at one instant (quiesced through agents if asked;
        ``consistency`` forces the label, for replica recovery points)."""

    def snapshot_record(self, snap_id: str) -> Snapshot: ...

    def snapshots(self, lun_id: str) -> list[Snapshot]: ...

    def delete_snapshot(self, snap_id: str) -> None:
        """InUse while a TimeView or a delete guard holds it."""

    def timeviews_of(self, snap_id: str) -> list[str]: ...

    def guard_snapshots(self, guard: Callable[[Snapshot], str | None]) -> None:
        """Register a reason-or-None check run before any snapshot is deleted."""

    # ---------------------------------------------------------------- the dirty map and data
    def dirty_chunks(self, lun_id: str, since_seq: int, until_seq: int | None = None) -> set[int]:
        """64 KiB chunks written after snapshot ``since_seq`` (before ``until_seq``)."""

    def allocated_chunks(self, lun_id: str) -> np.ndarray:
        """Sorted chunks of the device that ever held data (what an initial sync scans)."""

    def read_chunks(self, snap: Snapshot, chunks: list[int], out: memoryview) -> None:
        """Whole chunks of a snapshot's view into ``out`` (CHUNK bytes per slot, in order)."""

    def read_snapshot(self, snap: Snapshot, offset: int, length: int) -> bytes: ...

    def write(self, lun_id: str, offset: int, data: bytes) -> None:
        """Apply replicated bytes to a (read-only) replica through the copy-on-write path."""


class ApplianceVolumes:
    """``Volumes`` over an appliance's Luns, Groups, Snapshots and DataPath."""

    def __init__(self, app: Any) -> None:
        self._luns, self._groups, self._snaps = app.luns, app.groups, app.snapshots
        self._data, self._files, self._snapshot = app.data, app.ctx.files, app.snapshot
        self.durable = bool(app.ctx.files.fsync)

    def lun(self, lun_id: str) -> Lun:
        return self._luns.get(lun_id)

    def luns(self) -> list[Lun]:
        return self._luns.list()

    def create_replica(self, name: str, size: int, rep_id: str) -> Lun:
        return self._luns.create(name, size, role="replica", access="read-only",
                                 attrs={"replication_id": rep_id})

    def delete_lun(self, lun_id: str) -> None:
        self._luns.delete(lun_id)

    def set_role(self, lun_id: str, role: str, access: str, **attrs: Any) -> Lun:
        return self._luns.set_role(lun_id, role, access, **attrs)

    def group(self, group_id: str) -> Group:
        return self._groups.get(group_id)

    def group_of(self, lun_id: str) -> Group | None:
        return self._groups.of_lun(lun_id)

    def groups(self) -> list[Group]:
        return self._groups.list()

    def create_group(self, name: str, lun_ids: list[str], attrs: dict[str, Any]) -> Group:
        return self._groups.create(name, lun_ids, attrs=attrs)

    def set_group_attrs(self, group_id: str, **attrs: Any) -> Group:
        return self._groups.set_attrs(group_id, **attrs)

    def snapshot(self, lun_ids: list[str], quiesce: bool, attrs: dict[str, Any],
                 consistency: str | None = None) -> list[Snapshot]:
        if consistency is not None:
            return self._snaps.create(lun_ids, consistency, attrs)[1]
        return self._snapshot(lun_ids, quiesce=quiesce, attrs=attrs)[1]

    def snapshot_record(self, snap_id: str) -> Snapshot:
        return self._snaps.get(snap_id)

    def snapshots(self, lun_id: str) -> list[Snapshot]:
        return self._snaps.list(lun_id)

    def delete_snapshot(self, snap_id: str) -> None:
        self._snaps.delete(snap_id)

    def timeviews_of(self, snap_id: str) -> list[str]:
        return self._snaps.timeviews_of(snap_id)

    def guard_snapshots(self, guard: Callable[[Snapshot], str | None]) -> None:
        self._snaps.delete_guards.append(guard)

    def dirty_chunks(self, lun_id: str, since_seq: int, until_seq: int | None = None) -> set[int]:
        return self._data.dirty_chunks(lun_id, since_seq, until_seq)

    def allocated_chunks(self, lun_id: str) -> np.ndarray:
        return allocated_chunks(self._files.lun_path(lun_id), self.lun(lun_id).size_bytes)

    def read_chunks(self, snap: Snapshot, chunks: list[int], out: memoryview) -> None:
        self._data.read_snapshot_chunks(snap, self.lun(snap.lun_id).size_bytes, chunks, out)

    def read_snapshot(self, snap: Snapshot, offset: int, length: int) -> bytes:
        return self._data.read_snapshot(snap, self.lun(snap.lun_id).size_bytes, offset, length)

    def write(self, lun_id: str, offset: int, data: bytes) -> None:
        self._data.write(lun_id, offset, data, replica_apply=True)


def allocated_chunks(path: os.PathLike[str] | str, size: int) -> np.ndarray:
    """Chunks of a sparse file that hold data (SEEK_DATA/SEEK_HOLE), sorted."""
    runs: list[np.ndarray] = []
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return np.zeros(0, np.int64)
    try:
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:  # ENXIO: no data after pos
                break
            end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
            runs.append(np.arange(start // CHUNK, (end - 1) // CHUNK + 1, dtype=np.int64))
            pos = end
    finally:
        os.close(fd)
    chunks = np.unique(np.concatenate(runs)) if runs else np.zeros(0, np.int64)
    return chunks[chunks * CHUNK < size]


def read_ranges(vol: Volumes, snap: Snapshot, ranges: list[tuple[int, int]]) -> bytes:
    """The bytes of ``(offset, length)`` ranges of a snapshot, concatenated, read chunk-batched
    (one metadata query per batch of chunks, not one per range)."""
    chunks = sorted({c for off, n in ranges
                     for c in range(off // CHUNK, (off + n - 1) // CHUNK + 1)})
    where: dict[int, tuple[np.ndarray, int]] = {}
    for at in range(0, len(chunks), 128):
        batch = chunks[at : at + 128]
        buf = np.zeros(len(batch) * CHUNK, np.uint8)
        vol.read_chunks(snap, batch, memoryview(buf))
        where.update({c: (buf, i * CHUNK) for i, c in enumerate(batch)})
    out = bytearray()
    for off, n in ranges:
        while n > 0:
            buf, base = where[off // CHUNK]
            take = min(n, CHUNK - off % CHUNK)
            out += buf[base + off % CHUNK : base + off % CHUNK + take].tobytes()
            off, n = off + take, n - take
    return bytes(out)
