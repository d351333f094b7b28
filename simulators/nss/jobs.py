"""Jobs: long operations run in the background with one state machine.

    queued ──▶ running ──▶ succeeded
                  └──────▶ failed

A job's row is written on every transition, so ``GET /jobs/{id}`` answers after a restart; a job
that was queued or running when the appliance died is marked failed ("interrupted") at start-up
and its owner (e.g. replication) redoes the work on the next cycle.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .context import Context, new_id, utcnow
from .errors import NssError, not_found
from .store import dumps, loads

log = logging.getLogger(__name__)


class JobHandle:
    """What a running job's function sees: report progress (0-100) and extra fields."""

    def __init__(self, jobs: Jobs, job_id: str) -> None:
        self.jobs = jobs
        self.id = job_id
        self._last = 0.0

    def progress(self, pct: float, force: bool = False, **info: Any) -> None:
        now = time.monotonic()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        self.jobs._update(self.id, progress=max(0, min(99, int(pct))), info=info)


class Jobs:
    def __init__(self, ctx: Context, workers: int = 4) -> None:
        self.ctx = ctx
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job")

    def recover(self) -> None:
        with self.ctx.store.tx() as db:
            db.execute("UPDATE jobs SET state='failed', error=?, updated=? "
                       "WHERE state IN ('queued', 'running')",
                       (dumps({"code": "interrupted", "message":
                               "the appliance restarted while this job ran"}), utcnow()))

    def submit(self, kind: str, target: str, fn: Callable[[JobHandle], Any]) -> dict[str, Any]:
        job_id = new_id("job")
        now = utcnow()
        with self.ctx.store.tx() as db:
            db.execute("INSERT INTO jobs(id, kind, state, progress, target, result, error, "
                       "created, updated) VALUES(?,?,?,?,?,?,?,?,?)",
                       (job_id, kind, "queued", 0, target, None, None, now, now))
        self._pool.submit(self._run, job_id, fn)
        return self.get(job_id)

    def active(self, kind: str, target: str) -> dict[str, Any] | None:
        row = self.ctx.store.one("SELECT id FROM jobs WHERE kind=? AND target=? AND state IN "
                                 "('queued', 'running') ORDER BY created DESC LIMIT 1",
                                 kind, target)
        return None if row is None else self.get(row[0])

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

    def _run(self, job_id: str, fn: Callable[[JobHandle], Any]) -> None:
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
