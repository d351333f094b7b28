"""Which sync job of a replication still takes requests, and when a point was last asked for.

A sync request (a client's ``POST .../sync``, the SRA's syncOnce) is answered by a recovery
point that holds every write acknowledged before the request: SRM's planned migration makes
the source read-only, syncs and fails over, and the last writes must be there. A request joins
its replication's open sync job rather than racing it. When that job's cycle took its snapshot
before the latest request it took, and a device was written since that snapshot, the job runs
one more cycle. A job stops taking requests at the moment it decides to end, under the same
lock, so no request joins a job that will not serve it: the next one opens a new job, which
waits for the replication's lock and then snapshots.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class SyncGate:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, str] = {}  # replication id -> the job that takes requests
        self._wanted: dict[str, float] = {}  # replication id -> monotonic time of a request

    def join_or_open(self, rep_id: str, request: bool,
                     submit: Callable[[], dict[str, Any]]) -> tuple[str, dict[str, Any] | None]:
        """The open job's id and None, or a new job (``submit``) that is now the open one.
        ``request``: a client asks for a point (the scheduler's own cycles do not)."""
        with self._lock:
            if request:
                self._wanted[rep_id] = time.monotonic()
            if rep_id in self._open:
                return self._open[rep_id], None
            job = submit()
            self._open[rep_id] = job["id"]
            return job["id"], job

    def may_end(self, rep_id: str, job_id: str, snapped_at: float | None,
                unchanged: Callable[[], bool]) -> bool:
        """Whether a cycle serves every request so far: it snapshotted after the latest
        (``snapped_at``, monotonic; None: it resumed an older point), or nothing was written
        since its snapshot (``unchanged``). If so the job takes no more requests."""
        with self._lock:
            late = snapped_at is None or snapped_at < self._wanted.get(rep_id, float("-inf"))
            if late and not unchanged():
                return False
            self._close(rep_id, job_id)
            return True

    def close(self, rep_id: str, job_id: str) -> None:
        with self._lock:
            self._close(rep_id, job_id)

    def forget(self, rep_id: str) -> None:
        with self._lock:
            self._open.pop(rep_id, None)
            self._wanted.pop(rep_id, None)

    def _close(self, rep_id: str, job_id: str) -> None:
        if self._open.get(rep_id) == job_id:
            del self._open[rep_id]
