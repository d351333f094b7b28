"""The replica side: create replica devices, stage delta parts, commit atomically, recover.

Commit, in an order that survives ``kill -9`` anywhere:

1. every staged part is authenticated and checked (replication, sequence, part, device, new
   recovery point); any failure drops the staged parts and leaves the replica as it was;
2. the delta is *resolved* into plain writes — XOR extents against the replica's current bytes,
   and for a resync the rollback of the replica's own writes to the common point — and the
   resolved writes are written to a journal file and fsync'd;
3. a ``pending_commits`` row names the journal (one SQLite commit);
4. the writes are applied (copy-on-write keeps the previous recovery point exact), every device
   is snapshotted at one instant and the new recovery point is recorded, in one commit.

A restart with a pending row replays the journal (plain writes: replaying twice is harmless) and
finishes step 4. So the replica shows its previous recovery point or the new one, never a mix.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..blockdev import CHUNK
from ..context import utcnow
from ..errors import Conflict, InvalidRequest
from .logic import wire
from .logic.errors import DeltaError, DeltaFormatError, DeltaReplayError
from .logic.microscan import Extent, Kind
from .records import ZERO_STATS, Device, RecoveryPoint, Replication
from .source import CycleLocks

_REC = struct.Struct("<QI")
KEEP_REPLICA_POINTS = 8


class Target:
    def __init__(self, service: Any) -> None:
        self.svc = service
        self.app = service.app
        self.root = self.app.data_dir / "staging"
        # a journalled commit runs to its end even if the source died meanwhile; promote and
        # the next commit wait for it instead of racing its writes
        self.locks = CycleLocks()

    # ---------------------------------------------------------------- creation
    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        rep_id, peer_id = body["replication_id"], body["peer_id"]
        self.svc.peers.get(peer_id)
        created: list[str] = []
        try:
            for dev in body["devices"]:
                lun = self.app.luns.create(
                    self._free_name(f"{dev['name']}-replica"), dev["size_bytes"], role="replica",
                    access="read-only", attrs={"replication_id": rep_id})
                created.append(lun.id)
            group = self._group(body, rep_id, created)
        except Exception:
            for lun_id in created:
                self.app.luns.delete(lun_id)
            raise
        devices = tuple(Device(local, dev["lun_id"])
                        for local, dev in zip(created, body["devices"], strict=True))
        now = utcnow()
        self.svc.records.insert(Replication(
            id=rep_id, direction="inbound", peer_id=peer_id, state="replicating",
            source_kind=body["source_kind"], local_group=group, devices=devices, sequence=0,
            last_rp=None, options=body.get("options", {}), stats=dict(ZERO_STATS),
            created=now, updated=now))
        return {"devices": [{"local": d.local, "remote": d.remote,
                             "wwn": self.app.luns.get(d.local).wwn} for d in devices],
                "group": group}

    def _group(self, body: dict[str, Any], rep_id: str, luns: list[str]) -> str | None:
        if body["source_kind"] != "group":
            return None
        name = self._free_group_name(f"{body.get('group_name') or rep_id}-replica")
        return self.app.groups.create(name, luns, attrs={"replication_id": rep_id}).id

    def _free_name(self, name: str) -> str:
        taken = {lun.name for lun in self.app.luns.list()}
        return next(n for n in [name, *(f"{name}-{i}" for i in range(2, 10**6))]
                    if n not in taken)

    def _free_group_name(self, name: str) -> str:
        taken = {g.name for g in self.app.groups.list()}
        return next(n for n in [name, *(f"{name}-{i}" for i in range(2, 10**6))]
                    if n not in taken)

    # ---------------------------------------------------------------- state for the planner
    def sync_state(self, rep: Replication) -> dict[str, Any]:
        devices = {}
        for dev in rep.devices:
            points = self.svc.records.points(rep.id, dev.local)
            devices[dev.local] = {
                "points": [{"rp": p.rp_id, "snapshot_id": p.snapshot_id} for p in points],
                "dirty_since": {p.rp_id: sorted(self.app.data.dirty_chunks(
                    dev.local, self.app.snapshots.get(p.snapshot_id).seq)) for p in points}}
        return {"sequence": rep.sequence, "last_rp": rep.last_rp, "state": rep.state,
                "inflight_rp": (rep.inflight or {}).get("rp"),
                "direction": rep.direction, "devices": devices,
                "receiving": self.receiving(rep),
                "committing": self.locks.get(rep.id).locked()}

    def receiving(self, rep: Replication) -> bool:
        path = self.root / rep.id
        return path.exists() and any(path.iterdir())

    def drop_uncommitted(self, rep: Replication) -> None:
        """Finish a journalled commit; staged parts without one were never committed: they go."""
        with self.locks.get(rep.id):
            self.finish(rep.id)
            shutil.rmtree(self.root / rep.id, ignore_errors=True)

    # ---------------------------------------------------------------- staging
    def stage(self, rep: Replication, seq: int, device: str, part: int, blob: bytes) -> None:
        if rep.direction != "inbound":
            raise Conflict(f"replication {rep.id!r} is not inbound here; deltas refused",
                           code="not-a-replica", id=rep.id)
        if seq <= rep.sequence:
            raise DeltaReplayError(f"replication {rep.id}: sequence {seq} already applied",
                                   replication=rep.id, got=seq, expected=rep.sequence + 1)
        if device not in {d.local for d in rep.devices}:
            raise InvalidRequest(f"device {device!r} is not a replica of {rep.id!r}",
                                 field="device")
        path = self._part_path(rep.id, seq, device, part)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, path)

    def commit(self, rep: Replication, body: dict[str, Any]) -> dict[str, Any]:
        with self.locks.get(rep.id):
            return self._commit(self.svc.records.get(rep.id), body)

    def _commit(self, rep: Replication, body: dict[str, Any]) -> dict[str, Any]:
        seq, rp_id = int(body["sequence"]), str(body["rp_id"])
        if rp_id in self.svc.records.rp_ids(rep.id):
            return {"recovery_point": rp_id, "sequence": rep.sequence, "already": True}
        if seq != rep.sequence + 1:
            raise DeltaReplayError(f"replication {rep.id}: commit of sequence {seq}, expected "
                                   f"{rep.sequence + 1}", replication=rep.id, got=seq,
                                   expected=rep.sequence + 1)
        try:
            writes = self._resolve(rep, seq, rp_id, body)
        except DeltaError:
            self._drop_staging(rep.id, seq)
            raise
        self._journal(rep.id, seq, writes)
        with self.app.store.tx() as db:
            db.execute("INSERT OR REPLACE INTO pending_commits(replication_id, sequence, rp_id,"
                       " time, consistency) VALUES(?,?,?,?,?)",
                       (rep.id, seq, rp_id, body["time"], body["consistency"]))
        self.finish(rep.id)
        return {"recovery_point": rp_id, "sequence": seq}

    def finish(self, rep_id: str) -> None:
        """Apply a pending commit's journal and record its recovery point (also at restart)."""
        row = self.app.store.one("SELECT * FROM pending_commits WHERE replication_id=?", rep_id)
        if row is None:
            return
        rep = self.svc.records.get(rep_id)
        self._drop_orphan_snapshots(rep, row["rp_id"])
        for lun_id, offset, data in self._read_journal(rep_id, row["sequence"]):
            self.app.data.write(lun_id, offset, data, replica_apply=True)
        _, snaps = self.app.snapshots.create(rep.local_luns, row["consistency"],
                                             {"replication_id": rep.id, "rp": row["rp_id"]})
        points = [RecoveryPoint(row["rp_id"], s.lun_id, s.id, row["sequence"], row["time"],
                                row["consistency"]) for s in snaps]
        with self.app.store.tx() as db:
            self.svc.records.add_points(db, rep.id, points)
            self.svc.records.update(rep.id, db, sequence=row["sequence"], last_rp=row["rp_id"])
            db.execute("DELETE FROM pending_commits WHERE replication_id=?", (rep_id,))
        shutil.rmtree(self.root / rep_id, ignore_errors=True)
        self.svc.prune(rep.id, KEEP_REPLICA_POINTS)

    def recover(self) -> None:
        for row in self.app.store.all("SELECT replication_id FROM pending_commits"):
            self.finish(row[0])

    # ---------------------------------------------------------------- internals
    def _resolve(self, rep: Replication, seq: int, rp_id: str,
                 body: dict[str, Any]) -> list[tuple[str, int, bytes]]:
        key = self.svc.peers.secret(rep.peer_id)["key"]
        writes: list[tuple[str, int, bytes]] = []
        for dev in rep.devices:
            rollback = [int(c) for c in body.get("rollback", {}).get(dev.local, [])]
            writes += self._rollback_writes(rep, dev.local, rollback)
            overlay = {off: data for lun, off, data in writes if lun == dev.local}
            for part in range(int(body["parts"].get(dev.local, 0))):
                path = self._part_path(rep.id, seq, dev.local, part)
                if not path.exists():
                    raise DeltaFormatError(f"part {part} of device {dev.local!r} (sequence "
                                           f"{seq}) was never received", field="parts")
                delta = wire.decode(path.read_bytes(), key, rep.id, seq, expect_part=part)
                if delta.header.device != dev.local or delta.header.new_rp != rp_id:
                    raise DeltaFormatError(f"part {part} names device {delta.header.device!r} "
                                           f"/ point {delta.header.new_rp!r}", field="device")
                writes += [(dev.local, e.offset, self._plain(dev.local, e, overlay))
                           for e in delta.extents]
        return writes

    def _plain(self, lun_id: str, e: Extent, overlay: dict[int, bytes]) -> bytes:
        if e.kind is Kind.RAW:
            return e.data
        if e.kind is Kind.ZERO:
            return bytes(e.length)
        old = self._current(lun_id, e.offset, e.length, overlay)
        return np.bitwise_xor(np.frombuffer(old, np.uint8),
                              np.frombuffer(e.data, np.uint8)).tobytes()

    def _current(self, lun_id: str, offset: int, length: int, overlay: dict[int, bytes]) -> bytes:
        """The replica's bytes as they will be after the rollback writes."""
        data = bytearray(self.app.data.read(self.app.luns.get(lun_id), offset, length))
        for start, chunk in overlay.items():
            lo, hi = max(start, offset), min(start + len(chunk), offset + length)
            if lo < hi:
                data[lo - offset:hi - offset] = chunk[lo - start:hi - start]
        return bytes(data)

    def _rollback_writes(self, rep: Replication, lun_id: str,
                         chunks: list[int]) -> list[tuple[str, int, bytes]]:
        if not chunks:
            return []
        point = self.svc.records.points(rep.id, lun_id)[-1]
        snap = self.app.snapshots.get(point.snapshot_id)
        lun = self.app.luns.get(lun_id)
        return [(lun_id, c * CHUNK, self.app.data.read_snapshot(
            snap, lun.size_bytes, c * CHUNK, self.app.data.chunk_len(lun.size_bytes, c)))
            for c in sorted(chunks)]

    def _journal(self, rep_id: str, seq: int, writes: list[tuple[str, int, bytes]]) -> None:
        path = self._journal_path(rep_id, seq)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            for lun_id, offset, data in writes:
                name = lun_id.encode()
                fh.write(struct.pack("<H", len(name)) + name + _REC.pack(offset, len(data)))
                fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def _read_journal(self, rep_id: str, seq: int) -> Iterator[tuple[str, int, bytes]]:
        with open(self._journal_path(rep_id, seq), "rb") as fh:
            while head := fh.read(2):
                name = fh.read(struct.unpack("<H", head)[0]).decode()
                offset, length = _REC.unpack(fh.read(_REC.size))
                yield name, offset, fh.read(length)

    def _drop_orphan_snapshots(self, rep: Replication, rp_id: str) -> None:
        for lun_id in rep.local_luns:
            for snap in self.app.snapshots.list(lun_id):
                if snap.attrs.get("rp") == rp_id:
                    self.app.snapshots.delete(snap.id)

    def _drop_staging(self, rep_id: str, seq: int) -> None:
        shutil.rmtree(self.root / rep_id / str(seq), ignore_errors=True)

    def _part_path(self, rep_id: str, seq: int, device: str, part: int) -> Path:
        return self.root / rep_id / str(seq) / device / f"{part}.delta"

    def _journal_path(self, rep_id: str, seq: int) -> Path:
        return self.root / rep_id / str(seq) / "journal.bin"
