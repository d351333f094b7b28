"""``drkit protect PLAN`` (see :mod:`orchestrator.protect`)."""

from __future__ import annotations

import click
from rich.console import Console

from orchestrator.protect import protect_vms


@click.command()
@click.argument("plan_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--var", "variables", multiple=True, metavar="K=V", help="Plan variable.")
def protect(plan_path: str, variables: tuple[str, ...]) -> None:
    """Capture protection records of a plan's VMs from its protected site."""
    from orchestrator.plan.load import load_plan, parse_vars

    plan = load_plan(plan_path, parse_vars(variables))
    names = protect_vms(plan)
    Console().print(f"protected {len(names)} VM(s) of plan '{plan.name}': {', '.join(names)}")
