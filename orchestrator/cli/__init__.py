"""The `drkit` command line: a thin root that loads each command group only when it is used.

The orchestrator's own groups live in this package (``orchestrator/cli/*.py``: the only modules
that import the executor, the reports and the wiring together) and are listed in
:data:`COMMANDS` as ``"module:attribute"``. Other packages add commands from above through the
``drkit.commands`` entry-point group (the lab registers ``nss``, ``sim``, ``trials`` and
``demo`` in pyproject.toml), so the orchestrator never imports them. ``drkit --help`` stays
fast, and a broken plug-in cannot break the other commands.
"""

from __future__ import annotations

import functools
import importlib
import sys
from importlib.metadata import entry_points
from typing import Any

import click

from orchestrator.cli.failure import fail

PLUGINS = "drkit.commands"

COMMANDS: dict[str, tuple[str, str]] = {
    "plan": ("orchestrator.cli.plan:plan", "Validate recovery plans."),
    "protect": ("orchestrator.cli.protect:protect",
                "Capture protection records of a plan's VMs from the protected site."),
    "run": ("orchestrator.cli.plan:run",
            "Run a recovery plan (test, cleanup, planned, disaster, reprotect, failback)."),
    "runbook": ("orchestrator.cli.report:runbook",
                "Write the living runbook of a plan (md|html)."),
    "runs": ("orchestrator.cli.runs:runs", "List, resume and report recovery-plan runs."),
}


def _load(target: str) -> click.Command:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


@functools.cache
def plugins() -> dict[str, str]:
    """Commands other installed packages add: name -> ``"module:attribute"`` (the installed
    packages' metadata is read once per process)."""
    return {ep.name: ep.value for ep in entry_points(group=PLUGINS)
            if ep.name not in COMMANDS}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *plugins()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            return _load(COMMANDS[cmd_name][0])
        target = plugins().get(cmd_name)
        return _load(target) if target else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, help_text) in COMMANDS.items()]
        rows += [(name, _load(target).get_short_help_str(60))
                 for name, target in plugins().items()]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))


class DrkitGroup(LazyGroup):
    """The root: every exception a command lets escape ends as one line on stderr with a
    distinct exit code (orchestrator/cli/failure.py); ``--debug`` adds the traceback."""

    debug = False

    def main(self, args: Any = None, prog_name: str | None = None, **extra: Any) -> Any:
        try:
            super().main(args, prog_name, standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
            click.echo(f"error: {exc.format_message()}{where}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)
        except (SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            sys.exit(fail(exc, self.debug))
        sys.exit(0)


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        DrkitGroup.debug = True


@click.group(cls=DrkitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="drkit")
@click.option("--debug", is_flag=True, expose_value=False, is_eager=True, callback=_set_debug,
              help="Show the traceback of an error.")
def main() -> None:
    """drkit — open disaster recovery for virtual machines on replicated storage."""
