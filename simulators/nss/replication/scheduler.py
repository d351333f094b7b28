"""The appliance runs its replications' cycles itself, by policy, and watches their RPO.

One thread ticks every ``TICK`` seconds. For each outbound, replicating replication whose
policy is due (``Policy.due``: mode, spacing, windows, retry after a failure) and that has no
sync job running, it submits a sync job: the same job a manual ``POST .../sync`` starts, so a
manual sync joins a scheduled cycle instead of racing it, and vice versa. On every tick it also
evaluates each replication's RPO state and records an event when the state changes. A sync
job's end wakes the loop at once, so a continuous policy starts its next cycle when the last one
ends rather than at the next tick.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import NotFound
from .logic.policy import Policy, retry_delay

log = logging.getLogger(__name__)
TICK = 0.25


@dataclass
class _Track:
    last_start: float | None = None
    job: str | None = None
    failures: int = 0
    retry_at: float | None = None


class Scheduler:
    def __init__(self, service: Any) -> None:
        self.svc = service
        self._tracks: dict[str, _Track] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        service.jobs.on_end.append(self._job_ended)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="repl-scheduler",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)

    def forget(self, rep_id: str) -> None:
        self._tracks.pop(rep_id, None)

    def _job_ended(self, kind: str, target: str) -> None:
        if kind == "sync":
            self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(TICK)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.tick()
            except Exception:  # never let one bad tick stop replication for good
                log.exception("replication scheduler tick failed")

    def tick(self) -> None:
        for rep in self.svc.records.list():
            self.svc.watch_rpo(rep)
            if rep.direction == "outbound" and rep.state == "replicating" and \
                    rep.id not in self.svc.held:
                self._maybe_start(rep)

    def _maybe_start(self, rep: Any) -> None:
        track = self._tracks.setdefault(rep.id, _Track())
        if track.job is not None and not self._ended(rep.id, track):
            return
        policy = Policy.from_dict(rep.options.get("policy"))
        if not policy.due(datetime.now(UTC), track.last_start, time.monotonic(),
                          track.retry_at):
            return
        job = self.svc.sync(rep.id, announce=False)
        track.job, track.last_start = job["id"], time.monotonic()

    def _ended(self, rep_id: str, track: _Track) -> bool:
        job = self._job(track.job)
        if job is not None and job["state"] in ("queued", "running"):
            return False
        if job is not None and job["state"] == "failed":
            track.failures += 1
            track.retry_at = time.monotonic() + retry_delay(track.failures)
            self.svc.metrics.retry(rep_id)
        else:
            track.failures, track.retry_at = 0, None
        track.job = None
        return True

    def _job(self, job_id: str) -> dict[str, Any] | None:
        """The job, or None if retention pruned it already (it had ended)."""
        try:
            return self.svc.jobs.get(job_id)
        except NotFound:
            return None
