"""Role changes for failover and reprotect. Each is idempotent: SRM repeats commands. Split and
demote hold off scheduled cycles and wait (up to ``IDLE_WAIT``) for a running one to end.

- ``split``    stop replicating (either side); the peer is told when it answers.
- ``promote``  (replica side) the replicas become read-write at their latest recovery point;
               works with the source gone (disaster); a cycle still arriving is abandoned
               (a commit already decided finishes first), its later parts are refused.
- ``demote``   (old source side, after a failover) the devices become read-only replicas.
- ``reverse``  (promoted side) this side becomes the source; the peer's devices become its
               replicas; the next cycle sends only what changed since the last common point.
- ``resume``   (source side) a split replication replicates again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import Conflict, InvalidRequest, NssError
from .records import Replication
from .service import ReplicationService

IDLE_WAIT = 25.0  # under the 30 s of an HTTP client's patience


class Roles:
    def __init__(self, svc: ReplicationService) -> None:
        self.svc = svc
        self.vol = svc.vol

    def split(self, rep_id: str) -> dict[str, Any]:
        with self._idle(rep_id, "split") as rep:
            if rep.state == "replicating":
                rep = self.svc.records.update(rep_id, state="split")
                self.svc.tell_peer(rep, {"event": "split"}, required=False)
        return self._answer(rep_id)

    def promote(self, rep_id: str) -> dict[str, Any]:
        rep = self.svc.records.get(rep_id)
        if rep.direction != "inbound":
            raise Conflict(f"replication {rep_id!r} is the source here; promote runs at the "
                           "replica", code="not-the-replica", id=rep_id)
        if self._is_promoted(rep):
            return self._answer(rep_id, "already promoted")
        with self.svc.target.exclusive(rep_id):  # no part staged, no commit applying
            self.svc.target.abandon(rep_id)       # a cycle in flight is abandoned here
            rep = self.svc.records.get(rep_id)
            if not rep.last_rp:
                raise Conflict(f"replication {rep_id!r} has no recovery point yet; nothing "
                               "to promote", code="no-recovery-point", id=rep_id)
            for lun_id in rep.local_luns:
                self.vol.set_role(lun_id, "primary", "read-write")
            rep = self.svc.records.update(rep_id, state="failed-over")
        self.svc.tell_peer(rep, {"event": "promoted"}, required=False)
        return self._answer(rep_id)

    def demote(self, rep_id: str) -> dict[str, Any]:
        with self._idle(rep_id, "demote") as rep:
            if rep.direction == "outbound" and rep.state == "replicating" and \
                    not self._peer_promoted(rep):
                raise Conflict(f"replication {rep_id!r} is replicating from here; demoting "
                               "its source would stop protection: fail over or split first",
                               code="replication-active", id=rep_id)
            for lun_id in rep.local_luns:
                self.vol.set_role(lun_id, "replica", "read-only")
            if rep.state == "replicating":
                self.svc.records.update(rep_id, state="failed-over"
                                        if rep.direction == "outbound" else "split")
        return self._answer(rep_id)

    def reverse(self, rep_id: str) -> dict[str, Any]:
        rep = self.svc.records.get(rep_id)
        if rep.direction == "outbound" and rep.state == "replicating":
            return self._answer(rep_id, "already replicating from here")
        if not self._is_promoted(rep):
            raise Conflict(f"replication {rep_id!r}: reverse runs where the devices are "
                           "read-write primaries (promote first)", code="not-promoted",
                           id=rep_id)
        link = self.svc.peers.link(rep.peer_id)
        self._refuse_without_common_point(rep, link.get(f"/replications/{rep_id}/sync-state"))
        answer = link.post(f"/replications/{rep_id}/peer-event",
                           {"event": "reverse", "points": self.svc.records.rp_ids(rep_id)})
        self.svc.records.update(rep_id, direction="outbound", state="replicating",
                                options={**rep.options, "allow_resync": True},
                                sequence=max(rep.sequence, int(answer.get("sequence", 0))))
        job = self.svc.sync(rep_id)
        return {**self._answer(rep_id), "job": job}

    def resume(self, rep_id: str) -> dict[str, Any]:
        rep = self.svc.records.get(rep_id)
        if rep.direction != "outbound":
            raise Conflict(f"replication {rep_id!r} is inbound here; resume runs at the "
                           f"source appliance {rep.peer_id!r}", code="not-the-source",
                           id=rep_id)
        if rep.state == "replicating":
            return self._answer(rep_id, "nothing to resume: already replicating")
        if rep.state == "failed-over":
            raise Conflict(f"replication {rep_id!r} failed over; demote this side and reverse "
                           "from the promoted side instead", code="replication-failed-over",
                           id=rep_id)
        self.svc.records.update(rep_id, state="replicating")
        return {**self._answer(rep_id), "job": self.svc.sync(rep_id)}

    def _refuse_without_common_point(self, rep: Replication, peer: dict[str, Any]) -> None:
        """Reverse sends only what changed since a recovery point both sides hold; without one
        every device would have to travel whole, so the reverse is refused and nothing moves."""
        for dev in rep.devices:
            theirs = {p["rp"] for p in peer["devices"].get(dev.remote, {}).get("points", [])}
            theirs.add(peer.get("inflight_rp") or "")  # shipped, its acknowledgement lost
            mine = {p.rp_id for p in self.svc.records.points(rep.id, dev.local)}
            if not theirs & mine:
                raise Conflict(
                    f"replication {rep.id!r}: device {dev.local!r} and the peer's "
                    f"{dev.remote!r} share no recovery point; reverse refused (recreate the "
                    "replication for a full resync)", code="no-common-recovery-point",
                    id=rep.id, device=dev.local)

    # ---------------------------------------------------------------- peer events
    def on_peer_event(self, rep_id: str, body: dict[str, Any]) -> dict[str, Any]:
        event = body.get("event")
        rep = self.svc.records.get(rep_id)
        if event == "split" and rep.state == "replicating":
            self.svc.records.update(rep_id, state="split")
        elif event == "promoted":
            self.svc.records.update(rep_id, state="failed-over")
        elif event == "deleted":
            self.svc.delete(rep_id, from_peer=True)
            return {"deleted": rep_id}
        elif event == "reverse":
            return self._become_replica(rep, [str(p) for p in body.get("points", [])])
        elif event not in ("split",):
            raise InvalidRequest(f"event {event!r} is not a replication event", field="event")
        return self._answer(rep_id)

    def _become_replica(self, rep: Replication, peer_points: list[str]) -> dict[str, Any]:
        if rep.inflight and rep.inflight["rp"] in peer_points:
            self.svc.acknowledge(rep.id, rep.inflight["sequence"], rep.inflight["rp"])
        elif rep.inflight:
            self.svc.drop_inflight(rep)
        for lun_id in rep.local_luns:
            self.vol.set_role(lun_id, "replica", "read-only")
        rep = self.svc.records.update(rep.id, direction="inbound", state="replicating")
        return {**self._answer(rep.id), "sequence": rep.sequence}

    # ---------------------------------------------------------------- helpers
    @contextmanager
    def _idle(self, rep_id: str, verb: str) -> Iterator[Replication]:
        """Hold off scheduled cycles and wait (bounded) for the running one to end."""
        self.svc.records.get(rep_id)
        with self.svc.holding(rep_id):
            if not self.svc.wait_idle(rep_id, IDLE_WAIT):
                raise Conflict(f"replication {rep_id!r} is still syncing after {IDLE_WAIT:.0f}"
                               f" s; {verb} after the cycle ends", code="sync-in-progress",
                               id=rep_id)
            yield self.svc.records.get(rep_id)

    def _is_promoted(self, rep: Replication) -> bool:
        return rep.direction == "inbound" and rep.state == "failed-over" and \
            all(self.vol.lun(x).role == "primary" for x in rep.local_luns)

    def _peer_promoted(self, rep: Replication) -> bool:
        """Whether the peer failed over while this side could not be told (a disaster)."""
        try:
            peer = self.svc.peers.link(rep.peer_id, attempts=2, timeout=10)
            return peer.get(f"/replications/{rep.id}")["replication"]["state"] == "failed-over"
        except NssError:
            return False

    def _answer(self, rep_id: str, warning: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"replication": self.svc.view(self.svc.records.get(rep_id))}
        if warning:
            out["warning"] = warning
        return out
