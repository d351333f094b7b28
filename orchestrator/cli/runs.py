"""``drkit run`` (real execution) and ``drkit runs list|resume|report``."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TaskID

from orchestrator.cli.report import report
from orchestrator.executor.errors import RunChanged, RunNotFound, TestActive
from orchestrator.executor.history import active_test
from orchestrator.executor.journal import (
    Journal,
    is_running,
    read_events,
    read_run,
    runs_dir,
    utcnow,
)
from orchestrator.executor.run import Executor, RunResult, missing_ports
from orchestrator.graph import build_workflow
from orchestrator.plan.load import load_plan, parse_vars
from orchestrator.plan.model import Plan
from orchestrator.ports.errors import PortsNotWired
from orchestrator.report.redact import MASK, redact_vars, secret_vars
from orchestrator.steps.base import RunContext
from orchestrator.wiring import live_ports


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def plan_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _prompt(message: str, timeout: float) -> bool:
    return click.confirm(f"\n{message}\nDone?", default=False)


def make_context(plan: Plan, mode: str, run_id: str, workdir: Path) -> RunContext:
    storage, vsphere = live_ports(plan)
    return RunContext(plan, mode, run_id, storage, vsphere, workdir=workdir,
                      prompt=_prompt if sys.stdin.isatty() else None,
                      poll_interval=float(os.environ.get("DRKIT_POLL_INTERVAL", "2.0")))


def start_run(plan_path: str, plan: Plan, mode: str, variables: dict[str, Any], root: Path,
              as_json: bool) -> int:
    """Check the ports, open a journal and execute; returns the exit code."""
    if mode == "test":
        _refuse_second_test(plan, root)
    graph = build_workflow(plan, mode)
    run_id = new_run_id()
    ctx = make_context(plan, mode, run_id, Path.cwd())
    missing = missing_ports(graph, ctx)
    if missing:
        raise PortsNotWired(f"cannot run workflow '{mode}' for real yet: {missing}. The SRA "
                            f"and vSphere adapters are not wired into 'drkit run'; use "
                            f"--dry-run. No journal was created and nothing was changed.")
    journal = Journal(root / run_id / "journal.jsonl", _secret_values(variables))
    journal.write({"event": "run", "run": run_id, "status": "started", "ts": utcnow(),
                   "plan": str(Path(plan_path).resolve()), "plan_name": plan.name,
                   "workflow": mode,
                   "plan_sha256": plan_digest(plan_path), "pid": os.getpid(),
                   "vars": redact_vars(variables), "secret_vars": sorted(secret_vars(variables)),
                   "workdir": str(ctx.workdir)})
    return _execute(graph, ctx, journal, {}, as_json)


def _refuse_second_test(plan: Plan, root: Path) -> None:
    """SRM's rule: a test recovery must be cleaned up before the plan is tested again."""
    active = active_test(root, plan.name)
    if active is None:
        return
    what = "test recovery" if active["workflow"] == "test" else "cleanup"
    raise TestActive(f"plan '{plan.name}' has a {what} that has not been cleaned up (run "
                     f"{active['run']}: {active['status']}): run 'drkit run --mode cleanup' "
                     f"first. Nothing was changed.")


def _execute(graph, ctx: RunContext, journal: Journal, prior: dict, as_json: bool) -> int:
    console = Console(stderr=as_json, emoji=False)
    console.print(f"run {ctx.run_id}: {ctx.workflow} of plan '{ctx.plan.name}' "
                  f"(resume with: drkit runs resume {ctx.run_id})", highlight=False)
    total = sum(1 for n in graph if not n.startswith("phase:"))
    with Progress(console=console) as progress:
        task = progress.add_task(ctx.workflow, total=total,
                                 completed=sum(1 for r in prior.values()
                                               if r.get("status") == "ok"))
        result = Executor(graph, ctx, journal, prior,
                          on_event=_progress(progress, task)).run()
    journal.write({"event": "run", "run": ctx.run_id, "status": result.status, "ts": utcnow()})
    journal.close()
    if as_json:
        click.echo(json.dumps(_result_json(result), indent=2))
    else:
        _print_result(console, result)
    return 0 if result.status == "ok" else 1


def _progress(progress: Progress, task: TaskID):
    """Advance the bar per finished step; print failures and skips as they happen."""
    def show(record: dict) -> None:
        status = record["status"]
        if status == "running":
            progress.update(task, description=f"{record['step']}")
            return
        progress.advance(task)
        if status != "ok":
            colour = "red" if status == "failed" else "yellow"
            error = _error_text(record["step"], record.get("error"))
            progress.console.print(f"  [{colour}]{status}[/{colour}] {escape(record['step'])}: "
                                   f"{escape(error)}", highlight=False)
    return show


def _result_json(result: RunResult) -> dict:
    return {"run": result.run_id, "workflow": result.workflow, "status": result.status,
            "steps": {k: {"status": str(o.status), "start": o.start, "end": o.end,
                          "error": o.error} for k, o in result.outcomes.items()
                      if not k.startswith("phase:")}}


