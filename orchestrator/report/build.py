"""The I/O around the pure contexts: read plans and journals, pick timings, render, redact."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestrator.executor.journal import all_journals, is_running, read_events, read_run
from orchestrator.plan.errors import Issue, PlanError, PlanInvalid
from orchestrator.plan.live import LiveInventory
from orchestrator.plan.load import check_text
from orchestrator.plan.model import WORKFLOWS, Plan
from orchestrator.report import redact, render
from orchestrator.report.runbook import runbook_context
from orchestrator.report.runreport import Predicted, report_context
from orchestrator.timing import TimingModel


def load_for_runbook(path: str | Path, variables: Mapping[str, Any],
                     live: LiveInventory | None) -> tuple[Plan, list[Issue], str]:
    """The plan, the issues to show (warnings, and drift against ``live``) and its text.
    PlanInvalid when the plan itself (not the live sites) is wrong."""
    text = Path(path).read_text()
    checked = check_text(text, variables, str(path), live)
    if checked.errors and live is not None:
        alone = check_text(text, variables, str(path))
        if alone.plan is not None and not alone.errors:
            return alone.plan, checked.issues, text
    if checked.plan is None or checked.errors:
        raise PlanInvalid(checked.issues)
    return checked.plan, checked.issues, text


def build_runbook(path: str | Path, variables: Mapping[str, Any], fmt: str,
                  workflows: Sequence[str] = WORKFLOWS, live: LiveInventory | None = None,
                  runs_dir: str | Path | None = None) -> str:
    """The runbook of the plan at ``path`` as ``fmt`` (md or html)."""
    plan, issues, text = load_for_runbook(path, variables, live)
    timing = TimingModel.from_runs(Path(runs_dir)) if runs_dir else TimingModel()
    context = runbook_context(plan, workflows, timing, live, issues, variables)
    return render.render("runbook", fmt, context, redact.for_plan(plan, text))


def timing_without(root: Path, run_id: str) -> TimingModel:
    """Timings learned from every journal under ``root`` except run ``run_id``'s own."""
    events = (ev for path in all_journals(root) if path.parent.name != run_id
              for ev in read_events(path))
    return TimingModel.from_events(events)


def predict(header: Mapping[str, Any], root: Path, run_id: str) -> Predicted:
    """The dry run of the run's plan and workflow, or why there is none."""
    plan_path = header.get("plan")
    if not plan_path or not Path(plan_path).is_file():
        return Predicted.unavailable(f"the plan {plan_path or '?'} is no longer readable")
    raw = Path(plan_path).read_bytes()
    try:
        checked = check_text(raw.decode(errors="replace"), header.get("vars") or {},
                             str(plan_path))
        if checked.plan is None or checked.errors:
            first = checked.errors[0] if checked.errors else "cannot be loaded"
            return Predicted.unavailable(f"the plan {plan_path} is now invalid: {first}")
        return Predicted.of(checked.plan, header, raw, timing_without(root, run_id))
    except PlanError as exc:
        return Predicted.unavailable(f"the plan {plan_path} cannot be dry-run now: {exc}")


def build_report(run_id: str, root: Path, fmt: str) -> str:
    """The report of run ``run_id`` (read as the journal stands) as html, md or json."""
    path, events, header = read_run(root, run_id)
    predicted = predict(header, root, run_id)
    context = report_context(run_id, events, predicted, alive=is_running(path))
    redactor = redact.for_plan(predicted.plan, predicted.text)
    if fmt == "json":
        return json.dumps(redactor.deep(context), indent=2) + "\n"
    return render.render("report", fmt, context, redactor)
