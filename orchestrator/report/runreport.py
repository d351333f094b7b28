"""A run report's context, from a journal as it stands (the run may still be going). Pure.

Journal records are described in :mod:`orchestrator.executor.journal`. The latest record per
step gives its status; steps of the plan's graph with no record yet are ``pending``. A run is
finished when its latest ``run`` record is an outcome (ok, ok-with-errors, failed) rather than
``started``/``resumed``.

The measured RTO is the run's duration only when the run recovered everything: it finished, and
no step failed (but those whose failure is ignored), was skipped or never ran. Otherwise
``measured_rto_seconds`` is None, ``rto_not_measured`` says why, and ``elapsed_seconds`` still
says how long the run took (schema ``drkit.run-report/2``; /1 gave that time as the RTO).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.executor.journal import parse_time, utcnow
from orchestrator.plan.model import Plan
from orchestrator.report import timeline as tl
from orchestrator.report.redact import mask_vars
from orchestrator.schedule import DryRun, dry_run
from orchestrator.timing import TimingModel

OPEN = ("started", "resumed")
SCHEMA = "drkit.run-report/2"


@dataclass
class Predicted:
    """The dry run of the run's plan (as it reads now), or the reason there is none."""

    reason: str | None = None
    plan: Plan | None = None
    text: str = ""
    result: DryRun | None = None
    timing: TimingModel = field(default_factory=TimingModel)
    digest: str | None = None  # sha256 of the plan file as it reads now

    @classmethod
    def unavailable(cls, reason: str) -> Predicted:
        return cls(reason=reason)

    @classmethod
    def of(cls, plan: Plan, header: Mapping[str, Any], raw: bytes,
           timing: TimingModel) -> Predicted:
        return cls(None, plan, raw.decode(errors="replace"),
                   dry_run(plan, header["workflow"], timing), timing,
                   hashlib.sha256(raw).hexdigest())

    def changed(self, header: Mapping[str, Any]) -> bool:
        recorded = header.get("plan_sha256")
        return bool(recorded and self.digest and recorded != self.digest)

    def as_dict(self, header: Mapping[str, Any]) -> dict[str, Any]:
        if self.result is None:
            return {"available": False, "reason": self.reason, "rto_seconds": None, "rto": None,
                    "critical_path": [], "plan_changed": None, "timing": "-"}
        learned = sorted(t for t in {s.step.type for s in self.result.slots}
                         if t in self.timing.learned)
        source = (f"learned medians of other runs for {', '.join(learned)}; defaults for the "
                  f"rest" if learned else "default step timings")
        return {"available": True, "reason": None, "rto_seconds": self.result.predicted_rto,
                "rto": iso_duration(self.result.predicted_rto),
                "critical_path": self.result.critical_path,
                "plan_changed": self.changed(header), "timing": source}


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return max((parse_time(end) - parse_time(start)).total_seconds(), 0.0)


def iso_duration(seconds: float | None) -> str | None:
    """ISO 8601 duration (``PT1H2M3.5S``); None stays None."""
    if seconds is None:
        return None
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    head = (f"{int(hours)}H" if hours else "") + (f"{int(minutes)}M" if minutes else "")
    return f"PT{head}{round(secs, 3):g}S" if secs or not head else f"PT{head}"


def latest_steps(events: Sequence[Mapping[str, Any]]) -> tuple[dict[str, dict], Counter]:
    """Latest record per step, and how many times each step was started."""
    latest: dict[str, dict] = {}
    starts: Counter = Counter()
    for ev in events:
        if ev.get("event") == "step" and ev.get("step"):
            latest[ev["step"]] = dict(ev)
            starts[ev["step"]] += ev.get("status") == "running"
    return latest, starts


def error_text(error: str | None, step: str, vm: str | None) -> str | None:
    """A step's error without what the report shows beside it anyway: a leading step id
    (``"power-on:db1: ..."``) and then a leading VM name."""
    if not error:
        return error
    text = error.removeprefix(f"{step}: ")
    return text.removeprefix(f"{vm}: ") if vm else text


def step_row(rec: Mapping[str, Any], starts: int, t0: str | None, now: str) -> dict[str, Any]:
    running = rec.get("status") == "running"
    end = rec.get("end")
    return {"id": rec["step"], "type": rec.get("type"), "vm": rec.get("vm"),
            "site": rec.get("site"), "status": rec.get("status"), "start": rec.get("start"),
            "end": end, "seconds": (took := seconds_between(rec.get("start"),
                                                            now if running else end)),
            "duration": iso_duration(took),
            "offset": seconds_between(t0, rec.get("start")), "attempt": rec.get("attempt", 1),
            "starts": starts, "error": error_text(rec.get("error"), rec["step"], rec.get("vm")),
            "rule": rec.get("rule")}


