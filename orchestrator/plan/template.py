"""Rendering a plan's Jinja2 template, sandboxed.

Plans are written by many people and read by an orchestrator that holds vCenter and array
credentials, so a template is untrusted text. It renders in Jinja2's immutable sandbox (no
attribute of Python's internals, no mutation of the variables) and within limits that stop a
template from exhausting the machine:

- ``range()`` yields at most :data:`MAX_RANGE` items, and ``*`` / ``**`` may not build a
  string, list or number larger than :data:`MAX_VALUE` items or digits;
- the rendered text is at most :data:`MAX_OUTPUT` characters;
- rendering takes at most :data:`MAX_SECONDS` (enforced with a timer signal when rendering on
  the main thread, and between output chunks everywhere).

Every failure — a limit, a syntax error, an undefined variable, an error a template raises
(``{{ 1/0 }}``) — is a :class:`~orchestrator.plan.errors.PlanRenderError` naming the file and,
where Jinja2 knows it, the line.
"""

from __future__ import annotations

import operator
import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from orchestrator.plan.errors import PlanRenderError

MAX_RANGE = 100_000
MAX_VALUE = 10_000_000
MAX_OUTPUT = 64 * 1024 * 1024
MAX_SECONDS = 10.0


class TemplateLimit(Exception):
    """A template hit one of the limits above (turned into a PlanRenderError)."""


def _size(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length() // 3  # about its decimal digits
    return len(value) if isinstance(value, (str, bytes, list, tuple)) else 0


def _checked_mul(left: Any, right: Any) -> Any:
    if isinstance(left, (str, bytes, list, tuple)) or isinstance(right, (str, bytes, list, tuple)):
        count = right if isinstance(left, (str, bytes, list, tuple)) else left
        length = _size(left) or _size(right)
        if isinstance(count, int) and count * length > MAX_VALUE:
            raise TemplateLimit(f"a value of {count * length:,} items (limit {MAX_VALUE:,})")
    return operator.mul(left, right)


def _checked_pow(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
        digits = right * max(1, abs(left).bit_length()) // 3
        if digits > MAX_VALUE // 1000:
            raise TemplateLimit(f"a number of about {digits:,} digits")
    return operator.pow(left, right)


def _range(*args: int) -> range:
    items = range(*args)
    if len(items) > MAX_RANGE:
        raise TemplateLimit(f"range() of {len(items):,} items (limit {MAX_RANGE:,})")
    return items


class PlanSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with checked ``*``, ``**`` and ``range``."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self) -> None:
        super().__init__(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                         autoescape=False)
        self.globals["range"] = _range

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "*":
            return _checked_mul(left, right)
        if operator_ == "**":
            return _checked_pow(left, right)
        return super().call_binop(context, operator_, left, right)


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise TemplateLimit in this thread once ``seconds`` pass (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        raise TemplateLimit(f"rendering took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _generate(template: jinja2.Template, context: Mapping[str, Any], seconds: float) -> str:
    parts, size, started = [], 0, time.monotonic()
    for chunk in template.generate(context):
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise TemplateLimit(f"the rendered plan exceeds {MAX_OUTPUT:,} characters")
        if time.monotonic() - started > seconds:
            raise TemplateLimit(f"rendering took longer than {seconds:g} s")
        parts.append(chunk)
    return "".join(parts)


def _template_line(exc: BaseException) -> str:
    """``:N`` for the template line an error was raised at, when the traceback shows it."""
    tb, line = exc.__traceback__, ""
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = f":{tb.tb_lineno}"
        tb = tb.tb_next
    return line


def render(text: str, variables: Mapping[str, Any], source: str = "<plan>",
           environ: Mapping[str, str] | None = None, seconds: float = MAX_SECONDS) -> str:
    """The plan text with its template rendered in the sandbox (see the module docstring)."""
    context = {**variables, "env": dict(os.environ if environ is None else environ)}
    try:
        template = PlanSandbox().from_string(text)
        with _deadline(seconds):
            return _generate(template, context, seconds)
    except jinja2.TemplateSyntaxError as exc:
        raise PlanRenderError(f"{source}:{exc.lineno}: template syntax: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise PlanRenderError(f"{source}{_template_line(exc)}: template variable: "
                              f"{exc.message}") from None
    except jinja2.exceptions.SecurityError as exc:
        raise PlanRenderError(f"{source}{_template_line(exc)}: template refused by the "
                              f"sandbox: {exc}") from None
    except TemplateLimit as exc:
        raise PlanRenderError(f"{source}{_template_line(exc)}: template limit: {exc}") from None
    except (ArithmeticError, TypeError, ValueError, LookupError, OverflowError,
            MemoryError, RecursionError) as exc:
        raise PlanRenderError(f"{source}{_template_line(exc)}: template error: "
                              f"{type(exc).__name__}: {exc}") from None
