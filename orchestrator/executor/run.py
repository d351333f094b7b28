"""Run a workflow DAG: bounded concurrency per site and per host, per-step timeouts, retries
(tenacity) for transient errors only, the workflow's error policy, and a journal.

One scheduler thread (the caller's) decides and journals; worker threads only run steps. Before a
step starts its intent (``running``) is journalled; after, its outcome. On resume
(``prior`` = the journal's latest record per step) ``ok`` steps are not run again, and a step
whose intent has no outcome is checked (``already_done``), re-run if idempotent, or failed as
outcome-unknown: no side effect is applied twice.

Failures follow ``Step.on_failure``: STOP ends the run (nothing new starts), BLOCK skips the
step's dependents (phase barriers still pass, so other VMs go on), IGNORE lets dependents run.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import tenacity

from orchestrator.executor.journal import Journal, utcnow
from orchestrator.ports.errors import OutcomeUnknown, PortsNotWired, StepTimeout
from orchestrator.steps.base import OnFailure, RunContext, Status, Step

GRACE = 5.0  # seconds past a step's own timeout before the watchdog gives up on it


@dataclass
class StepOutcome:
    step: str
    status: Status
    start: str | None = None
    end: str | None = None
    error: str | None = None
    rule: OnFailure | None = None


@dataclass
class RunResult:
    run_id: str
    workflow: str
    status: str  # "ok", "ok-with-errors" (failures did not stop the run) or "failed"
    outcomes: dict[str, StepOutcome] = field(default_factory=dict)

    def failed(self) -> list[StepOutcome]:
        return [o for o in self.outcomes.values() if o.status == Status.FAILED]


def missing_ports(graph: nx.DiGraph, ctx: RunContext, skip: set[str] = frozenset()) -> str:
    """A message naming the ports (and some steps needing them) that ``ctx`` lacks; '' if none."""
    have = {"storage": ctx.storage, "vsphere": ctx.vsphere}
    lacking: dict[str, list[str]] = {}
    for node, data in graph.nodes(data=True):
        step = data["step"]
        for port in step.needs:
            if node not in skip and step.site not in have[port]:
                lacking.setdefault(f"{port} port for the {step.site} site", []).append(node)
    return "; ".join(f"no {what} (needed by {', '.join(nodes[:3])}"
                     f"{f' and {len(nodes) - 3} more' if len(nodes) > 3 else ''})"
                     for what, nodes in sorted(lacking.items()))


class Executor:
    def __init__(self, graph: nx.DiGraph, ctx: RunContext, journal: Journal,
                 prior: Mapping[str, Mapping[str, Any]] | None = None,
                 max_workers: int | None = None,
                 on_event: Callable[[dict], None] | None = None, grace: float = GRACE) -> None:
        self.graph, self.ctx, self.journal = graph, ctx, journal
        self.opts = ctx.plan.options
        self.order: list[str] = graph.graph.get("order") or list(nx.topological_sort(graph))
        self.rank = {n: i for i, n in enumerate(self.order)}
        self.steps: dict[str, Step] = {n: graph.nodes[n]["step"] for n in self.order}
        self.outcomes: dict[str, StepOutcome] = {}
        self.interrupted: set[str] = set()
        self.max_workers = max_workers or min(64, 2 * self.opts.per_site)
        self.on_event, self.grace = on_event, grace
        self._restore(prior or {})

    # -- journal --------------------------------------------------------------------------
    def _restore(self, prior: Mapping[str, Mapping[str, Any]]) -> None:
        for node, rec in prior.items():
            if node not in self.steps:
                continue
            if rec.get("status") == Status.OK:
                self.outcomes[node] = StepOutcome(node, Status.OK, rec.get("start"),
                                                  rec.get("end"))
                self.steps[node].status = Status.OK
                if rec.get("output") is not None:
                    self.ctx.outputs[node] = rec["output"]
            elif rec.get("status") == Status.RUNNING:
                self.interrupted.add(node)

    def _record(self, step: Step, status: Status, **extra: Any) -> None:
        step.status = status
        record = {"event": "step", "run": self.ctx.run_id, "step": step.id, "type": step.type,
                  "vm": step.vm, "site": step.site, "status": str(status), **extra}
        self.journal.write(record)
        if self.on_event:
            self.on_event(record)

    # -- running one step (worker thread) -----------------------------------------------------
    def _execute(self, step: Step, interrupted: bool) -> tuple[Any, int]:
        if interrupted:
            if step.already_done(self.ctx):
                return {"checked": "already done before the interruption"}, 0
            if not step.idempotent:
                raise OutcomeUnknown(step.id, "interrupted after it started and it cannot "
                                              "check its own effect; check by hand, then add "
                                              "'creates:' or 'idempotent: true'")
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.opts.retries + 1),
            wait=tenacity.wait_exponential(multiplier=0.2, max=10),
            retry=tenacity.retry_if_exception(lambda e: getattr(e, "transient", False)),
            reraise=True)
        output = retrying(step.run, self.ctx)
        return output, retrying.statistics.get("attempt_number", 1)

    # -- scheduling (caller's thread) ---------------------------------------------------
    def run(self) -> RunResult:
        missing = missing_ports(self.graph, self.ctx, set(self.outcomes))
        if missing:
            raise PortsNotWired(f"cannot run workflow '{self.ctx.workflow}' for real: {missing}")
        self.waiting = {n: sum(1 for p in self.graph.predecessors(n) if p not in self.outcomes)
                        for n in self.order if n not in self.outcomes}
        self.ready = [n for n, k in self.waiting.items() if k == 0]
        self.running: dict[Future, tuple[str, float, str]] = {}
        self.used: Counter[str] = Counter()
        self.blocked: dict[str, list[tuple[int, str]]] = {}  # full key → heap of (rank, node)
        self.stopped_by: str | None = None
        pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="drkit-step")
        try:
            self._loop(pool)
        finally:  # do not wait for a step the watchdog gave up on
            pool.shutdown(wait=False, cancel_futures=True)
        return self._result()

    def _loop(self, pool: ThreadPoolExecutor) -> None:
        while True:
            if self.stopped_by is None:
                self._start_ready(pool)
            if not self.running:
                return
            deadline = min(d for _, d, _ in self.running.values())
            done, _ = wait(list(self.running), timeout=max(0.0, deadline - time.monotonic()),
                           return_when=FIRST_COMPLETED)
            for future in done:
                self._finish(future)
            self._watchdog()

    def _keys(self, step: Step) -> list[str]:
        return [k for k in (step.site and f"site:{step.site}", step.host and f"host:{step.host}")
                if k]

    def _full(self, step: Step) -> str | None:
        """The first concurrency key (site or host) with no free slot for ``step``."""
        limits = {"site": self.opts.per_site, "host": self.opts.per_host}
        return next((k for k in self._keys(step)
                     if self.used[k] >= limits[k.partition(":")[0]]), None)

    def _release(self, step: Step) -> None:
        for key in self._keys(step):
            self.used[key] -= 1

    def _unblock(self) -> bool:
        """Make ready the best step waiting on each key that has a free slot again."""
        limits = {"site": self.opts.per_site, "host": self.opts.per_host}
        moved = False
        for key, heap in self.blocked.items():
            if heap and self.used[key] < limits[key.partition(":")[0]]:
                self.ready.append(heapq.heappop(heap)[1])
                moved = True
        return moved

    def _start_ready(self, pool: ThreadPoolExecutor) -> None:
        """Start what may start; a step that would exceed a limit waits on that key. Ends when
        nothing moves (a step only ever moves towards a key that is full, so this ends)."""
        while self.stopped_by is None and (self.ready or self._unblock()):
            self.ready.sort(key=self.rank.__getitem__, reverse=True)
            while self.ready and self.stopped_by is None:
                node = self.ready.pop()
                step = self.steps[node]
                if step.type == "phase":
                    self._settle(node, StepOutcome(node, Status.OK))
                elif key := self._full(step):
                    heapq.heappush(self.blocked.setdefault(key, []), (self.rank[node], node))
                else:
                    self._submit(pool, step)

    def _submit(self, pool: ThreadPoolExecutor, step: Step) -> None:
        self.used.update(self._keys(step))
        start = utcnow()
        self._record(step, Status.RUNNING, start=start, end=None)
        limit = (step.timeout or self.opts.step_timeout) * (self.opts.retries + 1) + self.grace
        future = pool.submit(self._execute, step, step.id in self.interrupted)
        self.running[future] = (step.id, time.monotonic() + limit, start)

    def _finish(self, future: Future) -> None:
        node, _, start = self.running.pop(future)
        step = self.steps[node]
        self._release(step)
        try:
            output, attempts = future.result()
        except Exception as exc:  # a step's failure, whatever its kind, is data here
            self._failed(step, start, exc)
            return
        end = utcnow()
        self._record(step, Status.OK, start=start, end=end, attempt=attempts, output=output)
        if output is not None:
            self.ctx.outputs[node] = output
        self._settle(node, StepOutcome(node, Status.OK, start, end))

    def _watchdog(self) -> None:
        now = time.monotonic()
        for future, (node, deadline, start) in list(self.running.items()):
            if now >= deadline:  # the thread cannot be killed; its late result is dropped
                del self.running[future]
                self._release(self.steps[node])
                self._failed(self.steps[node], start, StepTimeout(node, "did not finish"))

    def _failed(self, step: Step, start: str, exc: BaseException) -> None:
        rule = step.on_failure(self.ctx.workflow, self.opts)
        end, message = utcnow(), str(exc) or type(exc).__name__
        self._record(step, Status.FAILED, start=start, end=end, error=message, rule=str(rule))
        if rule is OnFailure.STOP and self.stopped_by is None:
            self.stopped_by = step.id
        self._settle(step.id, StepOutcome(step.id, Status.FAILED, start, end, message, rule))

    def _settle(self, node: str, outcome: StepOutcome) -> None:
        """Record ``outcome`` and release (or skip, transitively) what waited on ``node``."""
        todo = [(node, outcome)]
        while todo:
            node, outcome = todo.pop()
            self.outcomes[node] = outcome
            blocks = outcome.status == Status.SKIPPED or outcome.rule is OnFailure.BLOCK
            for succ in self.graph.successors(node):
                if succ in self.outcomes:
                    continue
                if blocks and self.steps[succ].type != "phase":
                    self._record(self.steps[succ], Status.SKIPPED, start=None, end=None,
                                 error=f"{node} did not succeed")
                    self.outcomes[succ] = StepOutcome(succ, Status.SKIPPED, error=node)
                    todo.append((succ, self.outcomes[succ]))
                    continue
                self.waiting[succ] -= 1
                if self.waiting[succ] == 0:
                    self.ready.append(succ)

    def _result(self) -> RunResult:
        complete = len(self.outcomes) == len(self.order)
        clean = all(o.status == Status.OK for o in self.outcomes.values())
        status = "failed" if self.stopped_by or not complete else (
            "ok" if clean else "ok-with-errors")
        return RunResult(self.ctx.run_id, self.ctx.workflow, status, self.outcomes)
