"""How every ``drkit`` command fails: one line on stderr, a distinct exit code.

The one place where an exception that escapes a command becomes what a user sees. The line
names what was wrong and where (file, path in the plan, object id); the traceback only with
``drkit --debug``. Nothing goes to stdout, which may be a data stream (a backup, JSON).

Exit codes: 1 the command ran and reported a failure (a failed run, an invalid plan);
2 refused: bad usage or bad input (click's own, a plan that cannot be read or rendered, a run
that is busy, unknown or changed: every error drkit names); 4 a file or directory problem
(OSError); 6 a site or array that cannot be reached now (worth retrying); 70 a bug in drkit
(the message says so; run with --debug and report it).
"""

from __future__ import annotations

import sys
import traceback

import click
import yaml

from orchestrator.errors import OrchestratorError, TransientError
from orchestrator.plan.errors import PlanInvalid

REFUSED, FILES, UNREACHABLE, INTERNAL = 2, 4, 6, 70


def describe(exc: BaseException) -> tuple[str, int]:
    """The one-line message and the exit code for an exception that escaped a command."""
    if isinstance(exc, OrchestratorError):
        return str(exc), UNREACHABLE if isinstance(exc, TransientError) else REFUSED
    if isinstance(exc, UnicodeDecodeError):
        return (f"not UTF-8 text: byte 0x{exc.object[exc.start]:02x} at offset {exc.start} "
                f"({exc.reason})", REFUSED)
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}", FILES
    if isinstance(exc, yaml.YAMLError):
        return f"YAML: {exc}".replace("\n", " "), REFUSED
    code = getattr(exc, "code", None)
    if isinstance(code, str) and getattr(exc, "message", None):  # appliance and agent errors
        return f"{code}: {exc.message}", REFUSED if getattr(exc, "status", 500) < 500 \
            else UNREACHABLE
    return (f"internal error ({type(exc).__name__}: {exc}); this is a bug in drkit: run again "
            f"with --debug and report the traceback", INTERNAL)


def first_line(text: str) -> str:
    """Messages are one line; a multi-line one (every issue of a plan) keeps its lines indented."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join([lines[0], *("  " + line for line in lines[1:])]) if lines else "failed"


def fail(exc: BaseException, debug: bool) -> int:
    """Print ``exc`` as drkit prints every failure; returns the exit code."""
    message, code = describe(exc)
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    click.echo(f"error: {first_line(message)}", err=True)
    return code


def invalid_plan(path: str, exc: PlanInvalid) -> str:
    """``PATH is invalid: ISSUE`` on one line; several issues follow it, one an indented line."""
    issues = [str(i) for i in exc.issues if i.severity == "error"] or [str(exc)]
    if len(issues) == 1:
        return f"{path} is invalid: {issues[0]}"
    return f"{path} is invalid ({len(issues)} errors):\n" + "\n".join(f"  {i}" for i in issues)
