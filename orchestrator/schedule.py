"""Dry run: schedule a workflow DAG on paper. Nothing here calls a step's ``run`` or a port, so a
dry run has no side effect by construction (it is a separate, read-only path).

The schedule is a list-scheduling simulation: a step starts when its prerequisites are done and
its site and host have a free slot (``options.concurrency``); among ready steps the one with the
longest remaining path goes first. Durations come from :class:`~orchestrator.timing.TimingModel`.
The predicted RTO is the simulated makespan; the critical path ignores concurrency limits.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, NamedTuple

from orchestrator.gcpause import no_gc
from orchestrator.graph.dag import Dag
from orchestrator.graph.workflows import build_dag
from orchestrator.plan.live import LiveInventory
from orchestrator.plan.model import Options, Plan
from orchestrator.steps.base import Step
from orchestrator.timing import TimingModel

if TYPE_CHECKING:  # networkx loads only when a graph is wanted
    import networkx as nx


class Slot(NamedTuple):
    """One step placed in time (seconds from the start of the run)."""

    step: Step
    start: float
    end: float
    wave: int  # steps of one wave start together

@dataclass
class DryRun:
    workflow: str
    slots: list[Slot]  # real steps (no phase barriers), in start order
    critical_path: list[str]
    critical_seconds: float
    predicted_rto: float
    waves: list[list[Slot]] = field(default_factory=list)
    dag: Dag | None = field(default=None, repr=False)  # the workflow DAG that was scheduled

    @cached_property
    def graph(self) -> nx.DiGraph | None:
        """The scheduled DAG as networkx (built on first use: the dry run itself needs none)."""
        return self.dag.graph() if self.dag is not None else None

    def wave_summary(self, wave: list[Slot]) -> str:
        counts = Counter(s.step.type for s in wave)
        return ", ".join(f"{t} x{n}" for t, n in counts.most_common())


def dry_run(plan: Plan, workflow: str, timing: TimingModel | None = None,
            live: LiveInventory | None = None) -> DryRun:
    with no_gc():
        return schedule(build_dag(plan, workflow, live), plan, timing or TimingModel())


def schedule(dag: Dag, plan: Plan, timing: TimingModel) -> DryRun:
    steps, succ = dag.steps, dag.successors()
    per_type = {t: timing.seconds(t) for t in {s.type for s in steps}}
    dur = [per_type[s.type] for s in steps]
    path, length = _critical_path(steps, succ, dur)
    starts = _simulate(succ, dur, _bottom_levels(succ, dur), *_resources(steps, plan.options))
    slots = _to_slots(starts, steps, dur)
    rto = max((s.end for s in slots), default=0.0)
    return DryRun(dag.workflow, slots, path, length, rto, _waves(slots), dag)


def _bottom_levels(succ: list[list[int]], dur: list[float]) -> list[float]:
    level = [0.0] * len(dur)
    for i in range(len(dur) - 1, -1, -1):
        targets = succ[i]
        level[i] = dur[i] + (max(map(level.__getitem__, targets)) if targets else 0.0)
    return level


def _critical_path(steps: list[Step], succ: list[list[int]],
                   dur: list[float]) -> tuple[list[str], float]:
    finish, prev = [0.0] * len(dur), [-1] * len(dur)
    for i, targets in enumerate(succ):
        done = finish[i] = finish[i] + dur[i]
        for j in targets:
            if done > finish[j]:
                finish[j], prev[j] = done, i
    if not dur:
        return [], 0.0
    last = max(range(len(dur)), key=finish.__getitem__)
    path = []
    while last >= 0:
        path.append(steps[last].id)
        last = prev[last]
    return [n for n in reversed(path) if not n.startswith("phase:")], max(finish)


def _resources(steps: list[Step], options: Options) -> tuple[list[tuple[int, ...]], list[int]]:
    """Concurrency slots: per step the counters it holds while it runs (its site's, then its
    host's; none for a phase), and each counter's limit."""
    counters: dict[tuple[str, str], int] = {}
    limit: list[int] = []

    def counter(kind: str, name: str, most: int) -> int:
        if (kind, name) not in counters:
            counters[kind, name] = len(limit)
            limit.append(most)
        return counters[kind, name]

    held: dict[tuple[str | None, str | None], tuple[int, ...]] = {}
    keys = []
    for step in steps:
        where = (None, None) if step.type == "phase" else (step.site, step.host)
        if where not in held:
            held[where] = tuple(counter(kind, name, most) for kind, name, most in
                                (("s", where[0], options.per_site),
                                 ("h", where[1], options.per_host)) if name)
        keys.append(held[where])
    return keys, limit


def _simulate(succ: list[list[int]], dur: list[float], level: list[float],
              keys: list[tuple[int, ...]], limit: list[int]) -> list[float]:
    """List scheduling; each step's start. Heap entries are ranks: the step with the longest
    remaining path first, then the earliest in dependency order."""
    by_rank = sorted(range(len(dur)), key=level.__getitem__, reverse=True)  # ties by position
    rank = [0] * len(dur)
    for r, i in enumerate(by_rank):
        rank[i] = r
    indeg = [0] * len(dur)
    for targets in succ:
        for j in targets:
            indeg[j] += 1
    ready = [rank[i] for i, d in enumerate(indeg) if not d]
    heapq.heapify(ready)
    push, pop = heapq.heappush, heapq.heappop
    running: list[tuple[float, int]] = []
    free, blocked = list(limit), [[] for _ in limit]
    starts, now = [0.0] * len(dur), 0.0
    while ready or running:
        while ready:
            r = pop(ready)
            i = by_rank[r]
            held = keys[i]
            for key in held:
                if not free[key]:
                    push(blocked[key], r)
                    break
            else:
                for key in held:
                    free[key] -= 1
                starts[i] = now
                push(running, (now + dur[i], i))
        now, i = pop(running)
        for key in keys[i]:
            free[key] += 1
            if blocked[key]:
                push(ready, pop(blocked[key]))
        for j in succ[i]:
            indeg[j] -= 1
            if not indeg[j]:
                push(ready, rank[j])
    return starts


def _to_slots(starts: list[float], steps: list[Step], dur: list[float]) -> list[Slot]:
    """Real steps only (phases left out), in start order, numbered into waves."""
    real = [i for i, step in enumerate(steps) if step.type != "phase"]
    real.sort(key=starts.__getitem__)  # stable: ties in dependency order
    out, wave, last_start = [], -1, None
    for i in real:
        start = starts[i]
        if start != last_start:
            wave, last_start = wave + 1, start
        out.append(Slot(steps[i], start, start + dur[i], wave))
    return out


def _waves(slots: list[Slot]) -> list[list[Slot]]:
    waves: list[list[Slot]] = []
    for slot in slots:
        if slot.wave == len(waves):
            waves.append([])
        waves[slot.wave].append(slot)
    return waves