def _print_result(console: Console, result: RunResult) -> None:
    from orchestrator.cli.show import ID, TEXT, Col, id_table

    rows = [[node, str(outcome.status), _outcome_text(node, outcome)]
            for node, outcome in result.outcomes.items() if not node.startswith("phase:")]
    cols = [Col("step", ID), Col("status"), Col("error", TEXT)]
    console.print(id_table(console, f"run {result.run_id}: {result.status}", cols, rows))


def _outcome_text(node: str, outcome) -> str:
    """What the table says of a step: its error, or which step its skip waited on."""
    if str(outcome.status) == "skipped-dependency-failed" and outcome.error:
        return f"{outcome.error} did not succeed"
    return _error_text(node, outcome.error)


def _error_text(step: str, error: str | None) -> str:
    """A step's error without the step id it starts with (the table names the step)."""
    return (error or "").removeprefix(f"{step}: ")


@click.group()
def runs() -> None:
    """List and resume recovery-plan runs (journals)."""


@runs.command()
@click.argument("run_id")
@click.option("--runs-dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True)
@click.option("--force", is_flag=True, help="Resume even if the plan file changed since.")
@click.option("--var", multiple=True, metavar="KEY=VALUE",
              help="A secret template variable of the run, given again (journals keep none).")
def resume(run_id: str, runs_dir: str | None, as_json: bool, force: bool,
           var: tuple[str, ...]) -> None:
    """Finish run RUN_ID: steps already done are not run again."""
    sys.exit(resume_run(run_id, _root(runs_dir), as_json, force, parse_vars(var)))


def _root(explicit: str | None) -> Path:
    return runs_dir(explicit)


def _secret_values(variables: dict[str, Any]) -> list[str]:
    return [str(variables[k]) for k in secret_vars(variables) if variables[k] != MASK]


def _run_vars(run_id: str, header: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The run's template variables: the journal's, with the secret ones given again."""
    missing = sorted(set(header.get("secret_vars") or ()) - set(given))
    if missing:
        raise RunChanged(f"run '{run_id}' was started with secret variables the journal does "
                         f"not keep: give them again with --var ({', '.join(missing)})")
    return {**(header.get("vars") or {}), **given}


def resume_run(run_id: str, root: Path, as_json: bool, force: bool = False,
               given: dict[str, Any] | None = None) -> int:
    path, events, header = read_run(root, run_id)
    prior = {e["step"]: e for e in events if e.get("event") == "step"}
    if not Path(header["plan"]).is_file():
        raise RunNotFound(f"run '{run_id}': plan {header['plan']} no longer exists")
    if not force and header.get("plan_sha256") not in (None, plan_digest(header["plan"])):
        raise RunChanged(f"run '{run_id}': plan {header['plan']} changed since the run started; "
                         f"restore it, or resume with --force")
    variables = _run_vars(run_id, header, given or {})
    journal = Journal(path, _secret_values(variables))  # refuses a run another process runs
    try:
        plan = load_plan(header["plan"], variables)
        graph = build_workflow(plan, header["workflow"])
        ctx = make_context(plan, header["workflow"], run_id, Path(header.get("workdir") or "."))
    except BaseException:
        journal.close()
        raise
    journal.write({"event": "run", "run": run_id, "status": "resumed", "ts": utcnow(),
                   "pid": os.getpid()})
    return _execute(graph, ctx, journal, prior, as_json)


@runs.command(name="list")
@click.option("--runs-dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True)
def list_runs(runs_dir: str | None, as_json: bool) -> None:
    """Runs in the runs directory, newest first."""
    rows = []
    for path in sorted(_root(runs_dir).glob("*/journal.jsonl"), reverse=True):
        runs_ = [e for e in read_events(path) if e.get("event") == "run"]
        if runs_:
            rows.append({"run": path.parent.name, "workflow": runs_[0].get("workflow"),
                         "plan": runs_[0].get("plan"), "started": runs_[0].get("ts"),
                         "status": _status(path, runs_[-1].get("status"))})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    _print_runs(Console(emoji=False), rows)


def _print_runs(console: Console, rows: list[dict]) -> None:
    from orchestrator.cli.show import FIXED, ID, TEXT, Col, id_table

    cols = [Col("run", ID), Col("workflow"), Col("status"), Col("started (UTC)", FIXED),
            Col("plan", TEXT)]
    cells = [[row["run"], str(row["workflow"]), str(row["status"]), _when(row["started"]),
              str(row["plan"])] for row in rows]
    console.print(id_table(console, "runs", cols, cells))


def _when(ts: str | None) -> str:
    """``2026-12-04T21:55:21.123Z`` as ``2026-12-04 21:55:21`` (the table says UTC)."""
    return (ts or "-").replace("T", " ").removesuffix("Z")[:19]


def _status(path: Path, last: str | None) -> str | None:
    """A run whose last word is started/resumed is running, or was interrupted (no process
    holds its journal any more: ``drkit runs resume`` finishes it)."""
    if last in ("started", "resumed"):
        return "running" if is_running(path) else "interrupted"
    return last


runs.add_command(report)
