"""Rendering for the plan commands: rich tables for people, JSON for programs."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from orchestrator.plan.errors import Issue
from orchestrator.plan.load import Checked
from orchestrator.schedule import DryRun
from orchestrator.timing import TimingModel


def clock(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def issue_json(issue: Issue) -> dict[str, str]:
    return {"path": issue.path, "message": issue.message, "severity": issue.severity}


def checked_json(path: str, checked: Checked) -> dict[str, Any]:
    plan = checked.plan
    return {"plan": path, "valid": not checked.errors,
            "name": plan.name if plan else None,
            "vms": len(plan.vms) if plan else 0,
            "errors": [issue_json(i) for i in checked.errors],
            "warnings": [issue_json(i) for i in checked.warnings]}


def print_checked(console: Console, path: str, checked: Checked) -> None:
    for issue in checked.errors:
        console.print(f"[red]error[/red]   {escape(str(issue))}", highlight=False,
                      soft_wrap=True)
    for issue in checked.warnings:
        console.print(f"[yellow]warning[/yellow] {escape(str(issue))}", highlight=False,
                      soft_wrap=True)
    if checked.errors:
        console.print(f"{path}: {len(checked.errors)} error(s), "
                      f"{len(checked.warnings)} warning(s)", soft_wrap=True)
        return
    plan = checked.plan
    console.print(f"[green]valid[/green]   {path}: plan '{plan.name}', {len(plan.vms)} VMs, "
                  f"{len(plan.protection_groups)} protection group(s), "
                  f"{len(checked.warnings)} warning(s)", soft_wrap=True)


def dryrun_json(result: DryRun, timing: TimingModel) -> dict[str, Any]:
    return {
        "workflow": result.workflow,
        "predicted_rto_seconds": result.predicted_rto,
        "critical_path_seconds": result.critical_seconds,
        "critical_path": result.critical_path,
        "steps": [{"id": s.step.id, "type": s.step.type, "site": s.step.site, "vm": s.step.vm,
                   "wave": s.wave, "start": s.start, "end": s.end,
                   "description": s.step.describe()} for s in result.slots],
        "waves": [{"wave": i, "start": w[0].start, "steps": [s.step.id for s in w]}
                  for i, w in enumerate(result.waves)],
        "timing": {t: {"seconds": timing.seconds(t), "source": timing.source(t)}
                   for t in sorted({s.step.type for s in result.slots})},
    }


def print_dryrun(console: Console, result: DryRun, timing: TimingModel,
                 limit: int | None) -> None:
    steps = Table(title=f"Dry run: {result.workflow} (no side effect)")
    for col in ("wave", "start", "secs", "step", "site", "what"):
        steps.add_column(col, justify="right" if col in ("wave", "start", "secs") else "left")
    shown = result.slots if limit is None else result.slots[:limit]
    for s in shown:
        steps.add_row(str(s.wave), clock(s.start), f"{s.end - s.start:g}", s.step.id,
                      s.step.site or "-", s.step.describe())
    console.print(steps)
    if len(shown) < len(result.slots):
        console.print(f"... {len(result.slots) - len(shown)} more steps (use --all)")
    _print_waves(console, result, limit)
    console.print(f"critical path ({clock(result.critical_seconds)}): "
                  f"{' → '.join(result.critical_path)}", highlight=False)
    learned = sorted(t for t in {s.step.type for s in result.slots} if t in timing.learned)
    source = f"learned medians for {', '.join(learned)}" if learned else "default step timings"
    console.print(f"[bold]predicted RTO {clock(result.predicted_rto)}[/bold] "
                  f"({len(result.slots)} steps in {len(result.waves)} waves; {source})")


def _print_waves(console: Console, result: DryRun, limit: int | None) -> None:
    table = Table(title="Parallel waves")
    for col in ("wave", "start", "steps", "types"):
        table.add_column(col)
    waves = result.waves if limit is None else result.waves[:limit]
    for i, wave in enumerate(waves):
        table.add_row(str(i), clock(wave[0].start), str(len(wave)), result.wave_summary(wave))
    console.print(table)
    if len(waves) < len(result.waves):
        console.print(f"... {len(result.waves) - len(waves)} more waves (use --all)")
