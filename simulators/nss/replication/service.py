"""The replication service of one appliance: create/update/delete, sync jobs, RPO, stats.

It reaches storage only through ``Volumes`` (``volumes.py``), its metadata through the store,
long work through ``Jobs``. ``Scheduler`` starts cycles by policy; ``sync`` (the REST call
and the SRA's syncOnce) starts one now or joins the one running.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..context import Context, new_id, utcnow
from ..errors import Conflict, InUse, InvalidRequest, NssError
from .locks import KeyedLocks
from .logic.policy import Policy, rpo_state
from .metrics import ReplicationMetrics
from .peers import PeerLink, Peers
from .records import KEEP_EVENTS, ZERO_STATS, Device, Records, Replication
from .scheduler import Scheduler
from .source import KEEP_SOURCE_POINTS, Cycle, source_points
from .syncgate import SyncGate
from .target import KEEP_REPLICA_POINTS, Target
from .throttle import Throttles, TokenBucket
from .volumes import Volumes

log = logging.getLogger(__name__)
OPTIONS = {"xor": True, "keep_points": KEEP_REPLICA_POINTS, "policy": {}}
KEEP_POINTS_RANGE = (2, 1000)  # the newest point and one before it, at least
TOLD_TO_REPLICA = ("policy", "keep_points")
RPO_LOG_EVERY = 60.0


class ReplicationService:
    def __init__(self, ctx: Context, vol: Volumes, jobs: Any, identity: dict[str, Any],
                 staging: Path, keep_events: int = KEEP_EVENTS) -> None:
        self.store, self.vol, self.jobs, self.identity = ctx.store, vol, jobs, identity
        self.records = Records(ctx, keep_events)
        self.peers = Peers(ctx, identity)
        self.target = Target(self, staging)
        self.locks = KeyedLocks()
        self.gate = SyncGate()
        self.throttles = Throttles()
        self.metrics = ReplicationMetrics(self._metric_rows)
        self.scheduler = Scheduler(self)
        self._rpo_seen: dict[str, str] = {}
        self._rpo_logged: dict[str, tuple[float | None, int]] = {}
        self._rpo_lock = threading.Lock()
        self.held: set[str] = set()  # replications whose scheduled cycles are held off
        vol.guard_snapshots(lambda s: self.records.holds_snapshot(s.id))

    def recover(self) -> None:
        self.target.recover()

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()

    # ---------------------------------------------------------------- create / update / delete
    def create(self, source: str, peer_id: str, options: dict[str, Any]) -> dict[str, Any]:
        kind, luns, group = self._source(source)
        self.peers.get(peer_id)
        options = self._options(options, {**OPTIONS, "policy": Policy().to_dict()})
        rep_id, link = new_id("rep"), self.peers.link(peer_id)
        answer = link.post("/replication-targets", {
            "replication_id": rep_id, "peer_id": self.identity["id"], "source_kind": kind,
            "group_name": group.name if group else None, "options": options,
            "devices": [{"lun_id": lun.id, "name": lun.name, "size_bytes": lun.size_bytes}
                        for lun in luns]})
        remote = {d["remote"]: d["local"] for d in answer["devices"]}
        now = utcnow()
        rep = Replication(rep_id, "outbound", peer_id, "replicating", kind,
                          group.id if group else None,
                          tuple(Device(lun.id, remote[lun.id]) for lun in luns), 0, None,
                          options, dict(ZERO_STATS), now, now)
        self.records.insert(rep)
        self._mark_sources(rep)
        return {"replication": self.view(self.records.get(rep_id)), "job": self.sync(rep_id)}

    def update(self, rep_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """PATCH: ``policy`` fields merge into the current policy; ``xor`` and
        ``keep_points`` replace."""
        rep = self.records.change(rep_id, lambda r: {"options": self._options(changes, r.options)})
        options = rep.options
        self.records.add_event(rep_id, "policy", {"policy": options["policy"]})
        told = {k: options[k] for k in TOLD_TO_REPLICA if k in changes}
        if rep.direction == "outbound" and told:
            self._tell_replica(rep, told)
        return self.view(rep)

    def _tell_replica(self, rep: Replication, changes: dict[str, Any]) -> None:
        """The replica keeps a copy of the policy (its RPO view) and applies ``keep_points``
        (the recovery points it keeps): pass a change on. A peer that cannot be told now
        keeps its copy; the source's policy rules the cycles."""
        try:
            self.peers.link(rep.peer_id, timeout=10, attempts=2).request(
                "PATCH", f"/replications/{rep.id}", json=changes)
        except NssError as exc:
            log.warning("replication %s: the replica did not take the new policy (%s)",
                        rep.id, exc)

    @staticmethod
    def _options(changes: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(changes) - set(OPTIONS))
        if unknown:
            raise InvalidRequest(f"options.{unknown[0]} is not a replication option "
                                 f"(known: {', '.join(OPTIONS)})", field=f"options.{unknown[0]}")
        if "xor" in changes and not isinstance(changes["xor"], bool):
            raise InvalidRequest("options.xor must be true or false", field="options.xor")
        if "keep_points" in changes:
            _check_keep_points(changes["keep_points"])
        base = Policy.from_dict(current.get("policy"))
        policy = Policy.parse(changes.get("policy", {}), base)
        return {**current, **changes, "policy": policy.to_dict()}

    def _source(self, source: str) -> tuple[str, list[Any], Any]:
        if source.startswith("group-"):
            group = self.vol.group(source)
            luns = [self.vol.lun(x) for x in group.luns]
            kind = "group"
        else:
            group, luns, kind = None, [self.vol.lun(source)], "lun"
            if self.vol.group_of(source):
                raise InvalidRequest(f"lun {source!r} belongs to a consistency group; "
                                     "replicate the group", field="source")
        for lun in luns:
            if lun.role != "standalone":
                raise Conflict(f"lun {lun.id!r} is a {lun.role} and cannot be a replication "
                               "source", code="not-replicable", id=lun.id)
        return kind, luns, group

    def _mark_sources(self, rep: Replication) -> None:
        for lun_id in rep.local_luns:
            lun = self.vol.lun(lun_id)
            self.vol.set_role(lun_id, "primary", lun.access, replication_id=rep.id)
        if rep.local_group:
            self.vol.set_group_attrs(rep.local_group, replication_id=rep.id)

    @contextmanager
    def holding(self, rep_id: str) -> Iterator[None]:
        self.held.add(rep_id)
        try:
            yield
        finally:
            self.held.discard(rep_id)

    def wait_idle(self, rep_id: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.jobs.active("sync", rep_id):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def delete(self, rep_id: str, from_peer: bool = False) -> None:
        with self.holding(rep_id):
            self._delete(rep_id, from_peer)

    def _delete(self, rep_id: str, from_peer: bool) -> None:
        rep = self.records.get(rep_id)
        if not self.wait_idle(rep_id, 25.0):
            raise Conflict(f"replication {rep_id!r} is syncing; wait for the job to end",
                           code="sync-in-progress", id=rep_id)
        if not from_peer:
            self.tell_peer(rep, {"event": "deleted"}, required=True)
        for point in self.records.points(rep_id):
            if self.vol.timeviews_of(point.snapshot_id):
                raise InUse(f"recovery point {point.rp_id} has TimeViews; delete them first",
                            id=rep_id)
        self.records.delete(rep_id)
        self.target.staging.drop(rep_id)
        self._forget(rep_id)
        for lun_id in rep.local_luns:
            lun = self.vol.lun(lun_id)
            self.vol.set_role(lun_id, "standalone", lun.access, replication_id=None)
        if rep.local_group:
            self.vol.set_group_attrs(rep.local_group, replication_id=None)

    def _forget(self, rep_id: str) -> None:
        """A deleted replication leaves nothing in memory: RPO state, schedule, metrics."""
        self._rpo_seen.pop(rep_id, None)
        self._rpo_logged.pop(rep_id, None)
        self.scheduler.forget(rep_id)
        self.gate.forget(rep_id)
        self.metrics.forget(rep_id)

    # ---------------------------------------------------------------- views, RPO
    def view(self, rep: Replication) -> dict[str, Any]:
        job = self.jobs.active("sync", rep.id)
        if job is not None:
            self.jobs.announce(job["id"])  # a client may poll it from here
        return {**rep.to_dict(), "policy": Policy.from_dict(rep.options.get("policy")).to_dict(),
                "rpo": self.rpo(rep), "syncing": job is not None, "job": job}

    def rpo(self, rep: Replication) -> dict[str, Any]:
        points = self.records.points(rep.id)
        newest = points[-1].time if points else None
        since = datetime.fromisoformat(newest or rep.created)
        lag = max(0.0, (datetime.now(UTC) - since).total_seconds())
        objective = Policy.from_dict(rep.options.get("policy")).rpo_s
        return {"objective_s": objective, "lag_s": round(lag, 3),
                "state": rpo_state(lag, objective), "newest_recovery_point_time": newest}

    def watch_rpo(self, rep: Replication) -> None:
        """Record an ``rpo`` event when the state changes (compared with the last event).
        Called on every scheduler tick and just before a new point is recorded, when the lag
        is at its highest: a violation shorter than a tick still leaves its event."""
        if rep.direction != "outbound" or rep.state != "replicating":
            return
        with self._rpo_lock:
            self._watch_rpo(rep)

    def _watch_rpo(self, rep: Replication) -> None:
        now = self.rpo(rep)
        last = self._rpo_seen.get(rep.id)
        if last is None:
            seen = self.records.events(rep.id, "rpo")
            last = seen[-1]["to"] if seen else "ok"
        if now["state"] != last:
            self.records.add_event(rep.id, "rpo", {"from": last, "to": now["state"],
                                                   "lag_s": now["lag_s"],
                                                   "objective_s": now["objective_s"]})
            self._log_rpo(rep.id, last, now)
        self._rpo_seen[rep.id] = now["state"]

    def _log_rpo(self, rep_id: str, last: str, now: dict[str, Any]) -> None:
        """At most one line per replication every ``RPO_LOG_EVERY`` s: an RPO that flaps at
        every cycle keeps all its events (trimmed to the newest) but does not fill the log."""
        at, skipped = self._rpo_logged.get(rep_id, (None, 0))
        if at is not None and time.monotonic() - at < RPO_LOG_EVERY:
            self._rpo_logged[rep_id] = (at, skipped + 1)
            return
        self._rpo_logged[rep_id] = (time.monotonic(), 0)
        log.warning("replication %s RPO %s -> %s (lag %.1f s, objective %g s)%s", rep_id,
                    last, now["state"], now["lag_s"], now["objective_s"],
                    f"; {skipped} change(s) since the last line, see the events" if skipped else "")

    def _metric_rows(self) -> list[dict[str, Any]]:
        return [{"id": r.id, "rpo": self.rpo(r), "stats": r.stats}
                for r in self.records.list() if r.direction == "outbound"]

    def bucket(self, rep: Replication) -> TokenBucket:
        rates = [Policy.from_dict(r.options.get("policy")).bandwidth_bps
                 for r in self.records.list()
                 if r.peer_id == rep.peer_id and r.direction == "outbound"]
        return self.throttles.link(rep.peer_id, rates)

    # ---------------------------------------------------------------- cycles
    def sync(self, rep_id: str, quiesce: bool = False, announce: bool = True) -> dict[str, Any]:
        """Start a cycle now, or join the one running; ``announce=False`` for the scheduler's
        own cycles, which no client is given (``jobs.py``: retention)."""
        rep = self.records.get(rep_id)
        if rep.direction != "outbound":
            raise Conflict(f"replication {rep_id!r} is inbound here; sync runs at the source "
                           f"appliance {rep.peer_id!r}", code="not-the-source", id=rep_id)
        if rep.state != "replicating":
            raise Conflict(f"replication {rep_id!r} is {rep.state}; resume it first",
                           code=f"replication-{rep.state}", id=rep_id, state=rep.state)
        job_id, opened = self.gate.join_or_open(rep_id, announce, quiesce, lambda: self.jobs.submit(
            "sync", rep_id, lambda h: self._cycles(rep_id, h, quiesce), announced=announce))
        if opened is not None:
            return opened
        if announce:
            self.jobs.announce(job_id)
        return {**self.jobs.get(job_id), "warning": "a sync of this replication is already "
                "running; this request joins it (its point is taken after this request)"}

    def _cycles(self, rep_id: str, handle: Any, quiesce: bool) -> dict[str, Any]:
        """Cycles until their points served every request the job took (syncgate.py)."""
        try:
            with self.locks.hold(rep_id):
                while True:
                    cycle = Cycle(self, rep_id, handle,
                                  quiesce or self.gate.wants_quiesce(handle.id))
                    result = self._cycle(cycle)
                    if self.gate.may_end(rep_id, handle.id, cycle.serves):
                        return result
        finally:
            self.gate.close(rep_id, handle.id)

    def _cycle(self, cycle: Cycle) -> dict[str, Any]:
        try:
            result = cycle.run()
        except NssError as exc:
            self.records.update(cycle.rep_id, error={**exc.to_dict(), "time": utcnow()})
            raise
        self.records.change(cycle.rep_id, lambda r: {"error": None, "options": {
            k: v for k, v in r.options.items()
            if k != "allow_resync"}})  # a resync is allowed once, after a reverse
        return result

    def reconcile(self, rep_id: str, link: PeerLink) -> Replication:
        """Settle a point shipped before a crash or a cut: acknowledged if the replica holds
        it, kept (to resume) if the replica is still receiving it, dropped otherwise."""
        rep = self.records.get(rep_id)
        if rep.inflight:
            state = link.get(f"/replications/{rep_id}/sync-state")
            receiving = (state.get("receiving") or {}).get("rp_id")
            if state["last_rp"] == rep.inflight["rp"]:
                self.acknowledge(rep_id, rep.inflight["sequence"], rep.inflight["rp"])
            elif receiving != rep.inflight["rp"] and not state.get("committing"):
                self.drop_inflight(rep)
        return self.records.get(rep_id)

    def acknowledge(self, rep_id: str, seq: int, rp_id: str) -> None:
        rep = self.records.get(rep_id)
        self.watch_rpo(rep)  # the lag just before this point lowers it
        points = source_points(rep, rp_id, seq, rep.inflight or {})
        with self.store.tx() as db:
            self.records.add_points(db, rep_id, points)
            self.records.update(rep_id, sequence=seq, last_rp=rp_id, inflight=None)
        self.prune(rep_id, KEEP_SOURCE_POINTS)

    def drop_inflight(self, rep: Replication) -> None:
        for snap_id in (rep.inflight or {}).get("snapshots", {}).values():
            try:
                self.vol.delete_snapshot(snap_id)
            except NssError as exc:
                log.warning("could not drop unacknowledged snapshot %s: %s", snap_id, exc)
        self.records.update(rep.id, inflight=None)

    def prune(self, rep_id: str, keep: int) -> None:
        """Delete the oldest recovery points beyond ``keep`` (never one with a TimeView)."""
        rp_ids = self.records.rp_ids(rep_id)
        for rp_id in rp_ids[:-keep] if keep else []:
            points = [p for p in self.records.points(rep_id) if p.rp_id == rp_id]
            if any(self.vol.timeviews_of(p.snapshot_id) for p in points):
                continue
            with self.store.tx() as db:
                self.records.drop_point(db, rep_id, rp_id)
            for p in points:
                self.vol.delete_snapshot(p.snapshot_id)

    def add_stats(self, rep_id: str, last: dict[str, Any]) -> None:
        def added(rep: Replication) -> dict[str, Any]:
            total = {k: rep.stats.get(k, 0) + last.get(k, 0) for k in ZERO_STATS
                     if k != "cycles"}
            return {"stats": {**total, "cycles": rep.stats.get("cycles", 0) + 1,
                              "last_cycle": last}}

        self.records.change(rep_id, added)

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


def _check_keep_points(value: Any) -> None:
    low, high = KEEP_POINTS_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(f"options.keep_points must be an integer from {low} to {high} "
                             f"(recovery points the replica keeps), not {value!r}",
                             field="options.keep_points")
