"""The replica side: create replica devices, receive a cycle part by part, commit atomically.

A cycle, in an order that survives ``kill -9`` of either side anywhere:

1. ``receive`` opens (or reopens) the cycle: its manifest names the new recovery point, the
   base point and the chunks a resync must roll back; the answer is what is already staged;
2. each part (``stage``) is authenticated and checked (replication, sequence, part number,
   device, recovery points), *resolved* into plain writes (XOR extents against the replica's
   snapshot of the base point, which holds exactly the sender's base), written to a segment
   file and fsync'd, then acknowledged. One part in memory at a time;
3. ``commit``, once every device's last part is staged, records a ``pending_commits`` row (one
   SQLite commit: from here on the new point will exist) and applies in the background:
   rollback writes, then the segments in order (copy-on-write keeps the previous recovery
   point exact), then one snapshot of every device at one instant, recorded as the new point.

An initial sync has no recovery point to protect: its parts are applied to the blank replica as
they arrive (no segment, one write of the data). Should that cycle be abandoned, the replica
reports the chunks it holds data in (``written``: its sparse map) and the next initial sync
sends those chunks verbatim, so nothing of the abandoned cycle survives.

A restart with a pending row replays it (plain writes: replaying twice is harmless). Staged
parts without a pending row wait for the sender to resume or for a promote to drop them. So the
replica shows its previous recovery point or the new one, never a mix.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .. import memory
from ..blockdev import CHUNK
from ..context import utcnow
from ..errors import Conflict, InvalidRequest
from .locks import KeyedLocks
from .logic import wire
from .logic.errors import DeltaFormatError, DeltaGapError, DeltaReplayError
from .logic.microscan import Extent, Kind
from .records import ZERO_STATS, Device, RecoveryPoint, Replication
from .staging import Staging, Write, zero_pieces
from .volumes import read_ranges

KEEP_REPLICA_POINTS = 8
COMMIT_WAIT = 5.0


class Target:
    def __init__(self, service: Any, root: Path) -> None:
        self.svc = service
        self.vol = service.vol
        self.store = service.store
        self.staging = Staging(root, service.vol.durable)
        self.locks = KeyedLocks()        # held while a commit applies
        self.stage_locks = KeyedLocks()  # one part at a time

    # ---------------------------------------------------------------- creation
    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        rep_id, peer_id = body["replication_id"], body["peer_id"]
        self.svc.peers.get(peer_id)
        created: list[str] = []
        try:
            for dev in body["devices"]:
                name = self._free(f"{dev['name']}-replica", {x.name for x in self.vol.luns()})
                created.append(self.vol.create_replica(name, dev["size_bytes"], rep_id).id)
            group = self._group(body, rep_id, created)
        except Exception:
            for lun_id in created:
                self.vol.delete_lun(lun_id)
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
                             "wwn": self.vol.lun(d.local).wwn} for d in devices],
                "group": group}

    def _group(self, body: dict[str, Any], rep_id: str, luns: list[str]) -> str | None:
        if body["source_kind"] != "group":
            return None
        name = self._free(f"{body.get('group_name') or rep_id}-replica",
                          {g.name for g in self.vol.groups()})
        return self.vol.create_group(name, luns, {"replication_id": rep_id}).id

    @staticmethod
    def _free(name: str, taken: set[str]) -> str:
        return next(n for n in [name, *(f"{name}-{i}" for i in range(2, 10**6))]
                    if n not in taken)

    # ---------------------------------------------------------------- state for the planner
    def sync_state(self, rep: Replication) -> dict[str, Any]:
        devices = {}
        for dev in rep.devices:
            points = self.svc.records.points(rep.id, dev.local)
            devices[dev.local] = {
                "points": [{"rp": p.rp_id, "snapshot_id": p.snapshot_id} for p in points],
                "dirty_since": {p.rp_id: sorted(self.vol.dirty_chunks(
                    dev.local, self.vol.snapshot_record(p.snapshot_id).seq)) for p in points}}
            if not points:  # a blank replica: what an interrupted initial sync wrote
                devices[dev.local]["written"] = self.vol.allocated_chunks(dev.local).tolist()
        return {"sequence": rep.sequence, "last_rp": rep.last_rp, "state": rep.state,
                "inflight_rp": (rep.inflight or {}).get("rp"),
                "direction": rep.direction, "devices": devices,
                "receiving": self.receiving(rep), "committing": self.committing(rep.id)}

    def receiving(self, rep: Replication) -> dict[str, Any] | None:
        m = self.staging.manifest(rep.id)
        if m is None:
            return None
        return {"sequence": m["sequence"], "rp_id": m["rp_id"], "devices": self._acks(rep, m)}

    def committing(self, rep_id: str) -> bool:
        return self.locks.held(rep_id) or self._pending(rep_id) is not None

    def _acks(self, rep: Replication, m: dict[str, Any]) -> dict[str, Any]:
        return {d: self.staging.ack(rep.id, m["sequence"], d) for d in rep.local_luns}

    @contextmanager
    def exclusive(self, rep_id: str) -> Iterator[None]:
        """No part is staged and no commit applies meanwhile (promote holds this)."""
        with self.stage_locks.hold(rep_id), self.locks.hold(rep_id):
            yield

    def abandon(self, rep_id: str) -> None:
        """Under ``exclusive``: finish a pending commit (it was decided); staged parts without
        one were never committed: they go."""
        self._finish(rep_id)
        self.staging.drop(rep_id)

    # ---------------------------------------------------------------- receiving
    def receive(self, rep: Replication, body: dict[str, Any]) -> dict[str, Any]:
        """Open the cycle ``body`` describes, or reopen it: answers what is staged already."""
        seq = int(body["sequence"])
        with self.stage_locks.hold(rep.id):
            rep = self.svc.records.get(rep.id)
            self._check_inbound(rep)
            if body["rp_id"] in self.svc.records.rp_ids(rep.id):
                return {"committed": True, "devices": {}, "wire_versions": list(wire.VERSIONS)}
            self._check_sequence(rep, seq)
            m = self.staging.manifest(rep.id)
            if m is None or m["rp_id"] != body["rp_id"] or m["sequence"] != seq:
                self.finish(rep.id)
                self.staging.begin(rep.id, {**body, "sequence": seq})
                m = self.staging.manifest(rep.id)
            return {"committed": False, "devices": self._acks(rep, m),
                    "wire_versions": list(wire.VERSIONS)}

    def stage(self, rep: Replication, seq: int, device: str, part: int,
              blob: bytes | bytearray) -> dict[str, Any]:
        self._check_inbound(rep)
        self._check_sequence(rep, seq)
        if device not in rep.local_luns:
            raise InvalidRequest(f"device {device!r} is not a replica of {rep.id!r}",
                                 field="device")
        key = self.svc.peers.secret(rep.peer_id)["key"]
        opened = self.staging.manifest(rep.id) or {}  # its base, for the dictionary
        delta = wire.decode(blob, key, rep.id, seq, expect_part=part,
                            dictionary=self._dictionary(rep, opened, device))
        with self.stage_locks.hold(rep.id):
            rep = self.svc.records.get(rep.id)
            self._check_inbound(rep)
            m = self._manifest_for(rep, seq)
            self._check_header(delta.header, m, device)  # also: the same cycle as opened
            ack = self.staging.ack(rep.id, seq, device)
            if part < ack["parts"]:
                return {**ack, "duplicate": True}
            if part > ack["parts"] or ack["done"]:
                raise DeltaGapError(f"replication {rep.id}: part {part} of device {device!r} "
                                    f"arrived, expected part {ack['parts']}", replication=rep.id,
                                    got=part, expected=ack["parts"])
            writes = self._resolve(rep, m, device, delta.extents)
            h = delta.header
            if m["kind"] == "initial":  # no recovery point to protect yet: apply now
                self._write(device, writes)
                return self.staging.write_ack(rep.id, seq, device, part, h.covers_to, h.last)
            return self.staging.write_segment(rep.id, seq, device, part, writes, h.covers_to,
                                              h.last)

    def _dictionary(self, rep: Replication, m: dict[str, Any], device: str) -> Any:
        """Reads the base content a part was compressed against (its base-point snapshot)."""
        def read(ranges: list[tuple[int, int]]) -> bytes:
            base = self._base_snapshot(rep, m, device)
            if base is None:
                raise DeltaFormatError("an initial part cannot use a base dictionary",
                                       field="dictionary")
            return read_ranges(self.vol, base, ranges)
        return read

    def _manifest_for(self, rep: Replication, seq: int) -> dict[str, Any]:
        m = self.staging.manifest(rep.id)
        if m is None or m["sequence"] != seq:
            raise Conflict(f"replication {rep.id!r} is not receiving sequence {seq}; open the "
                           "cycle with POST .../receive first", code="not-receiving", id=rep.id)
        return m

    @staticmethod
    def _check_header(h: wire.DeltaHeader, m: dict[str, Any], device: str) -> None:
        if h.device != device or h.new_rp != m["rp_id"] or h.base_rp != m["base_rp"]:
            raise DeltaFormatError(f"part {h.part} names device {h.device!r}, point "
                                   f"{h.new_rp!r} from {h.base_rp!r}; expected {device!r}, "
                                   f"{m['rp_id']!r} from {m['base_rp']!r}", field="header")

    def _resolve(self, rep: Replication, m: dict[str, Any], device: str,
                 extents: tuple[Extent, ...]) -> list[Write]:
        base = self._base_snapshot(rep, m, device)
        out: list[Write] = []
        for e in extents:
            if e.kind is Kind.ZERO:
                out.append((e.offset, e.length, None))
            elif e.kind is Kind.RAW:
                out.append((e.offset, e.length, e.data))
            else:
                old = bytes(e.length) if base is None else \
                    self.vol.read_snapshot(base, e.offset, e.length)
                out.append((e.offset, e.length, np.bitwise_xor(
                    np.frombuffer(old, np.uint8), np.frombuffer(e.data, np.uint8)).tobytes()))
        return out

    def _base_snapshot(self, rep: Replication, m: dict[str, Any], device: str) -> Any:
        if not m.get("base_rp"):
            return None
        for p in self.svc.records.points(rep.id, device):
            if p.rp_id == m["base_rp"]:
                return self.vol.snapshot_record(p.snapshot_id)
        raise DeltaFormatError(f"replication {rep.id}: base point {m['base_rp']!r} of device "
                               f"{device!r} is not held here", field="base_rp")

    # ---------------------------------------------------------------- commit
    def commit(self, rep: Replication, body: dict[str, Any]) -> dict[str, Any]:
        seq, rp_id = int(body["sequence"]), str(body["rp_id"])
        with self.locks.hold(rep.id):
            rep = self.svc.records.get(rep.id)
            self._check_inbound(rep)
            if rp_id in self.svc.records.rp_ids(rep.id):
                return {"recovery_point": rp_id, "sequence": rep.sequence, "already": True}
            pending = self._pending(rep.id)
            if pending is None:
                self._check_sequence(rep, seq)
                self._check_complete(rep, seq, rp_id, body["parts"])
                self._record_pending(rep, seq)
        worker = threading.Thread(target=self.finish, args=(rep.id,), name="repl-commit")
        worker.start()
        worker.join(COMMIT_WAIT)
        if worker.is_alive():
            return {"state": "committing", "recovery_point": rp_id, "sequence": seq}
        return {"recovery_point": rp_id, "sequence": seq}

    def _check_complete(self, rep: Replication, seq: int, rp_id: str,
                        parts: dict[str, int]) -> None:
        m = self.staging.manifest(rep.id)
        if m is None or m["rp_id"] != rp_id or m["sequence"] != seq:
            raise DeltaFormatError(f"replication {rep.id}: commit of {rp_id!r} (sequence {seq}) "
                                   "but that cycle was never received", field="rp_id")
        for dev in rep.local_luns:
            ack = self.staging.ack(rep.id, seq, dev)
            want = int(parts.get(dev, -1))
            if not ack["done"] or ack["parts"] != want:
                raise DeltaFormatError(
                    f"replication {rep.id}: device {dev!r} has {ack['parts']} part(s) staged "
                    f"(last received: {ack['done']}), the commit says {want}", field="parts",
                    device=dev)

    def _record_pending(self, rep: Replication, seq: int) -> None:
        m = self.staging.manifest(rep.id) or {}
        with self.store.tx() as db:
            db.execute("INSERT OR REPLACE INTO pending_commits(replication_id, sequence, rp_id,"
                       " time, consistency) VALUES(?,?,?,?,?)",
                       (rep.id, seq, m["rp_id"], m["time"], m["consistency"]))

    def _pending(self, rep_id: str) -> Any:
        return self.store.one("SELECT * FROM pending_commits WHERE replication_id=?", rep_id)

    def finish(self, rep_id: str) -> None:
        """Apply a pending commit and record its recovery point (also at restart), then keep
        the replication's ``keep_points`` newest points (those with TimeViews as well)."""
        with self.locks.hold(rep_id):
            done = self._finish(rep_id)
        if done:
            options = self.svc.records.get(rep_id).options
            self.svc.prune(rep_id, int(options.get("keep_points", KEEP_REPLICA_POINTS)))
            memory.release()  # the cycle's parts, freed: back to the system

    def _finish(self, rep_id: str) -> bool:
        row = self._pending(rep_id)
        if row is None:
            return False
        rep = self.svc.records.get(rep_id)
        m = self.staging.manifest(rep_id) or {}
        self._drop_orphan_snapshots(rep, row["rp_id"])
        self._apply(rep, m, row["sequence"])
        snaps = self.vol.snapshot(rep.local_luns, False, {"replication_id": rep.id,
                                  "rp": row["rp_id"]}, consistency=row["consistency"])
        points = [RecoveryPoint(row["rp_id"], s.lun_id, s.id, row["sequence"], row["time"],
                                row["consistency"]) for s in snaps]
        with self.store.tx() as db:
            self.svc.records.add_points(db, rep.id, points)
            self.svc.records.update(rep.id, sequence=row["sequence"],
                                    last_rp=row["rp_id"])
            db.execute("DELETE FROM pending_commits WHERE replication_id=?", (rep_id,))
        self.staging.drop(rep_id)
        return True

    def _apply(self, rep: Replication, m: dict[str, Any], seq: int) -> None:
        if m.get("kind") == "initial":
            return  # applied part by part on arrival
        for dev in rep.local_luns:
            self._rollback(rep, m, dev)
            parts = self.staging.ack(rep.id, seq, dev)["parts"]
            self._write(dev, self.staging.segments(rep.id, seq, dev, parts))

    def _write(self, dev: str, writes: Iterable[Write]) -> None:
        for offset, length, data in _joined(writes):
            if data is not None:
                self.vol.write(dev, offset, data)
                continue
            for at, zeros in zero_pieces(offset, length):
                self.vol.write(dev, at, zeros)

    def _rollback(self, rep: Replication, m: dict[str, Any], dev: str) -> None:
        chunks = sorted(int(c) for c in (m.get("rollback") or {}).get(dev, []))
        if not chunks:
            return
        base = self._base_snapshot(rep, m, dev)
        size = self.vol.lun(dev).size_bytes
        for c in chunks:
            n = min(CHUNK, size - c * CHUNK)
            self.vol.write(dev, c * CHUNK, self.vol.read_snapshot(base, c * CHUNK, n))

    def recover(self) -> None:
        """At start-up: finish decided commits; drop the staging of replications that no
        longer exist (a crash between deleting one and dropping its staging)."""
        for row in self.store.all("SELECT replication_id FROM pending_commits"):
            self.finish(row[0])
        self.staging.drop_all_but({rep.id for rep in self.svc.records.list()})

    # ---------------------------------------------------------------- checks
    @staticmethod
    def _check_inbound(rep: Replication) -> None:
        if rep.direction != "inbound":
            raise Conflict(f"replication {rep.id!r} is not inbound here; deltas refused",
                           code="not-a-replica", id=rep.id)
        if rep.state == "failed-over":  # promoted: its devices are primaries now
            raise Conflict(f"replication {rep.id!r} is {rep.state} here; deltas refused",
                           code=f"replication-{rep.state}", id=rep.id, state=rep.state)

    @staticmethod
    def _check_sequence(rep: Replication, seq: int) -> None:
        if seq <= rep.sequence:
            raise DeltaReplayError(f"replication {rep.id}: sequence {seq} already applied",
                                   replication=rep.id, got=seq, expected=rep.sequence + 1)
        if seq != rep.sequence + 1:
            raise DeltaGapError(f"replication {rep.id}: sequence {seq} arrived, expected "
                                f"{rep.sequence + 1}", replication=rep.id, got=seq,
                                expected=rep.sequence + 1)

    def _drop_orphan_snapshots(self, rep: Replication, rp_id: str) -> None:
        for lun_id in rep.local_luns:
            for snap in self.vol.snapshots(lun_id):
                if snap.attrs.get("rp") == rp_id:
                    self.vol.delete_snapshot(snap.id)


def _joined(writes: Iterable[Write], limit: int = 8 << 20) -> Iterable[Write]:
    """Adjacent data writes as one (up to ``limit`` bytes): one copy-on-write check and one
    ``pwrite`` per run instead of one per extent. A run of one write is passed on as it is
    (a view of the received part: no copy)."""
    run: list[bytes] = []
    start = end = 0
    for offset, length, data in writes:
        if data is not None and run and offset == end and end - start + length <= limit:
            run.append(data)
            end += length
            continue
        if run:
            yield start, end - start, _one(run)
            run = []
        if data is None:
            yield offset, length, None
        else:
            run, start, end = [data], offset, offset + length
    if run:
        yield start, end - start, _one(run)


def _one(run: list[bytes]) -> bytes:
    return run[0] if len(run) == 1 else b"".join(run)