def pending_rows(predicted: Predicted, seen: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Steps of the plan's graph that have no journal record yet."""
    if predicted.result is None:
        return []
    return [{"id": s.step.id, "type": s.step.type, "vm": s.step.vm, "site": s.step.site,
             "status": "pending", "start": None, "end": None, "seconds": None,
             "duration": None, "offset": None,
             "attempt": 0, "starts": 0, "error": None, "rule": None}
            for s in predicted.result.slots if s.step.id not in seen]


def order_rows(rows: list[dict[str, Any]], predicted: Predicted) -> list[dict[str, Any]]:
    """Started steps by start time, then the rest in the plan's order."""
    rank = {}
    if predicted.result is not None:
        rank = {s.step.id: i for i, s in enumerate(predicted.result.slots)}
    return sorted(rows, key=lambda r: (r["start"] is None, r["start"] or "",
                                       rank.get(r["id"], len(rank)), r["id"]))


def vm_status(statuses: Sequence[str]) -> str:
    for status in ("failed", "skipped-dependency-failed", "running", "pending"):
        if status in statuses:
            return status
    return "ok" if statuses else "no steps"


SKIP_SUFFIX = " did not succeed"  # the executor's error for a step skipped after ``<step>``


def root_cause(row: Mapping[str, Any], by_id: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any]:
    """The failed step at the end of a chain of skips (``b``: "a did not succeed", ...)."""
    seen = set()
    while row["status"] == "skipped-dependency-failed" and row["id"] not in seen:
        seen.add(row["id"])
        before = by_id.get((row["error"] or "").removesuffix(SKIP_SUFFIX))
        if before is None:
            break
        row = before
    return row


def vm_rows(rows: Sequence[Mapping[str, Any]], predicted: Predicted) -> list[dict[str, Any]]:
    """Per VM: overall result, the step that decided it (for a skipped VM, the failed step that
    made it skip), and when its last step ended."""
    names = [vm.name for vm in predicted.plan.vms] if predicted.plan else []
    names += sorted({r["vm"] for r in rows if r["vm"] and r["vm"] not in names})
    by_id = {r["id"]: r for r in rows}
    out = []
    for name in names:
        mine = [r for r in rows if r["vm"] == name]
        status = vm_status([r["status"] for r in mine])
        cause = next((r for r in mine if r["status"] == status and r["error"]), None)
        cause = root_cause(cause, by_id) if cause else None
        ends = [r["offset"] + r["seconds"] for r in mine
                if r["status"] == "ok" and r["offset"] is not None and r["seconds"] is not None]
        out.append({"name": name, "status": status, "steps": len(mine),
                    "step": cause["id"] if cause else None,
                    "error": cause["error"] if cause else None,
                    "ready_after": max(ends) if status == "ok" and ends else None})
    return out


def warnings_for(rows: Sequence[Mapping[str, Any]], finished: bool,
                 predicted: Mapping[str, Any]) -> list[str]:
    out = []
    if not finished:
        out.append("the run has no final record: it is still going, or the orchestrator "
                   "stopped (then finish it with 'drkit runs resume')")
    if not predicted["available"]:
        out.append(f"no predicted RTO: {predicted['reason']}")
    elif predicted["plan_changed"]:
        out.append("the plan changed since the run started: the prediction is for the plan "
                   "as it reads now")
    for r in rows:
        if r["status"] == "failed" and r["rule"] == "ignore":
            out.append(f"{r['id']} failed and the run went on without it: {r['error']}")
        if (r["attempt"] or 1) > 1:
            out.append(f"{r['id']} needed {r['attempt']} attempts (transient errors)")
        if r["starts"] > 1:
            out.append(f"{r['id']} was started {r['starts']} times (interrupted and resumed)")
        if finished and r["status"] == "running":
            out.append(f"{r['id']} has no recorded outcome")
    return out


def timeline(rows: Sequence[Mapping[str, Any]], span: float, now: str) -> dict[str, Any]:
    """The gantt: a time axis over ``span`` and one bar per started step (a running step's bar
    ends ``now``)."""
    axis = tl.axis(span)
    items = [{"id": r["id"], "status": r["status"], "offset": r["offset"],
              "seconds": r["seconds"], "start": r["start"], "end": r["end"] or now}
             for r in rows if r["offset"] is not None]
    return {**axis, "bars": tl.bars(items, axis["scale"])}


def last_record_time(events: Sequence[Mapping[str, Any]]) -> str | None:
    """The latest time any record of the journal carries."""
    times = [parse_time(t) for e in events for t in (e.get("ts"), e.get("start"), e.get("end"))
             if t]
    return max(times).isoformat(timespec="milliseconds").replace("+00:00", "Z") if times \
        else None


def run_fields(run_id: str, runs: Sequence[Mapping[str, Any]], predicted: Predicted,
               now: str) -> dict[str, Any]:
    """The run as a whole: identity, status, history and how long it ran."""
    header, last = runs[0], runs[-1]
    finished = last.get("status") not in OPEN
    ended = last.get("ts") if finished else None
    return {"schema": SCHEMA, "generated_at": now, "run": run_id, "plan": header.get("plan"),
            "plan_name": predicted.plan.name if predicted.plan else None,
            "workflow": header.get("workflow"), "workdir": header.get("workdir"),
            "vars": mask_vars(header.get("vars") or {}),
            "status": last.get("status") if finished else "in-progress",
            "finished": finished, "started": header.get("ts"), "ended": ended,
            "history": [{"status": e.get("status"), "ts": e.get("ts")} for e in runs],
            "elapsed_seconds": seconds_between(header.get("ts"), ended or now),
            "predicted": predicted.as_dict(header)}


def unrecovered(status: str, rows: Sequence[Mapping[str, Any]],
                vms: Sequence[Mapping[str, Any]]) -> str | None:
    """Why the run measured no RTO (None when it recovered everything): it is still going, it
    was interrupted, or a step failed (beyond those whose failure is ignored), was skipped or
    never ran."""
    if status in ("in-progress", "interrupted"):
        return "the run is still going" if status == "in-progress" else \
            "the run was interrupted before it finished"
    failed = sum(r["status"] == "failed" and r["rule"] != "ignore" for r in rows)
    missed = sum(r["status"] in ("skipped-dependency-failed", "pending") for r in rows)
    if not failed and not missed:
        return None
    ok = sum(v["status"] == "ok" for v in vms)
    head = ("nothing was recovered" if vms and not ok else
            f"{ok} of {len(vms)} VMs recovered" if vms else "the workflow did not complete")
    return f"{head}: {failed} step(s) failed, {missed} did not run"


def rto_fields(out: Mapping[str, Any]) -> dict[str, Any]:
    """The measured RTO (the run's duration, only when it recovered everything) and how it
    compares with the prediction."""
    reason = unrecovered(out["status"], out["steps"], out["vms"])
    measured = None if reason else out["elapsed_seconds"]
    predicted = out["predicted"]["rto_seconds"]
    delta = measured - predicted if None not in (measured, predicted) else None
    return {"measured_rto_seconds": measured, "measured_rto": iso_duration(measured),
            "rto_not_measured": reason, "rto_delta_seconds": delta}


def report_context(run_id: str, events: Sequence[Mapping[str, Any]], predicted: Predicted,
                   now: str | None = None, alive: bool = True) -> dict[str, Any]:
    """Everything a run report shows (also its JSON form): :func:`run_fields`, then per step,
    per VM, errors, warnings, the timeline and the RTO (:func:`rto_fields`). An unfinished run
    that no process executes any more (``alive`` false) is ``interrupted``: its time runs up to
    its last journal record."""
    now = now or utcnow()
    runs = [e for e in events if e.get("event") == "run"]
    if not alive and runs[-1].get("status") in OPEN:
        now = last_record_time(events) or now
    out = run_fields(run_id, runs, predicted, now)
    if not alive and not out["finished"]:
        out["status"] = "interrupted"
    latest, starts = latest_steps(events)
    rows = [step_row(rec, starts[sid], out["started"], now) for sid, rec in latest.items()]
    rows = order_rows(rows + pending_rows(predicted, latest), predicted)
    out.update(counts=dict(sorted(Counter(r["status"] for r in rows).items())), steps=rows,
               vms=vm_rows(rows, predicted),
               errors=[{"step": r["id"], "vm": r["vm"], "error": r["error"], "rule": r["rule"]}
                       for r in rows if r["status"] == "failed"],
               warnings=warnings_for(rows, out["finished"], out["predicted"]),
               timeline=timeline(rows, out["elapsed_seconds"] or 0.0, now))
    out.update(rto_fields(out))
    return out
