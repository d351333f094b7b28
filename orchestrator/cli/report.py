"""``drkit runbook`` and ``drkit runs report``: thin click wrappers; errors become exit codes."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from orchestrator.cli.failure import invalid_plan
from orchestrator.plan.errors import PlanInvalid
from orchestrator.plan.load import template_variables
from orchestrator.plan.model import WORKFLOWS


def _write(text: str, output: str | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    Path(output).write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}", err=True)


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.command()
@click.argument("plan_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--var", multiple=True, metavar="KEY=VALUE",
              help="Template variable (repeatable; wins over --vars).")
@click.option("--vars", "vars_file", type=click.Path(exists=True, dir_okay=False),
              help="YAML file of template variables.")
@click.option("--format", "fmt", type=click.Choice(["md", "html"]), default="md",
              show_default=True)
@click.option("--mode", "modes", multiple=True, type=click.Choice(WORKFLOWS),
              help="Workflow(s) to include (repeatable; default: all).")
@click.option("--inventory", type=click.Path(exists=True, dir_okay=False),
              help="Snapshot of the live sites (YAML/JSON), shown beside the plan.")
@click.option("--runs-dir", type=click.Path(file_okay=False),
              help="Past run journals to learn step timings from (default $DRKIT_RUNS_DIR "
                   "or ~/.local/state/drkit/runs), as 'drkit run --dry-run' does.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE.")
def runbook(plan_path: str, var: tuple[str, ...], vars_file: str | None, fmt: str,
            modes: tuple[str, ...], inventory: str | None, runs_dir: str | None,
            output: str | None) -> None:
    """Write the living runbook of PLAN: every step, in order, with its waves and RTO."""
    from orchestrator.executor.journal import runs_dir as default_runs_dir
    from orchestrator.report.build import build_runbook

    live = None
    if inventory:
        from orchestrator.plan.live import read_inventory

        live = read_inventory(inventory)
    try:
        text = build_runbook(plan_path, template_variables(var, vars_file), fmt, modes or WORKFLOWS,
                             live, default_runs_dir(runs_dir))
    except PlanInvalid as exc:  # the plan was read and judged: a failed outcome, exit 1
        _fail(invalid_plan(plan_path, exc), 1)
    _write(text, output)


@click.command()
@click.argument("run_id")
@click.option("--format", "fmt", type=click.Choice(["html", "md", "json"]), default="html",
              show_default=True)
@click.option("--runs-dir", type=click.Path(file_okay=False),
              help="Run journals (default $DRKIT_RUNS_DIR or ~/.local/state/drkit/runs).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE.")
def report(run_id: str, fmt: str, runs_dir: str | None, output: str | None) -> None:
    """Report run RUN_ID (finished or still going): steps, VMs, timeline, RTO."""
    from orchestrator.executor.journal import runs_dir as default_runs_dir
    from orchestrator.report.build import build_report

    _write(build_report(run_id, default_runs_dir(runs_dir), fmt), output)

