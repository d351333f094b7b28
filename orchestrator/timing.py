"""Per-step timing model: defaults per step type, replaced by the median of past runs.

The model reads ``ok`` step records of run journals (see :mod:`orchestrator.executor.journal`)
and keeps, per step type, the median of ``end - start``. Phases take no time.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from orchestrator.executor.journal import all_journals, parse_time, read_events
from orchestrator.steps.base import Step

DEFAULTS: dict[str, float] = {
    "phase": 0.0,
    "sync-storage": 60.0,
    "prepare-failover": 10.0,
    "failover": 30.0,
    "test-failover-start": 20.0,
    "test-failover-stop": 15.0,
    "prepare-reverse-replication": 10.0,
    "reverse-replication": 30.0,
    "rescan-mount": 45.0,
    "unmount": 20.0,
    "shutdown-vm": 30.0,
    "power-off-vm": 10.0,
    "prepare-vm-migration": 5.0,
    "unregister-vm": 3.0,
    "register-vm": 10.0,
    "power-on-vm": 10.0,
    "wait-tools": 60.0,
    "protect-vm": 5.0,
    "callout": 10.0,
    "callout-prompt": 120.0,
    "command": 10.0,
    "prompt": 120.0,
}
FALLBACK = 10.0


class TimingModel:
    """Seconds per step type: learned medians first, then defaults."""

    def __init__(self, learned: Mapping[str, float] | None = None,
                 samples: Mapping[str, int] | None = None,
                 defaults: Mapping[str, float] = DEFAULTS) -> None:
        self.learned = dict(learned or {})
        self.samples = dict(samples or {})
        self.defaults = dict(defaults)

    @classmethod
    def from_events(cls, events: Iterable[Mapping[str, Any]]) -> TimingModel:
        durations: dict[str, list[float]] = defaultdict(list)
        for ev in events:
            if ev.get("event") == "step" and ev.get("status") == "ok" and ev.get("start") \
                    and ev.get("end"):
                seconds = (parse_time(ev["end"]) - parse_time(ev["start"])).total_seconds()
                durations[ev["type"]].append(max(seconds, 0.0))
        return cls({t: statistics.median(d) for t, d in durations.items()},
                   {t: len(d) for t, d in durations.items()})

    @classmethod
    def from_runs(cls, root: Path) -> TimingModel:
        """Learn from every journal under ``root`` (a runs directory)."""
        return cls.from_events(ev for path in all_journals(root) for ev in read_events(path))

    def seconds(self, step_type: str) -> float:
        if step_type in self.learned:
            return self.learned[step_type]
        return self.defaults.get(step_type, FALLBACK)

    def duration(self, step: Step) -> float:
        return self.seconds(step.type)

    def source(self, step_type: str) -> str:
        n = self.samples.get(step_type)
        return f"median of {n}" if n else "default"
