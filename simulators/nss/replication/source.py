"""One replication cycle at the source, streamed part by part and resumable.

1. reconcile: a recovery point shipped before a crash may be committed at the replica already
   (acknowledge it), or still being received there (resume it with the same snapshots);
2. otherwise snapshot every device at one instant (quiesced through agents if asked);
3. plan against the replica's points and dirty maps (``planner.plan``): initial, incremental or
   resync, or a typed conflict;
4. open the cycle at the replica (``receive``: it answers which parts it holds), then per device
   stream scan -> MicroScan -> pack -> seal -> send, one part acknowledged at a time; a dropped
   link or a peer restart resumes from the last acknowledged part;
5. commit (the replica applies atomically in the background), wait for the new point, record it
   here too and prune older points.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..context import new_id, utcnow
from ..errors import NssError
from ..model import Snapshot
from . import syncgate
from .logic import microscan, planner, wire
from .logic.errors import is_transient
from .logic.policy import retry_delay
from .records import Device, RecoveryPoint, Replication
from .stream import Pipeline, Scan, Sealed, sealed_parts

KEEP_SOURCE_POINTS = 2
MAX_STALLS = 6          # consecutive transfer failures without progress before the job fails
COMMIT_POLL = 0.1


@dataclass
class Counters:
    wire_bytes: int = 0
    parts_sent: int = 0
    parts_resent: int = 0
    retries: int = 0
    wire_version: int = 0  # the delta version the replica opens (wire.negotiate)
    attempted: set[tuple[str, int]] = field(default_factory=set)


class Cycle:
    """A sync cycle; ``service`` is the ReplicationService (volumes, records, peers)."""

    def __init__(self, service: Any, rep_id: str, handle: Any, quiesce: bool) -> None:
        self.svc, self.vol = service, service.vol
        self.rep_id, self.handle, self.quiesce = rep_id, handle, quiesce
        self.started = time.monotonic()
        self.stats = microscan.DiffStats()
        self.snapped_at: float | None = None  # monotonic, when this cycle took its snapshot
        self.heads: dict[str, Snapshot] = {}  # its snapshot of each device
        self.count = Counters()
        self.link = service.peers.link(service.records.get(rep_id).peer_id)
        self.part_link = service.peers.link(service.records.get(rep_id).peer_id, attempts=1)

    def run(self) -> dict[str, Any]:
        rep = self.svc.reconcile(self.rep_id, self.link)
        remote = self.link.get(f"/replications/{rep.id}/sync-state")
        rp_id, seq, heads = self._heads(rep)
        self.heads = heads
        plans = {d.local: self._plan(rep, d, heads[d.local], remote) for d in rep.devices}
        kind = next(iter(plans.values())).kind
        first = heads[rep.devices[0].local]
        opening = {"sequence": seq, "rp_id": rp_id, "base_rp": plans[first.lun_id].base_rp,
                   "kind": kind, "time": first.created, "consistency": first.consistency,
                   "rollback": {d.remote: sorted(_rollback(plans[d.local])) for d in rep.devices}}
        parts = self._transfer(rep, opening, heads, plans)
        self._commit(rep, seq, rp_id, parts)
        self.svc.acknowledge(rep.id, seq, rp_id)
        return self._result(rp_id, seq, kind, first.consistency)

    def serves(self, kind: str, asked_at: float) -> bool:
        """Whether this cycle's point answers a sync request of ``kind`` (syncgate) made at
        ``asked_at`` (monotonic): snapshotted after it, or no device written since the
        snapshot (a resumed point as much as a fresh one); for ``quiesced``, through the
        agents (a fresh snapshot taken with quiesce, or an application-consistent point)."""
        fresh = self.snapped_at is not None and self.snapped_at >= asked_at
        if kind == syncgate.QUIESCED:
            app = any(s.consistency == "app" for s in self.heads.values())
            return (fresh and self.quiesce) or (app and self._unchanged())
        return fresh or self._unchanged()

    def _unchanged(self) -> bool:
        return bool(self.heads) and not any(self.vol.dirty_chunks(lun, snap.seq)
                                            for lun, snap in self.heads.items())

    # ---------------------------------------------------------------- steps
    def _heads(self, rep: Replication) -> tuple[str, int, dict[str, Snapshot]]:
        if rep.inflight:  # reconcile kept it: the replica is receiving it, resume
            snaps = {lun: self.vol.snapshot_record(s)
                     for lun, s in rep.inflight["snapshots"].items()}
            return rep.inflight["rp"], rep.inflight["sequence"], snaps
        rp_id, seq = new_id("rp"), rep.sequence + 1
        self.snapped_at = time.monotonic()  # every write acknowledged before is in the point
        snaps = self.vol.snapshot(rep.local_luns, self.quiesce,
                                  {"replication_id": rep.id, "rp": rp_id})
        self.svc.records.update(rep.id, inflight={
            "rp": rp_id, "sequence": seq, "time": snaps[0].created,
            "consistency": snaps[0].consistency, "snapshots": {s.lun_id: s.id for s in snaps}})
        return rp_id, seq, {s.lun_id: s for s in snaps}

    def _plan(self, rep: Replication, dev: Device, head: Snapshot,
              remote: dict[str, Any]) -> planner.Plan:
        points = [p for p in self.svc.records.points(rep.id, dev.local)]
        source = planner.Side(
            name=self.svc.identity["id"],
            points=[planner.RecoveryPoint(p.rp_id, p.snapshot_id) for p in points],
            dirty_since={p.rp_id: self.vol.dirty_chunks(
                dev.local, self.vol.snapshot_record(p.snapshot_id).seq, head.seq)
                for p in points})
        mine = remote["devices"].get(dev.remote, {"points": [], "dirty_since": {}})
        replica = planner.Side(
            name=rep.peer_id,
            points=[planner.RecoveryPoint(p["rp"], p["snapshot_id"]) for p in mine["points"]],
            dirty_since={k: set(v) for k, v in mine["dirty_since"].items()},
            written_since_creation=frozenset(mine.get("written", ())))
        return planner.plan_or_raise(source, replica,
                                     allow_resync=bool(rep.options.get("allow_resync")))

    def _scan(self, rep: Replication, dev: Device, head: Snapshot, plan: planner.Plan) -> Scan:
        lun = self.vol.lun(dev.local)
        if isinstance(plan, planner.InitialFull):
            later = np.fromiter(self.vol.dirty_chunks(lun.id, head.seq), np.int64)
            chunks = np.union1d(self.vol.allocated_chunks(lun.id),
                                np.union1d(later, np.fromiter(plan.replica_dirty, np.int64)))
            return Scan(head, None, chunks, frozenset(plan.replica_dirty), lun.size_bytes,
                        xor=False)
        chunks = np.unique(np.fromiter(plan.dirty, np.int64))
        base = self.vol.snapshot_record(plan.source_snapshot)
        return Scan(head, base, chunks, frozenset(), lun.size_bytes,
                    xor=bool(rep.options.get("xor", True)))

    # ---------------------------------------------------------------- transfer
    def _transfer(self, rep: Replication, opening: dict[str, Any], heads: dict[str, Snapshot],
                  plans: dict[str, planner.Plan]) -> dict[str, int]:
        stalls, parts = 0, {}
        while True:
            sent = self.count.parts_sent
            try:
                opened = self.link.post(f"/replications/{rep.id}/receive", opening)
                self.count.wire_version = wire.negotiate(opened.get("wire_versions"))
                for dev in rep.devices:
                    scan = self._scan(rep, dev, heads[dev.local], plans[dev.local])
                    parts[dev.remote] = self._send_device(
                        rep, dev, opening, scan, opened["devices"].get(dev.remote),
                        self.count.wire_version)
                return parts
            except NssError as exc:
                stalls = 0 if self.count.parts_sent > sent else stalls + 1
                if not is_transient(exc) or stalls >= MAX_STALLS:
                    raise
                self.count.retries += 1
                self.svc.metrics.retry(rep.id)
                time.sleep(retry_delay(stalls, cap=5.0))

    def _send_device(self, rep: Replication, dev: Device, opening: dict[str, Any], scan: Scan,
                     ack: dict[str, Any] | None, version: int) -> int:
        ack = ack or {"parts": 0, "covers_to": 0, "done": False}
        if ack["done"]:
            return ack["parts"]
        header = wire.DeltaHeader(
            replication_id=rep.id, sequence=opening["sequence"], base_rp=opening["base_rp"],
            new_rp=opening["rp_id"], device_size=scan.size,
            kind=wire.DeltaKind(opening["kind"]), device=dev.remote, last=False, covers_to=0)
        key = self.svc.peers.secret(rep.peer_id)["key"]
        pipe = Pipeline(sealed_parts(self.vol, scan, header, key, self.stats, ack["parts"],
                                     ack["covers_to"], version=version))
        try:
            for sealed in pipe:
                self._put(rep, dev, opening["sequence"], sealed, pipe)
                if sealed.part.last:
                    return sealed.part.index + 1
        finally:
            pipe.close()
        raise AssertionError("the part stream ended without its last part")

    def _put(self, rep: Replication, dev: Device, seq: int, sealed: Sealed,
             pipe: Pipeline) -> None:
        part = sealed.part
        if (dev.remote, part.index) in self.count.attempted:
            self.count.parts_resent += 1
        self.count.attempted.add((dev.remote, part.index))
        path = f"/replications/{rep.id}/deltas/{seq}/{dev.remote}/{part.index}"
        with self.svc.metrics.in_flight(rep.id, 1 + pipe.queued):
            self.part_link.put_part(path, sealed.blob, self.svc.bucket(rep))
        self.count.wire_bytes += len(sealed.blob)
        self.count.parts_sent += 1
        done = part.covers_to / max(1, self.vol.lun(dev.local).size_bytes)
        self.handle.progress(5 + 90 * done, phase="ship", device=dev.local, part=part.index)

    def _commit(self, rep: Replication, seq: int, rp_id: str, parts: dict[str, int]) -> None:
        self.handle.progress(97, force=True, phase="commit")
        answer = self.link.post(f"/replications/{rep.id}/commit",
                                {"sequence": seq, "rp_id": rp_id, "parts": parts})
        while answer.get("state") == "committing":
            time.sleep(COMMIT_POLL)
            peer = self.link.get(f"/replications/{rep.id}")["replication"]
            if peer["last_recovery_point"] == rp_id:
                return

    # ---------------------------------------------------------------- reporting
    def _result(self, rp_id: str, seq: int, kind: str, consistency: str) -> dict[str, Any]:
        seconds = time.monotonic() - self.started
        last = {"sectors_sent": self.stats.sectors_changed,
                "payload_bytes": self.stats.payload_bytes, "wire_bytes": self.count.wire_bytes,
                "ideal_bytes": self.stats.ideal_bytes,
                "chunks_scanned": self.stats.chunks_scanned,
                "block4k_bytes": self.stats.block_bytes(4096),
                "block64k_bytes": self.stats.block_bytes(65536), "seconds": round(seconds, 4),
                "parts_sent": self.count.parts_sent, "parts_resent": self.count.parts_resent,
                "retries": self.count.retries, "wire_version": self.count.wire_version}
        self.svc.add_stats(self.rep_id, last)
        self.svc.metrics.cycle_done(self.rep_id, seconds)
        return {"recovery_point": rp_id, "sequence": seq, "kind": kind,
                "consistency": consistency, "stats": last, "finished": utcnow()}


def _rollback(plan: planner.Plan) -> set[int]:
    """Chunks the replica must first return to the common point (a resync only)."""
    return set(plan.replica_dirty) if isinstance(plan, planner.Resync) else set()


def source_points(rep: Replication, rp_id: str, seq: int,
                  inflight: dict[str, Any]) -> list[RecoveryPoint]:
    return [RecoveryPoint(rp_id, lun, snap, seq, inflight["time"], inflight["consistency"])
            for lun, snap in inflight["snapshots"].items()]
