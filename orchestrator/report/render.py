"""The Jinja2 environments: templates are package files under ``templates/``.

html is autoescaped. Markdown has no autoescape in Jinja2, so ``finalize`` escapes every
``{{ expression }}`` for markdown (table pipes, emphasis, links, raw HTML, line breaks) unless the
value is :class:`Raw` (made only by this module's filters, which sanitize for their own context:
code spans and mermaid lines). Both environments pass every string through the run's
:class:`~orchestrator.report.redact.Redactor` first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jinja2
from markupsafe import Markup

from orchestrator.report.timeline import clock

FORMATS = ("md", "html")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#!~])")
_SLUG = re.compile(r"[^a-z0-9]+")
_LIST_START = re.compile(r"^(\s*(?:\d+)?)([-+.)])(?=\s)")


class Raw(str):
    """Already safe for markdown (output of :func:`code` or :func:`mermaid_text`)."""


STATUS_LABELS = {"skipped-dependency-failed": "skipped (dependency failed)"}


def when(value: str | None) -> str:
    """A journal time (``2026-01-02T03:04:05.678Z``) as ``2026-01-02 03:04:05.678`` (pages say
    UTC in the heading); '-' for None."""
    return str(value).replace("T", " ").removesuffix("Z") if value else "-"


def time_of_day(value: str | None, day: str | None = None) -> str:
    """Only the time (``03:04:05.678``) of a journal time on the same date as ``day``."""
    full = when(value)
    if value and day and str(value)[:10] == str(day)[:10]:
        return full[11:]
    return full


def status_label(status: str | None) -> str:
    """A step or VM status as people read it."""
    return STATUS_LABELS.get(status or "", status or "-")


def secs(seconds: float | None) -> str:
    """A short duration: ``24 ms``, ``4.42 s``, ``12.3 s``, ``0:02:05``."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 10:
        return f"{seconds:.2f} s"
    return f"{seconds:.1f} s" if seconds < 60 else clock(seconds)


def md_escape(text: str) -> str:
    """Inline markdown text: specials backslash-escaped, newlines folded, ``&`` kept literal."""
    text = text.replace("&", "&amp;").replace("\r", "").replace("\n", " ")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return _LIST_START.sub(r"\1\\\2", text, count=1)  # "- x", "1. x": not a list


def code(value: Any) -> Raw:
    """A markdown code span that no backtick inside can close early."""
    text = str(value).replace("\n", " ")
    fence = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return Raw(f"{fence}{pad}{text}{pad}{fence}")


def mermaid_text(value: Any) -> Raw:
    """A mermaid gantt task title: no ``:`` ``;`` ``#`` or line breaks (they end a title)."""
    return Raw(" ".join(re.sub(r"[:;#`]+", " ", str(value)).split()) or "-")


def mermaid_time(value: Any) -> Raw:
    """ISO 8601 UTC (``2026-01-02T03:04:05.678Z``) as mermaid's ``YYYY-MM-DD HH:mm:ss.SSS``."""
    text = str(value or "").replace("T", " ").removesuffix("Z").removesuffix("+00:00")
    if "." not in text:
        text += ".000"
    return Raw(re.sub(r"[^0-9 :.\-]", "", text)[:23])


def mermaid_offset(seconds: float) -> Raw:
    """An offset from the start as a mermaid time on a fixed day (mermaid reads and draws it in
    the same local time, so the axis shows the offset itself)."""
    whole = clock(seconds, 3)
    hours, rest = whole.split(":", 1)
    return Raw(f"2000-01-{1 + int(hours) // 24:02d} {int(hours) % 24:02d}:{rest}")


def slug(value: Any) -> str:
    return _SLUG.sub("-", str(value).lower()).strip("-") or "x"


def _finalizer(fmt: str, redact: Callable[[str], str]) -> Callable[[Any], Any]:
    def finalize(value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, Markup):
            return value
        if isinstance(value, Raw):
            return Raw(redact(value))
        if not isinstance(value, str):
            return value
        return md_escape(redact(value)) if fmt == "md" else redact(value)
    return finalize


def environment(fmt: str, redact: Callable[[str], str] = str) -> jinja2.Environment:
    """The environment for ``fmt`` (``md`` or ``html``)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format '{fmt}' (one of {', '.join(FORMATS)})")
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("orchestrator.report", "templates"),
        autoescape=fmt == "html", undefined=jinja2.StrictUndefined,
        finalize=_finalizer(fmt, redact), trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)
    env.filters.update(clock=clock, secs=secs, code=code, mermaid=mermaid_text, mtime=mermaid_time,
                       moffset=mermaid_offset, slug=slug, when=when, tod=time_of_day,
                       status=status_label)
    return env


def render(template: str, fmt: str, context: dict[str, Any],
           redact: Callable[[str], str] = str) -> str:
    """Render ``<template>.<fmt>.j2`` with ``context``."""
    return environment(fmt, redact).get_template(f"{template}.{fmt}.j2").render(context)
