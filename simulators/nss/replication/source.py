"""One replication cycle at the source.

1. reconcile: a recovery point shipped before a crash may already be committed at the replica;
2. snapshot every device at one instant (quiesced through agents if asked): the new point;
3. plan against the replica's points and dirty maps (``planner.plan``): initial, incremental or
   resync, or a typed conflict;
4. MicroScan only the chunks the plan names, seal each device's delta (zstd + AES-GCM), ship the
   parts, then ask the replica to commit them atomically;
5. on the replica's answer, record the point here too and prune older points.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..context import new_id, utcnow
from ..jobs import JobHandle
from ..model import Snapshot
from .logic import microscan, planner, wire
from .records import Device, RecoveryPoint, Replication
from .scan import allocated_chunks, pairs

PART_PAYLOAD = 16 * 2**20
KEEP_SOURCE_POINTS = 2


class Cycle:
    """A sync cycle; ``service`` is the ReplicationService (appliance, records, peers)."""

    def __init__(self, service: Any, rep_id: str, handle: JobHandle, quiesce: bool) -> None:
        self.svc = service
        self.app = service.app
        self.rep_id = rep_id
        self.handle = handle
        self.quiesce = quiesce
        self.started = time.monotonic()
        self.stats = microscan.DiffStats()
        self.wire_bytes = 0
        self.link = service.peers.link(service.records.get(rep_id).peer_id)

    def run(self) -> dict[str, Any]:
        rep = self.svc.reconcile(self.rep_id, self.link)
        remote = self.link.get(f"/replications/{rep.id}/sync-state")
        rp_id, seq = new_id("rp"), rep.sequence + 1
        consistency, snaps = self._snapshot(rep, rp_id, seq)
        plans = {d.local: self._plan(rep, d, snaps[d.local], remote) for d in rep.devices}
        kind = next(iter(plans.values())).kind
        parts = self._ship(rep, seq, rp_id, snaps, plans)
        commit = {"sequence": seq, "rp_id": rp_id, "time": snaps[rep.devices[0].local].created,
                  "consistency": consistency, "kind": kind, "parts": parts,
                  "rollback": {self._remote(rep, lun): sorted(_rollback(p))
                               for lun, p in plans.items()}}
        self.handle.progress(97, force=True, phase="commit")
        self.link.post(f"/replications/{rep.id}/commit", commit)
        self.svc.acknowledge(rep.id, seq, rp_id)
        return self._result(rp_id, seq, kind, consistency)

    # ---------------------------------------------------------------- steps
    def _snapshot(self, rep: Replication, rp_id: str,
                  seq: int) -> tuple[str, dict[str, Snapshot]]:
        _, snaps = self.app.snapshot(rep.local_luns, quiesce=self.quiesce,
                                     attrs={"replication_id": rep.id, "rp": rp_id})
        self.svc.records.update(rep.id, inflight={
            "rp": rp_id, "sequence": seq, "time": snaps[0].created,
            "consistency": snaps[0].consistency,
            "snapshots": {s.lun_id: s.id for s in snaps}})
        return snaps[0].consistency, {s.lun_id: s for s in snaps}

    def _plan(self, rep: Replication, dev: Device, head: Snapshot,
              remote: dict[str, Any]) -> planner.Plan:
        points = [p for p in self.svc.records.points(rep.id, dev.local)]
        source = planner.Side(
            name=self.app.id,
            points=[planner.RecoveryPoint(p.rp_id, p.snapshot_id) for p in points],
            dirty_since={p.rp_id: self.app.data.dirty_chunks(
                dev.local, self.app.snapshots.get(p.snapshot_id).seq, head.seq)
                for p in points})
        mine = remote["devices"].get(dev.remote, {"points": [], "dirty_since": {}})
        replica = planner.Side(
            name=rep.peer_id,
            points=[planner.RecoveryPoint(p["rp"], p["snapshot_id"]) for p in mine["points"]],
            dirty_since={k: set(v) for k, v in mine["dirty_since"].items()})
        return planner.plan_or_raise(source, replica,
                                     allow_resync=bool(rep.options.get("allow_resync")))

    def _ship(self, rep: Replication, seq: int, rp_id: str, snaps: dict[str, Snapshot],
              plans: dict[str, planner.Plan]) -> dict[str, int]:
        key = self.svc.peers.secret(rep.peer_id)["key"]
        parts: dict[str, int] = {}
        for i, dev in enumerate(rep.devices):
            delta = self._delta(rep, dev, seq, rp_id, snaps[dev.local], plans[dev.local])
            pieces = wire.split(delta, PART_PAYLOAD)
            for piece in pieces:
                blob, stats = wire.encode_with_stats(piece, key, max_payload=PART_PAYLOAD)
                self.wire_bytes += stats.wire_bytes
                self.link.put_bytes(f"/replications/{rep.id}/deltas/{seq}/{dev.remote}/"
                                    f"{piece.header.part}", blob)
            parts[dev.remote] = len(pieces)
            self.handle.progress(10 + 85 * (i + 1) / len(rep.devices), phase="ship",
                                 remaining_seconds=self._eta(i + 1, len(rep.devices)))
        return parts

    def _delta(self, rep: Replication, dev: Device, seq: int, rp_id: str, head: Snapshot,
               plan: planner.Plan) -> wire.Delta:
        lun = self.app.luns.get(dev.local)
        base_snap, chunks = self._scan_set(lun, head, plan)
        unknown = frozenset(plan.replica_dirty) if isinstance(plan, planner.InitialFull) \
            else frozenset()
        extents = microscan.diff(pairs(self.app.data, lun, base_snap, head, chunks, unknown),
                                 xor=bool(rep.options.get("xor")), stats=self.stats)
        header = wire.DeltaHeader(
            replication_id=rep.id, sequence=seq, base_rp=plan.base_rp,
            new_rp=rp_id, device_size=lun.size_bytes, kind=wire.DeltaKind(plan.kind),
            device=dev.remote)
        return wire.Delta(header, tuple(extents))

    def _scan_set(self, lun: Any, head: Snapshot,
                  plan: planner.Plan) -> tuple[Snapshot | None, set[int]]:
        if isinstance(plan, planner.InitialFull):
            later = self.app.data.dirty_chunks(lun.id, head.seq)
            own = allocated_chunks(self.app.ctx.files.lun_path(lun.id), lun.size_bytes)
            return None, own | later | set(plan.replica_dirty)
        base = self.app.snapshots.get(plan.source_snapshot)
        return base, set(plan.dirty)

    # ---------------------------------------------------------------- reporting
    def _eta(self, done: int, total: int) -> float:
        elapsed = time.monotonic() - self.started
        return round(elapsed / done * (total - done), 3) if done else 0.0

    def _remote(self, rep: Replication, local: str) -> str:
        return next(d.remote for d in rep.devices if d.local == local)

    def _result(self, rp_id: str, seq: int, kind: str, consistency: str) -> dict[str, Any]:
        seconds = time.monotonic() - self.started
        last = {"sectors_sent": self.stats.sectors_changed,
                "payload_bytes": self.stats.payload_bytes, "wire_bytes": self.wire_bytes,
                "chunks_scanned": self.stats.chunks_scanned,
                "block4k_bytes": self.stats.block_bytes(4096),
                "block64k_bytes": self.stats.block_bytes(65536), "seconds": round(seconds, 4)}
        self.svc.add_stats(self.rep_id, last)
        return {"recovery_point": rp_id, "sequence": seq, "kind": kind,
                "consistency": consistency, "stats": last, "finished": utcnow()}


def _rollback(plan: planner.Plan) -> set[int]:
    """Chunks the replica must first return to the common point (a resync only)."""
    return set(plan.replica_dirty) if isinstance(plan, planner.Resync) else set()


class CycleLocks:
    """One cycle at a time per replication."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, rep_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(rep_id, threading.Lock())


def source_points(rep: Replication, rp_id: str, seq: int,
                  inflight: dict[str, Any]) -> list[RecoveryPoint]:
    return [RecoveryPoint(rp_id, lun, snap, seq, inflight["time"], inflight["consistency"])
            for lun, snap in inflight["snapshots"].items()]
