"""``drkit plan validate`` and ``drkit run``: thin click wrappers; errors become exit codes here."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from orchestrator.cli.failure import invalid_plan
from orchestrator.errors import OrchestratorError
from orchestrator.plan.errors import PlanError, PlanInvalid
from orchestrator.plan.live import StaticInventory, read_inventory
from orchestrator.plan.load import check_file, template_variables
from orchestrator.plan.model import WORKFLOWS, Plan


def _inventory(path: str | None) -> StaticInventory | None:
    if path is None:
        return None
    return read_inventory(path)


def _live_inventory(plan: Plan) -> Any:
    """Both sites as they are now; a site that cannot be reached is a PlanError naming it."""
    from orchestrator.wiring import live_inventory

    try:
        return live_inventory(plan)
    except OrchestratorError as exc:
        raise PlanError(f"--live: cannot read the live sites: {exc}") from None


def _one_source(inventory: str | None, live: bool) -> None:
    if inventory and live:
        raise click.UsageError("--inventory and --live are alternatives: give one")


def _sites(plan_path: str, variables: dict[str, Any], inventory: str | None,
           live: bool) -> Any:
    """What to check drift against: a snapshot file, the live sites, or nothing."""
    _one_source(inventory, live)
    if not live:
        return _inventory(inventory)
    from orchestrator.plan.load import load_plan

    return _live_inventory(load_plan(plan_path, variables))


def plan_options(func):
    """Options shared by every command that loads a plan."""
    func = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(func)
    func = click.option("--live", is_flag=True,
                        help="Check drift against the live sites (both vCenters, both SRAs).")(
        func)
    func = click.option("--inventory", type=click.Path(exists=True, dir_okay=False),
                        help="Snapshot of the live sites (YAML/JSON) to check drift against.")(
        func)
    func = click.option("--vars", "vars_file", type=click.Path(exists=True, dir_okay=False),
                        help="YAML file of template variables.")(func)
    func = click.option("--var", multiple=True, metavar="KEY=VALUE",
                        help="Template variable (repeatable; wins over --vars).")(func)
    return click.argument("plan_path", type=click.Path(exists=True, dir_okay=False))(func)


@click.group()
def plan() -> None:
    """Validate recovery plans."""


@plan.command()
@plan_options
def validate(plan_path: str, var: tuple[str, ...], vars_file: str | None,
             inventory: str | None, live: bool, as_json: bool) -> None:
    """Check PLAN: schema, references, cycles, priorities and (with --inventory or --live)
    drift."""
    from orchestrator.cli.show import checked_json, print_checked

    variables = template_variables(var, vars_file)
    _one_source(inventory, live)
    checked = check_file(plan_path, variables, _inventory(inventory))
    if live and checked.plan is not None and not checked.errors:
        checked = check_file(plan_path, variables, _live_inventory(checked.plan))
    if checked.plan is not None and not checked.errors:
        from orchestrator.graph.workflows import workflow_issues

        checked.issues.extend(workflow_issues(checked.plan))
    if as_json:
        click.echo(json.dumps(checked_json(plan_path, checked), indent=2))
    else:
        print_checked(Console(emoji=False), plan_path, checked)
    sys.exit(1 if checked.errors else 0)


@click.command()
@plan_options
@click.option("--mode", type=click.Choice(WORKFLOWS), required=True, help="Workflow to run.")
@click.option("--dry-run", is_flag=True, help="Print the schedule and predicted RTO; act on "
                                              "nothing.")
@click.option("--all", "show_all", is_flag=True, help="List every step and wave.")
@click.option("--runs-dir", type=click.Path(file_okay=False),
              help="Run journals (default $DRKIT_RUNS_DIR or ~/.local/state/drkit/runs).")
def run(plan_path: str, var: tuple[str, ...], vars_file: str | None, inventory: str | None,
        live: bool, as_json: bool, mode: str, dry_run: bool, show_all: bool,
        runs_dir: str | None) -> None:
    """Run workflow MODE of PLAN (test, cleanup, planned, disaster, reprotect, failback)."""
    from orchestrator.executor.journal import runs_dir as default_runs_dir

    variables = template_variables(var, vars_file)
    try:
        sites = _sites(plan_path, variables, inventory, live)
        from orchestrator.plan.load import load_plan

        loaded = load_plan(plan_path, variables, sites)
        root = default_runs_dir(runs_dir)
        if dry_run:
            _dry_run(loaded, mode, sites, root, as_json, show_all)
            return
        from orchestrator.cli.runs import start_run

        sys.exit(start_run(plan_path, loaded, mode, variables, root, as_json))
    except PlanInvalid as exc:  # the plan was read and judged: a failed outcome, exit 1
        click.echo(f"error: {invalid_plan(plan_path, exc)}", err=True)
        sys.exit(1)


def _dry_run(loaded, mode: str, live, root: Path, as_json: bool, show_all: bool) -> None:
    from orchestrator.cli.show import dryrun_json, print_dryrun
    from orchestrator.schedule import dry_run
    from orchestrator.timing import TimingModel

    timing = TimingModel.from_runs(root)
    result = dry_run(loaded, mode, timing, live)
    if as_json:
        click.echo(json.dumps(dryrun_json(result, timing), indent=2))
    else:
        print_dryrun(Console(emoji=False), result, timing, None if show_all else 60)
