"""The `drkit` command line: a thin root that loads each command group only when it is used.

Each group lives beside the code it drives (``simulators/nss/cli.py`` for ``drkit nss`` and so
on) and is registered in :data:`COMMANDS` as ``"module:attribute"``, so ``drkit --help`` stays fast
and a broken optional group cannot break the others.
"""

from __future__ import annotations

import importlib

import click

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("orchestrator.demo.run:demo",
             "The whole DR cycle on the embedded simulators (test → failback)."),
    "nss": ("simulators.nss.cli:nss", "Run and drive an NSS appliance simulator."),
    "protect": ("orchestrator.protect:protect",
                "Capture protection records of a plan's VMs from the protected site."),
    "plan": ("orchestrator.plan.cli:plan", "Validate recovery plans."),
    "run": ("orchestrator.plan.cli:run",
            "Run a recovery plan (test, cleanup, planned, disaster, reprotect, failback)."),
    "runbook": ("orchestrator.report.cli:runbook", "Write the living runbook of a plan (md|html)."),
    "runs": ("orchestrator.executor.cli:runs", "List and resume recovery-plan runs."),
    "sim": ("simulators.vcsim.lab:sim", "Two-site lab: appliances + vcsim (up|status|down)."),
    "trials": ("simulators.agent.cli:trials", "Run application-consistency trials."),
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, _, attr = entry[0].partition(":")
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, help_text) in sorted(COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="drkit")
def main() -> None:
    """drkit — open disaster recovery for virtual machines on replicated storage."""
