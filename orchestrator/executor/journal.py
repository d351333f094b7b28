"""The run journal: one JSON object per line, appended, flushed and fsync'd per event, so a
``kill -9`` loses at most the line being written (a torn last line is ignored on read).

Record format (``"v": 1``)::

    {"v": 1, "event": "run", "run": ID, "status": "started" | "resumed" | "ok" | "failed",
     "ts": UTC-ISO-8601, "plan": PATH, "workflow": NAME, "vars": {...}, "workdir": PATH}
    {"v": 1, "event": "step", "run": ID, "step": STEP-ID, "type": STEP-TYPE, "vm": NAME|null,
     "site": ROLE|null, "status": "running" | "ok" | "failed" | "skipped-dependency-failed",
     "start": UTC-ISO-8601|null, "end": UTC-ISO-8601|null, "attempt": N,
     "output": {...}|null, "error": MESSAGE|null}

A step's ``running`` line is its intent; ``ok``/``failed`` its outcome. The timing model reads
``ok`` lines (``end - start`` per ``type``); ``drkit runs resume`` reads the latest line per step.
Journals live in ``<runs dir>/<run id>/journal.jsonl``; the runs dir is ``$DRKIT_RUNS_DIR`` or
``~/.local/state/drkit/runs``.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.executor.errors import RunBusy, RunNotFound

LOCK_GRACE_S = 2.0


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def runs_dir(explicit: str | Path | None = None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("DRKIT_RUNS_DIR")
    return Path(env) if env else Path.home() / ".local" / "state" / "drkit" / "runs"


class Journal:
    """Append-only, fsync'd JSON lines for one run; the values in ``secrets`` (secret template
    variables) never reach the file. The process writing it holds an exclusive
    lock on it (the kernel drops the lock when that process dies, even by ``kill -9``): a second
    executor of the same run is refused with :class:`RunBusy` before it writes anything."""

    def __init__(self, path: Path, secrets: Iterable[str] = ()) -> None:
        self.path = path
        self.secrets = sorted((s for s in secrets if s), key=len, reverse=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if not _lock(self._fd, LOCK_GRACE_S):
            os.close(self._fd)
            raise RunBusy(f"run '{path.parent.name}' is still running (pid "
                          f"{_last_pid(path)}): wait for it to end, or stop that process "
                          f"first")

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps({"v": 1, **record}, separators=(",", ":"), default=str)
        for secret in self.secrets:  # e.g. a secret variable echoed by a failing callout
            line = line.replace(json.dumps(secret)[1:-1], "********")
        os.write(self._fd, (line + "\n").encode())
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """Every complete record of a journal; a torn or foreign line is skipped."""
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("v") == 1:
                yield record


def _lock(fd: int, grace_s: float) -> bool:
    """Take the exclusive lock, waiting up to ``grace_s``: a process killed a moment ago (and
    children it was forking) may not have let go of it yet."""
    deadline = time.monotonic() + grace_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def is_running(path: Path) -> bool:
    """True while some process holds the journal's lock (it is executing the run)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _last_pid(path: Path) -> str:
    pids = [e["pid"] for e in read_events(path) if e.get("event") == "run" and "pid" in e]
    return str(pids[-1]) if pids else "unknown"


def read_run(root: Path, run_id: str) -> tuple[Path, list[dict[str, Any]], dict[str, Any]]:
    """Run ``run_id``'s journal path, its records and its header (the first ``run`` record);
    RunNotFound when there is no journal or it has no header."""
    path = root / run_id / "journal.jsonl"
    if not path.is_file():
        raise RunNotFound(f"no run '{run_id}' in {root}")
    events = list(read_events(path))
    header = next((e for e in events if e.get("event") == "run"), None)
    if header is None:
        raise RunNotFound(f"run '{run_id}': journal has no header")
    return path, events, header


def all_journals(root: Path) -> list[Path]:
    return sorted(root.glob("*/journal.jsonl")) if root.is_dir() else []
