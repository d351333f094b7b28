"""Load a plan: render with Jinja2 (sandboxed, see template.py), parse YAML, build records,
validate.

Variables come from a vars file (YAML mapping), then ``--var k=v`` pairs (which win), and the
environment under ``env`` (``{{ env.HOME }}``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestrator.gcpause import no_gc
from orchestrator.plan.errors import Issue, PlanInvalid, PlanRenderError
from orchestrator.plan.files import read_text, read_yaml
from orchestrator.plan.live import LiveInventory
from orchestrator.plan.model import Plan
from orchestrator.plan.parse import parse_plan
from orchestrator.plan.schema import Reader, kind_of
from orchestrator.plan.validate import check
from orchestrator.plan.yamlload import PlanLoader

_JINJA_MARKS = ("{{", "{%", "{#")


@dataclass
class Checked:
    """The outcome of checking a plan: the records (if they could be built) and every issue."""

    plan: Plan | None
    issues: list[Issue] = field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]


def parse_vars(pairs: Iterable[str]) -> dict[str, str]:
    """``["k=v", ...]`` → dict; a pair without ``=`` is a PlanRenderError naming it."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise PlanRenderError(f"--var '{pair}': expected KEY=VALUE")
        out[key.strip()] = value
    return out


def template_variables(pairs: Iterable[str], vars_file: str | Path | None) -> dict[str, Any]:
    """A plan's template variables: the vars file, then the ``KEY=VALUE`` pairs (which win)."""
    values = read_vars_file(vars_file) if vars_file else {}
    return {**values, **parse_vars(pairs)}


def read_vars_file(path: str | Path) -> dict[str, Any]:
    data = read_yaml(path, PlanLoader)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PlanRenderError(f"{path}: a vars file must hold a mapping of names to values, "
                              f"not {kind_of(data)}")
    return data


def render(text: str, variables: Mapping[str, Any], source: str = "<plan>",
           environ: Mapping[str, str] | None = None) -> str:
    if not is_template(text):
        return text  # what Jinja2 would render, without compiling a large plan
    from orchestrator.plan.template import render as render_sandboxed  # only for templates

    return render_sandboxed(text, variables, source, environ)


def is_template(text: str) -> bool:
    """False when Jinja2 would render ``text`` unchanged: no ``{{``, ``{%`` or ``{#`` and no
    carriage return (Jinja2 normalizes newlines)."""
    return "\r" in text or any(mark in text for mark in _JINJA_MARKS)


def check_text(text: str, variables: Mapping[str, Any] | None = None, source: str = "<plan>",
               live: LiveInventory | None = None,
               environ: Mapping[str, str] | None = None) -> Checked:
    """Render, parse and validate; never raises PlanInvalid (issues are returned)."""
    rendered = render(text, variables or {}, source, environ)
    reader = Reader()
    with no_gc():  # a large plan is many objects and no cycles; drift checks run with the GC
        plan = _read(rendered, reader, source)
    if plan is not None and not reader.issues:
        check(plan, reader, live)
    elif plan is not None:
        check(plan, reader, None)  # still report reference errors, but no drift on a broken plan
    return Checked(plan, reader.issues)


def _read(rendered: str, reader: Reader, source: str) -> Plan | None:
    """The plan's records (parsed YAML is freed on return); a YAML error is an issue."""
    try:
        data = yaml.load(rendered, Loader=PlanLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        reader.error("", f"YAML: {where}{getattr(exc, 'problem', exc)}")
        return None
    return parse_plan(data, reader, source)


def check_file(path: str | Path, variables: Mapping[str, Any] | None = None,
               live: LiveInventory | None = None,
               environ: Mapping[str, str] | None = None) -> Checked:
    return check_text(read_text(path), variables, str(path), live, environ)


def load_plan(path: str | Path, variables: Mapping[str, Any] | None = None,
              live: LiveInventory | None = None,
              environ: Mapping[str, str] | None = None) -> Plan:
    """A valid plan, or PlanInvalid carrying every issue."""
    checked = check_file(path, variables, live, environ)
    if checked.errors or checked.plan is None:
        raise PlanInvalid(checked.issues)
    return checked.plan
