"""What earlier runs of a plan left behind, read from their journals.

SRM refuses a second test recovery of a plan while the first is not cleaned up (its test copies
and VMs are still at the recovery site): :func:`active_test` finds such a test, so ``drkit run
--mode test`` can refuse in the same way before it changes anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.executor.journal import all_journals, is_running, read_events


def _summary(path: Path) -> dict[str, Any] | None:
    """The run's header, with ``status``: its last word, or running/interrupted."""
    runs = [e for e in read_events(path) if e.get("event") == "run"]
    if not runs:
        return None
    status = runs[-1].get("status")
    if status in ("started", "resumed"):
        status = "running" if is_running(path) else "interrupted"
    return {**runs[0], "run": path.parent.name, "status": status}


def active_test(root: Path, plan_name: str) -> dict[str, Any] | None:
    """The plan's latest test recovery if no successful cleanup followed it (or the latest
    cleanup, if that one did not succeed); ``None`` when a test may start."""
    runs = [r for r in map(_summary, all_journals(root))
            if r is not None and r.get("plan_name") == plan_name]
    active = None
    for run in sorted(runs, key=lambda r: (r.get("ts") or "", r["run"])):  # by start time
        if run.get("workflow") == "test":
            active = run
        elif run.get("workflow") == "cleanup":
            active = None if run["status"] == "ok" else run
    return active
