"""Which sync job of a replication still takes requests, and what its requests asked for.

A sync request (a client's ``POST .../sync``, the SRA's syncOnce) is answered by a recovery
point that holds every write acknowledged before the request: SRM's planned migration makes
the source read-only, syncs and fails over, and the last writes must be there. A request that
asks for quiesce is answered by a point taken through the Snapshot Agents. A request joins its
replication's open sync job rather than racing it, and the job runs cycles until one point has
served each kind of request it took (``Cycle.serves``: snapshotted after the request, or
nothing written since its snapshot; quiesced when asked). A job stops taking requests at the
moment it decides to end, under the same lock, so no request joins a job that will not serve
it: the next one opens a new job, which waits for the replication's lock and then snapshots.
What a failed job was asked goes with it: its clients see the failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

ANY, QUIESCED = "any", "quiesced"  # the kinds of point a request asks for


class SyncGate:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, str] = {}  # replication id -> the job that takes requests
        self._wants: dict[str, dict[str, float]] = {}  # job id -> kind -> latest request

    def join_or_open(self, rep_id: str, request: bool, quiesce: bool,
                     submit: Callable[[], dict[str, Any]]) -> tuple[str, dict[str, Any] | None]:
        """The open job's id and None, or a new job (``submit``) that is now the open one.
        ``request``: a client asks for a point (the scheduler's own cycles do not)."""
        with self._lock:
            job = None
            if rep_id not in self._open:
                job = submit()
                self._open[rep_id], self._wants[job["id"]] = job["id"], {}
            job_id = self._open[rep_id]
            if request:
                self._wants[job_id][QUIESCED if quiesce else ANY] = time.monotonic()
            return job_id, job

    def wants_quiesce(self, job_id: str) -> bool:
        with self._lock:
            return QUIESCED in self._wants.get(job_id, {})

    def may_end(self, rep_id: str, job_id: str,
                serves: Callable[[str, float], bool]) -> bool:
        """Drop what the cycle's point serves (``serves(kind, asked_at)``); the job may end
        when nothing is left, and then takes no more requests."""
        with self._lock:
            wants = self._wants.get(job_id, {})
            for kind, asked_at in list(wants.items()):
                if serves(kind, asked_at):
                    del wants[kind]
            if wants:
                return False
            self._close(rep_id, job_id)
            return True

    def close(self, rep_id: str, job_id: str) -> None:
        with self._lock:
            self._close(rep_id, job_id)

    def forget(self, rep_id: str) -> None:
        with self._lock:
            self._wants.pop(self._open.pop(rep_id, ""), None)

    def _close(self, rep_id: str, job_id: str) -> None:
        self._wants.pop(job_id, None)
        if self._open.get(rep_id) == job_id:
            del self._open[rep_id]
