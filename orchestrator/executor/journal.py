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

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


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
    """Append-only, fsync'd JSON lines for one run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps({"v": 1, **record}, separators=(",", ":"), default=str) + "\n"
        os.write(self._fd, line.encode())
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


def all_journals(root: Path) -> list[Path]:
    return sorted(root.glob("*/journal.jsonl")) if root.is_dir() else []
