"""Rendering for the plan and run commands: rich tables for people, JSON for programs.

Tables never cut an id (a step, run or plan path is what people copy): ids and short values
never wrap, and the one free-text column of a table wraps at words. When the terminal leaves
that column fewer than :data:`MIN_TEXT` characters, its text moves under the row's id instead
(:func:`id_table`); only an id longer than the whole terminal is folded, never shortened.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group
from rich.measure import Measurement
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from orchestrator.plan.errors import Issue
from orchestrator.plan.load import Checked
from orchestrator.report.timeline import clock, decimals
from orchestrator.schedule import DryRun
from orchestrator.timing import TimingModel

ID, FIXED, TEXT = "id", "fixed", "text"
MIN_TEXT = 24


@dataclass(frozen=True)
class Col:
    """A column: ``kind`` is ID (never broken), FIXED (short, never broken) or TEXT (wraps)."""

    header: str
    kind: str = FIXED
    right: bool = False


def _table(title: str, cols: Sequence[Col], rows: list[list[Any]]) -> Table:
    """Strings become plain Text: a '[' in an error or a description is never rich markup."""
    table = Table(title=Text(title))
    for col in cols:
        table.add_column(col.header, justify="right" if col.right else "left",
                         no_wrap=col.kind != TEXT, overflow="fold")
    for row in rows:
        table.add_row(*(Text(v) if isinstance(v, str) else v for v in row))
    return table


def _fits(console: Console, title: str, cols: Sequence[Col], rows: list[list[str]]) -> bool:
    """Whether the table fits with its text column at least :data:`MIN_TEXT` wide."""
    narrow = [[("x" * MIN_TEXT if c.kind == TEXT else v) for c, v in zip(cols, r, strict=True)]
              for r in rows or [[""] * len(cols)]]
    unbounded = console.options.update_width(10 ** 6)
    measured = Measurement.get(console, unbounded, _table(title, cols, narrow))
    return measured.maximum <= console.width


def _stacked(title: str, cols: Sequence[Col], rows: list[list[str]]) -> Table:
    """The text column's value under the row's id (ids stay whole; the text wraps)."""
    at = next(i for i, c in enumerate(cols) if c.kind == ID)
    text = next(i for i, c in enumerate(cols) if c.kind == TEXT)
    merged = [Col(f"{cols[at].header} / {cols[text].header}", TEXT)]
    keep = [c if i != at else merged[0] for i, c in enumerate(cols) if i != text]
    out = []
    for row in rows:
        cell = Text(row[at], no_wrap=True, overflow="fold")
        under = Padding(Text(row[text], style="dim"), (0, 0, 0, 2)) if row[text] else None
        out.append([(Group(cell, under) if under else cell) if i == at else v
                    for i, v in enumerate(row) if i != text])
    return _table(title, keep, out)


def id_table(console: Console, title: str, cols: Sequence[Col],
             rows: Iterable[Sequence[str]]) -> Table:
    """A table for ``console``'s width in which no id is cut (see the module's docstring)."""
    rows = [list(r) for r in rows]
    if not any(c.kind == ID for c in cols) or _fits(console, title, cols, rows):
        return _table(title, cols, rows)
    return _stacked(title, cols, rows)


def issue_json(issue: Issue) -> dict[str, str]:
    return {"path": issue.path, "message": issue.message, "severity": issue.severity}


def checked_json(path: str, checked: Checked) -> dict[str, Any]:
    plan = checked.plan
    return {"plan": path, "valid": not checked.errors,
            "name": plan.name if plan else None,
            "vms": len(plan.vms) if plan else 0,
            "errors": [issue_json(i) for i in checked.errors],
            "warnings": [issue_json(i) for i in checked.warnings]}


def print_checked(console: Console, path: str, checked: Checked) -> None:
    """Each issue as ``severity  path: message``, wrapped at words under the message."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for issue in checked.errors:
        grid.add_row(Text("error", style="red"), Text(str(issue)))
    for issue in checked.warnings:
        grid.add_row(Text("warning", style="yellow"), Text(str(issue)))
    console.print(grid, highlight=False)
    if checked.errors:
        console.print(f"{path}: {len(checked.errors)} error(s), "
                      f"{len(checked.warnings)} warning(s)", highlight=False, markup=False)
        return
    plan = checked.plan
    console.print(Text.assemble(("valid", "green"), f" {path}: plan '{plan.name}', "
                                f"{len(plan.vms)} VMs, {len(plan.protection_groups)} protection "
                                f"group(s), {len(checked.warnings)} warning(s)"))


def dryrun_json(result: DryRun, timing: TimingModel) -> dict[str, Any]:
    return {
        "workflow": result.workflow,
        "predicted_rto_seconds": result.predicted_rto,
        "critical_path_seconds": result.critical_seconds,
        "critical_path": result.critical_path,
        "steps": [{"id": s.step.id, "type": s.step.type, "site": s.step.site, "vm": s.step.vm,
                   "wave": s.wave, "start": s.start, "end": s.end,
                   "description": s.step.describe()} for s in result.slots],
        "waves": [{"wave": i, "start": w[0].start, "steps": [s.step.id for s in w]}
                  for i, w in enumerate(result.waves)],
        "timing": {t: {"seconds": timing.seconds(t), "source": timing.source(t)}
                   for t in sorted({s.step.type for s in result.slots})},
    }


def print_dryrun(console: Console, result: DryRun, timing: TimingModel,
                 limit: int | None) -> None:
    places = decimals(s.start for s in result.slots)
    shown = result.slots if limit is None else result.slots[:limit]
    cols = [Col("wave", right=True), Col("start", right=True), Col("secs", right=True),
            Col("step", ID), Col("site"), Col("what", TEXT)]
    rows = [[str(s.wave), clock(s.start, places), f"{s.end - s.start:g}", s.step.id,
             s.step.site or "-", s.step.describe()] for s in shown]
    console.print(id_table(console, f"Dry run: {result.workflow} (no side effect)", cols, rows))
    if len(shown) < len(result.slots):
        console.print(f"... {len(result.slots) - len(shown)} more steps (use --all)")
    _print_waves(console, result, limit, places)
    console.print(f"critical path ({clock(result.critical_seconds, places)}): "
                  f"{' → '.join(result.critical_path)}", highlight=False, markup=False)
    learned = sorted(t for t in {s.step.type for s in result.slots} if t in timing.learned)
    source = f"learned medians for {', '.join(learned)}" if learned else "default step timings"
    console.print(Text.assemble((f"predicted RTO {clock(result.predicted_rto, places)}", "bold"),
                                f" ({len(result.slots)} steps in {len(result.waves)} waves; "
                                f"{source})"))


def _print_waves(console: Console, result: DryRun, limit: int | None, places: int) -> None:
    waves = result.waves if limit is None else result.waves[:limit]
    cols = [Col("wave", right=True), Col("start", right=True), Col("steps", right=True),
            Col("types", TEXT)]
    rows = [[str(i), clock(w[0].start, places), str(len(w)), result.wave_summary(w)]
            for i, w in enumerate(waves)]
    console.print(id_table(console, "Parallel waves", cols, rows))
    if len(waves) < len(result.waves):
        console.print(f"... {len(result.waves) - len(waves)} more waves (use --all)")
