"""Jobs: long operations run in the background with one state machine.

    queued ──▶ running ──▶ succeeded
                  └──────▶ failed

A job's row is written on every transition, so ``GET /jobs/{id}`` answers after a restart; a job
that was queued or running when the appliance died is marked failed ("interrupted") at start-up
and its owner (e.g. replication) redoes the work on the next cycle.

Retention (``Retention``; ``drkit nss serve --jobs-keep/--jobs-max-age/--jobs-poll-grace``):
replication submits a job per cycle, forever, so finished jobs are pruned. A queued or running
job is never pruned. A finished job goes once it is older than ``max_age_s`` or not among the
``keep`` newest finished ones, except an *announced* one younger than ``poll_grace_s`` (measured
from when it ended): a client was given its id (``POST .../sync``, the SRA's syncOnce joining a
running cycle, a replication's view) and may still be polling it (querySyncStatus). A cycle the
scheduler started that no client was shown is not announced, so the count holds whatever the
cycle rate. Pruning is one ``DELETE`` in one transaction, over a partial index of finished
jobs, at start-up and after every ``PRUNE_EVERY`` submits (not on every insert).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from . import memory
from .context import Context, new_id, stamp, utcnow
from .errors import NssError, not_found
from .store import dumps, loads

log = logging.getLogger(__name__)
PRUNE_EVERY = 16
# the WHERE clauses of the partial indexes jobs_active and jobs_finished (store.py)
ACTIVE = "state IN ('queued', 'running')"
FINISHED = "state IN ('succeeded', 'failed')"
ACTIVE_SQL = f"""SELECT id FROM jobs WHERE kind=? AND target=? AND {ACTIVE}
    ORDER BY created DESC LIMIT 1"""
PRUNE_SQL = f"""DELETE FROM jobs WHERE {FINISHED} AND (updated < :grace OR NOT announced)
    AND (updated < :age OR id NOT IN
         (SELECT id FROM jobs WHERE {FINISHED} ORDER BY updated DESC LIMIT :keep))"""


@dataclass(frozen=True)
class Retention:
    """How long finished jobs are kept (see the module docstring)."""

    keep: int = 1000
    max_age_s: float = 24 * 3600.0
    poll_grace_s: float = 15 * 60.0

    def __post_init__(self) -> None:
        if self.keep < 0 or self.max_age_s < 0 or self.poll_grace_s < 0:
            raise ValueError("job retention: keep, max age and poll grace must not be negative")
        if self.poll_grace_s > self.max_age_s:
            raise ValueError(f"job retention: the poll grace ({self.poll_grace_s:g} s) must not "
                             f"exceed the maximum age ({self.max_age_s:g} s)")

    def cutoffs(self, now: datetime) -> dict[str, Any]:
        """Bind values of ``PRUNE_SQL``: finished before ``grace`` and ``age``, in store format."""
        return {"grace": stamp(now - timedelta(seconds=self.poll_grace_s)),
                "age": stamp(now - timedelta(seconds=self.max_age_s)), "keep": self.keep}


class JobHandle:
    """What a running job's function sees: report progress (0-100) and extra fields. The
    progress a client sees never goes back (a sync job may run a second cycle)."""

    def __init__(self, jobs: Jobs, job_id: str) -> None:
        self.jobs = jobs
        self.id = job_id
        self._last = 0.0
        self._shown = 0

    def progress(self, pct: float, force: bool = False, **info: Any) -> None:
        now = time.monotonic()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        self._shown = max(self._shown, min(99, int(pct)))
        self.jobs._update(self.id, progress=self._shown, info=info)


class Jobs:
    def __init__(self, ctx: Context, workers: int = 4,
                 retention: Retention = Retention()) -> None:
        self.ctx = ctx
        self.retention = retention
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job")
        self._submits = 0
        self._count_lock = threading.Lock()
        self.on_end: list[Callable[[str, str], None]] = []  # called with (kind, target)

    def recover(self) -> None:
        with self.ctx.store.tx() as db:
            db.execute(f"UPDATE jobs SET state='failed', error=?, updated=? WHERE {ACTIVE}",
                       (dumps({"code": "interrupted", "message":
                               "the appliance restarted while this job ran"}), utcnow()))
        self.prune()

    def prune(self) -> int:
        """Delete the finished jobs ``retention`` lets go, in one transaction: how many."""
        with self.ctx.store.tx() as db:
            gone = db.execute(PRUNE_SQL, self.retention.cutoffs(datetime.now(UTC))).rowcount
        if gone:
            log.debug("pruned %d finished job(s)", gone)
        return gone

    def _count_submit(self) -> None:
        with self._count_lock:
            self._submits += 1
            due = self._submits % PRUNE_EVERY == 0
        if due:
            self.prune()

    def submit(self, kind: str, target: str, fn: Callable[[JobHandle], Any],
               announced: bool = True) -> dict[str, Any]:
        """Queue ``fn``; ``announced=False`` when no client is given the job (see above)."""
        job_id = new_id("job")
        now = utcnow()
        with self.ctx.store.tx() as db:
            db.execute("INSERT INTO jobs(id, kind, state, progress, target, result, error, "
                       "created, updated, announced) VALUES(?,?,?,?,?,?,?,?,?,?)",
                       (job_id, kind, "queued", 0, target, None, None, now, now, announced))
        self._pool.submit(self._run, job_id, kind, target, fn)
        self._count_submit()
        return self.get(job_id)

    def active(self, kind: str, target: str) -> dict[str, Any] | None:
        row = self.ctx.store.one(ACTIVE_SQL, kind, target)
        return None if row is None else self.get(row[0])

    def announce(self, job_id: str) -> None:
        """A client is being given this job's id: keep it for the poll grace once it ends."""
        if self.ctx.store.scalar("SELECT announced FROM jobs WHERE id=?", job_id) == 0:
            with self.ctx.store.tx() as db:
                db.execute("UPDATE jobs SET announced=1 WHERE id=?", (job_id,))

    def get(self, job_id: str) -> dict[str, Any]:
        row = self.ctx.store.one("SELECT * FROM jobs WHERE id=?", job_id)
        if row is None:
            raise not_found("job", job_id)
        return {"id": row["id"], "kind": row["kind"], "state": row["state"],
                "progress": row["progress"], "target": row["target"],
                "result": loads(row["result"]), "error": loads(row["error"]),
                "created": row["created"], "updated": row["updated"]}

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, job_id: str, kind: str, target: str,
             fn: Callable[[JobHandle], Any]) -> None:
        try:
            self._work(job_id, fn)
        finally:
            memory.release()  # what the job freed goes back to the system
            for listener in self.on_end:
                listener(kind, target)

    def _work(self, job_id: str, fn: Callable[[JobHandle], Any]) -> None:
        self._update(job_id, state="running")
        try:
            result = fn(JobHandle(self, job_id))
        except NssError as exc:
            self._update(job_id, state="failed", error=exc.to_dict())
        except Exception as exc:  # a bug: keep the job honest, log the traceback
            log.exception("job %s failed", job_id)
            self._update(job_id, state="failed",
                         error={"code": "appliance-fault", "message": str(exc)})
        else:
            self._update(job_id, state="succeeded", progress=100, result=result)

    def _update(self, job_id: str, *, state: str | None = None, progress: int | None = None,
                result: Any = None, error: Any = None, info: dict[str, Any] | None = None) -> None:
        sets, args = ["updated=?"], [utcnow()]
        for col, value in (("state", state), ("progress", progress)):
            if value is not None:
                sets.append(f"{col}=?")
                args.append(value)
        if result is not None or info:
            sets.append("result=?")
            args.append(dumps(result if result is not None else info))
        if error is not None:
            sets.append("error=?")
            args.append(dumps(error))
        with self.ctx.store.tx() as db:
            db.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id=?", (*args, job_id))
