"""Block I/O: reads and writes of LUNs, snapshots and TimeViews, with copy-on-write.

Where a chunk's bytes live:

- a standalone/primary/replica LUN: its own image file, always;
- a snapshot S of LUN L: the first snapshot of L, from S onwards in sequence, that preserved the
  chunk (the first write to a chunk after a snapshot copies the old chunk into the *newest*
  snapshot); if none did, the chunk was never written since S and is read from L itself;
- a TimeView of S: its own image where the chunk was written through the TimeView (the overlay),
  otherwise S's view.

A replica LUN is read at its newest recovery point, never its live image: a replication
cycle applies a delta write by write, and only the commit that records the new recovery point
makes it visible (the point's snapshot preserved every chunk the apply overwrote). Before its
first recovery point a replica reads as zeros. Every read path (REST, iSCSI, tools) comes
through ``read`` and so follows that rule.

Order on a write, so a ``kill -9`` never loses what a snapshot needs: copy the old chunk into
the snapshot file, commit the metadata that says so, only then overwrite the device. The chunks
each snapshot preserved are exactly the chunks written since it: replication's dirty map.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .blockdev import CHUNK, SECTOR, chunk_range, is_zero
from .context import Context
from .errors import MisalignedIO, OutOfRange, ReadOnlyDevice, not_found
from .model import Lun, Snapshot


def check_io(size: int, offset: int, length: int, what: str) -> None:
    if offset < 0 or offset % SECTOR or length % SECTOR:
        raise MisalignedIO(
            f"{what}: offset {offset} and length {length} must be non-negative multiples of "
            f"{SECTOR}", offset=offset, length=length)
    if length == 0:
        raise MisalignedIO(f"{what}: length must be at least {SECTOR} bytes", length=length)
    if offset + length > size:
        raise OutOfRange(f"{what}: range [{offset}, {offset + length}) is past the end of the "
                         f"device ({size} bytes)", offset=offset, length=length, size=size)


class DataPath:
    """Reads and writes device bytes; all writes hold the appliance's I/O lock."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # ---------------------------------------------------------------- reads
    def read(self, lun: Lun, offset: int, length: int) -> bytes:
        check_io(lun.size_bytes, offset, length, f"lun {lun.id!r}")
        with self.ctx.io_lock:
            lun = self._lun(lun.id)  # its role now, under the lock that role changes take
            chunks = chunk_range(offset, length)
            if lun.role == "replica":
                return self._gather(self._replica_sources(lun, chunks), offset, length)
            return self._gather(self._lun_sources(lun, chunks), offset, length)

    def read_snapshot(self, snap: Snapshot, size: int, offset: int, length: int) -> bytes:
        check_io(size, offset, length, f"snapshot {snap.id!r}")
        with self.ctx.io_lock:
            return self._gather(self._snap_sources(snap, chunk_range(offset, length)),
                                offset, length)

    def read_snapshot_chunks(self, snap: Snapshot, size: int, chunks: list[int],
                             out: memoryview) -> None:
        """Read whole chunks of a snapshot's view into ``out`` (one CHUNK slot per chunk, in
        order): one metadata query for the batch, one ``pread`` per run of chunks held in the
        same file. Replication's scanner reads dirty chunks this way."""
        with self.ctx.io_lock:
            sources = self._snap_sources(snap, chunks)
            i = 0
            while i < len(chunks):
                j = i + 1
                while j < len(chunks) and chunks[j] == chunks[j - 1] + 1 and \
                        sources[chunks[j]] == sources[chunks[i]]:
                    j += 1
                start = chunks[i] * CHUNK
                n = min(size, chunks[j - 1] * CHUNK + CHUNK) - start
                out[i * CHUNK:i * CHUNK + n] = self.ctx.files.read(sources[chunks[i]], start, n)
                i = j

    def chunk_len(self, size: int, chunk: int) -> int:
        return min(CHUNK, size - chunk * CHUNK)

    # ---------------------------------------------------------------- writes
    def write(self, lun_id: str, offset: int, data: bytes, *, replica_apply: bool = False) -> None:
        """Write ``data`` at ``offset``. ``replica_apply`` lets replication write a read-only
        replica (nothing else may), in bulk: past the page cache when it can."""
        with self.ctx.io_lock:
            lun = self._lun(lun_id)
            check_io(lun.size_bytes, offset, len(data), f"lun {lun.id!r}")
            if lun.access != "read-write" and not replica_apply:
                raise ReadOnlyDevice(f"lun {lun.id!r} is read-only ({lun.role}); write refused",
                                     id=lun.id, role=lun.role)
            chunks = chunk_range(offset, len(data))
            with self.ctx.store.tx() as db:
                self._preserve(db, lun, chunks)
                if lun.role == "timeview":
                    self._materialize(db, lun, chunks, offset, len(data))
            self.ctx.files.write(self.ctx.files.lun_path(lun.id), offset, data,
                                 bulk=replica_apply)

    # ---------------------------------------------------------------- dirty map
    def dirty_chunks(self, lun_id: str, since_seq: int, until_seq: int | None = None) -> set[int]:
        """Chunks written after snapshot ``since_seq`` (and before ``until_seq`` if given)."""
        sql = ("SELECT DISTINCT c.chunk FROM cow c JOIN snapshots s ON s.id = c.snapshot_id "
               "WHERE s.lun_id=? AND s.seq>=?")
        args: list[object] = [lun_id, since_seq]
        if until_seq is not None:
            sql += " AND s.seq<?"
            args.append(until_seq)
        return {r[0] for r in self.ctx.store.all(sql, *args)}

    # ---------------------------------------------------------------- internals
    def _lun(self, lun_id: str) -> Lun:
        row = self.ctx.store.one("SELECT * FROM luns WHERE id=?", lun_id)
        if row is None:
            raise not_found("lun", lun_id)
        return Lun.from_row(row)

    def _snapshot(self, snap_id: str) -> Snapshot:
        row = self.ctx.store.one("SELECT * FROM snapshots WHERE id=?", snap_id)
        if row is None:
            raise not_found("snapshot", snap_id)
        return Snapshot.from_row(row)

    def _lun_sources(self, lun: Lun, chunks: range) -> dict[int, Path]:
        own = self.ctx.files.lun_path(lun.id)
        if lun.role != "timeview":
            return dict.fromkeys(chunks, own)
        written = self._overlay(lun.id, chunks)
        sources = self._snap_sources(self._snapshot(lun.origin_snapshot or ""),
                                     [c for c in chunks if c not in written])
        sources.update(dict.fromkeys(written, own))
        return sources

    def _replica_sources(self, lun: Lun, chunks: range) -> dict[int, Path]:
        """The chunks of the newest recovery point; none (zeros) before the first one."""
        snap_id = self.ctx.store.scalar(
            "SELECT snapshot_id FROM rpoints WHERE lun_id=? ORDER BY sequence DESC LIMIT 1",
            lun.id)
        if snap_id is None:
            return {}
        return self._snap_sources(self._snapshot(snap_id), chunks)

    def _snap_sources(self, snap: Snapshot, chunks: Iterable[int]) -> dict[int, Path]:
        chunks = list(chunks)
        if not chunks:
            return {}
        rows = self.ctx.store.all(
            "SELECT c.chunk, c.snapshot_id FROM cow c JOIN snapshots s ON s.id = c.snapshot_id "
            "WHERE s.lun_id=? AND s.seq>=? AND c.chunk BETWEEN ? AND ? ORDER BY s.seq DESC",
            snap.lun_id, snap.seq, min(chunks), max(chunks))
        holders = {chunk: sid for chunk, sid in rows}  # ascending seq wins: rows came descending
        live = self.ctx.files.lun_path(snap.lun_id)
        return {c: self.ctx.files.snap_path(holders[c]) if c in holders else live for c in chunks}

    def _overlay(self, lun_id: str, chunks: range) -> set[int]:
        rows = self.ctx.store.all(
            "SELECT chunk FROM overlay WHERE lun_id=? AND chunk BETWEEN ? AND ?",
            lun_id, chunks.start, chunks.stop - 1)
        return {r[0] for r in rows}

    def _gather(self, sources: dict[int, Path], offset: int, length: int) -> bytes:
        out = bytearray(length)
        end = offset + length
        run_start = offset
        chunks = sorted(sources)
        for i, chunk in enumerate(chunks):
            last = i + 1 == len(chunks) or sources[chunks[i + 1]] != sources[chunk]
            if last:
                run_end = min(end, (chunk + 1) * CHUNK)
                data = self.ctx.files.read(sources[chunk], run_start, run_end - run_start)
                out[run_start - offset:run_end - offset] = data
                run_start = run_end
        return bytes(out)

    def _preserve(self, db, lun: Lun, chunks: range) -> None:
        latest = db.execute("SELECT id FROM snapshots WHERE lun_id=? ORDER BY seq DESC LIMIT 1",
                            (lun.id,)).fetchone()
        if latest is None:
            return
        snap_id = latest[0]
        have = {r[0] for r in db.execute(
            "SELECT chunk FROM cow WHERE snapshot_id=? AND chunk BETWEEN ? AND ?",
            (snap_id, chunks.start, chunks.stop - 1))}
        missing = [c for c in chunks if c not in have]
        for chunk in missing:
            start = chunk * CHUNK
            old = self.ctx.files.read(self.ctx.files.lun_path(lun.id), start,
                                      self.chunk_len(lun.size_bytes, chunk))
            if not is_zero(old):
                self.ctx.files.write(self.ctx.files.snap_path(snap_id), start, old)
        db.executemany("INSERT INTO cow(snapshot_id, chunk) VALUES(?, ?)",
                       [(snap_id, c) for c in missing])

    def _materialize(self, db, lun: Lun, chunks: range, offset: int, length: int) -> None:
        """First write to a TimeView chunk: bring the snapshot's chunk into the overlay."""
        written = self._overlay(lun.id, chunks)
        missing = [c for c in chunks if c not in written]
        snap = self._snapshot(lun.origin_snapshot or "")
        for chunk in missing:
            start, clen = chunk * CHUNK, self.chunk_len(lun.size_bytes, chunk)
            if offset <= start and start + clen <= offset + length:
                continue  # the write covers the whole chunk
            base = self._gather(self._snap_sources(snap, [chunk]), start, clen)
            self.ctx.files.write(self.ctx.files.lun_path(lun.id), start, base)
        db.executemany("INSERT INTO overlay(lun_id, chunk) VALUES(?, ?)",
                       [(lun.id, c) for c in missing])
