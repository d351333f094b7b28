"""The replication service of one appliance: create/delete, sync jobs, acknowledgements."""

from __future__ import annotations

import logging
from typing import Any

from ..context import new_id, utcnow
from ..errors import Conflict, InUse, InvalidRequest, NssError
from .peers import PeerLink, Peers
from .records import ZERO_STATS, Device, Records, Replication
from .source import KEEP_SOURCE_POINTS, Cycle, CycleLocks, source_points
from .target import Target

log = logging.getLogger(__name__)
OPTIONS = {"xor": False, "keep_points": 8}


class ReplicationService:
    def __init__(self, app: Any, identity: dict[str, Any]) -> None:
        self.app = app
        self.records = Records(app.ctx)
        self.peers = Peers(app.ctx, identity)
        self.target = Target(self)
        self.locks = CycleLocks()
        app.snapshots.delete_guards.append(lambda s: self.records.holds_snapshot(s.id))

    def recover(self) -> None:
        self.target.recover()

    # ---------------------------------------------------------------- create / delete
    def create(self, source: str, peer_id: str, options: dict[str, Any]) -> dict[str, Any]:
        kind, luns, group = self._source(source)
        self.peers.get(peer_id)
        unknown = set(options) - set(OPTIONS)
        if unknown:
            raise InvalidRequest(f"options.{sorted(unknown)[0]} is not a replication option "
                                 f"(known: {', '.join(OPTIONS)})", field="options")
        rep_id, link = new_id("rep"), self.peers.link(peer_id)
        answer = link.post("/replication-targets", {
            "replication_id": rep_id, "peer_id": self.app.id, "source_kind": kind,
            "group_name": group.name if group else None, "options": options,
            "devices": [{"lun_id": lun.id, "name": lun.name, "size_bytes": lun.size_bytes}
                        for lun in luns]})
        remote = {d["remote"]: d["local"] for d in answer["devices"]}
        now = utcnow()
        rep = Replication(rep_id, "outbound", peer_id, "replicating", kind,
                          group.id if group else None,
                          tuple(Device(lun.id, remote[lun.id]) for lun in luns), 0, None,
                          {**OPTIONS, **options}, dict(ZERO_STATS), now, now)
        self.records.insert(rep)
        self._mark_sources(rep)
        return {"replication": self.records.get(rep_id).to_dict(), "job": self.sync(rep_id)}

    def _source(self, source: str) -> tuple[str, list[Any], Any]:
        if source.startswith("group-"):
            group = self.app.groups.get(source)
            luns = [self.app.luns.get(x) for x in group.luns]
            kind = "group"
        else:
            group, luns, kind = None, [self.app.luns.get(source)], "lun"
            if self.app.groups.of_lun(source):
                raise InvalidRequest(f"lun {source!r} belongs to a consistency group; "
                                     "replicate the group", field="source")
        for lun in luns:
            if lun.role != "standalone":
                raise Conflict(f"lun {lun.id!r} is a {lun.role} and cannot be a replication "
                               "source", code="not-replicable", id=lun.id)
        return kind, luns, group

    def _mark_sources(self, rep: Replication) -> None:
        for lun_id in rep.local_luns:
            lun = self.app.luns.get(lun_id)
            self.app.luns.set_role(lun_id, "primary", lun.access, replication_id=rep.id)
        if rep.local_group:
            self.app.groups.set_attrs(rep.local_group, replication_id=rep.id)

    def delete(self, rep_id: str, from_peer: bool = False) -> None:
        rep = self.records.get(rep_id)
        if self.app.jobs.active("sync", rep_id):
            raise Conflict(f"replication {rep_id!r} is syncing; wait for the job to end",
                           code="sync-in-progress", id=rep_id)
        if not from_peer:
            self.tell_peer(rep, {"event": "deleted"}, required=True)
        for point in self.records.points(rep_id):
            if self.app.snapshots.timeviews_of(point.snapshot_id):
                raise InUse(f"recovery point {point.rp_id} has TimeViews; delete them first",
                            id=rep_id)
        self.records.delete(rep_id)
        for lun_id in rep.local_luns:
            lun = self.app.luns.get(lun_id)
            self.app.luns.set_role(lun_id, "standalone", lun.access, replication_id=None)
        if rep.local_group:
            self.app.groups.set_attrs(rep.local_group, replication_id=None)

    # ---------------------------------------------------------------- cycles
    def sync(self, rep_id: str, quiesce: bool = False) -> dict[str, Any]:
        rep = self.records.get(rep_id)
        if rep.direction != "outbound":
            raise Conflict(f"replication {rep_id!r} is inbound here; sync runs at the source "
                           f"appliance {rep.peer_id!r}", code="not-the-source", id=rep_id)
        if rep.state != "replicating":
            raise Conflict(f"replication {rep_id!r} is {rep.state}; resume it first",
                           code=f"replication-{rep.state}", id=rep_id, state=rep.state)
        active = self.app.jobs.active("sync", rep_id)
        if active:
            return {**active, "warning": "a sync of this replication is already running"}
        return self.app.jobs.submit("sync", rep_id, lambda h: self._cycle(rep_id, h, quiesce))

    def _cycle(self, rep_id: str, handle: Any, quiesce: bool) -> dict[str, Any]:
        with self.locks.get(rep_id):
            try:
                result = Cycle(self, rep_id, handle, quiesce).run()
            except NssError as exc:
                self.records.update(rep_id, error={**exc.to_dict(), "time": utcnow()})
                raise
            options = {k: v for k, v in self.records.get(rep_id).options.items()
                       if k != "allow_resync"}  # a resync is allowed once, after a reverse
            self.records.update(rep_id, error=None, options=options)
            return result

    def reconcile(self, rep_id: str, link: PeerLink) -> Replication:
        """Settle a point shipped before a crash: acknowledged if the replica has it."""
        rep = self.records.get(rep_id)
        if rep.inflight:
            state = link.get(f"/replications/{rep_id}/sync-state")
            if state["last_rp"] == rep.inflight["rp"]:
                self.acknowledge(rep_id, rep.inflight["sequence"], rep.inflight["rp"])
            else:
                self.drop_inflight(rep)
        return self.records.get(rep_id)

    def acknowledge(self, rep_id: str, seq: int, rp_id: str) -> None:
        rep = self.records.get(rep_id)
        points = source_points(rep, rp_id, seq, rep.inflight or {})
        with self.app.store.tx() as db:
            self.records.add_points(db, rep_id, points)
            self.records.update(rep_id, db, sequence=seq, last_rp=rp_id, inflight=None)
        self.prune(rep_id, KEEP_SOURCE_POINTS)

    def drop_inflight(self, rep: Replication) -> None:
        for snap_id in (rep.inflight or {}).get("snapshots", {}).values():
            try:
                self.app.snapshots.delete(snap_id)
            except NssError as exc:
                log.warning("could not drop unacknowledged snapshot %s: %s", snap_id, exc)
        self.records.update(rep.id, inflight=None)

    def prune(self, rep_id: str, keep: int) -> None:
        """Delete the oldest recovery points beyond ``keep`` (never one with a TimeView)."""
        rp_ids = self.records.rp_ids(rep_id)
        for rp_id in rp_ids[:-keep] if keep else []:
            points = [p for p in self.records.points(rep_id) if p.rp_id == rp_id]
            if any(self.app.snapshots.timeviews_of(p.snapshot_id) for p in points):
                continue
            with self.app.store.tx() as db:
                self.records.drop_point(db, rep_id, rp_id)
            for p in points:
                self.app.snapshots.delete(p.snapshot_id)

    def add_stats(self, rep_id: str, last: dict[str, Any]) -> None:
        rep = self.records.get(rep_id)
        total = {k: rep.stats.get(k, 0) + last.get(k, 0) for k in ZERO_STATS if k != "cycles"}
        total["cycles"] = rep.stats.get("cycles", 0) + 1
        self.records.update(rep_id, stats={**total, "last_cycle": last})

    def stats(self, rep_id: str) -> dict[str, Any]:
        rep = self.records.get(rep_id)
        cumulative = {k: v for k, v in rep.stats.items() if k != "last_cycle"}
        return {"cumulative": cumulative, "last_cycle": rep.stats.get("last_cycle")}

    def tell_peer(self, rep: Replication, event: dict[str, Any], required: bool) -> bool:
        try:
            self.peers.link(rep.peer_id, attempts=2, timeout=10).post(
                f"/replications/{rep.id}/peer-event", event)
            return True
        except NssError as exc:
            if required and exc.code != "replication-not-found":
                raise
            log.warning("peer %s not told of %s: %s", rep.peer_id, event["event"], exc.message)
            return False
