"""Time on the pages and in the terminal: offsets that stay distinct, and a gantt with a time
axis. Pure.

- :func:`clock` writes an offset as ``H:MM:SS`` with as many decimals as asked;
  :func:`decimals` finds the fewest (0 to 3) that keep distinct offsets distinct, so waves a few
  milliseconds apart no longer all read ``T+0:00:00``.
- :func:`axis` picks a round step (1-2-5 below a minute, whole minutes and hours above) giving
  at most :data:`MAX_TICKS` intervals, and a scale that ends on a tick; :func:`bars` places each
  item on that scale in percent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

MAX_TICKS = 8
MAX_DECIMALS = 3
_STEPS = [m * 10.0 ** e for e in range(-3, 2) for m in (1, 2, 5)] + \
    [15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 10800.0, 21600.0]
MIN_WIDTH = 0.3  # percent: a step that took no time still shows as a sliver


def clock(seconds: float | None, places: int = 0) -> str:
    """``H:MM:SS`` (``places`` decimals on the seconds); '-' for None."""
    if seconds is None:
        return "-"
    scaled = round(seconds * 10 ** places)
    whole, frac = divmod(scaled, 10 ** places)
    hours, rest = divmod(whole, 3600)
    text = f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{text}.{frac:0{places}d}" if places else text


def decimals(values: Iterable[float]) -> int:
    """The fewest decimals (at most :data:`MAX_DECIMALS`) at which distinct ``values`` stay
    distinct."""
    distinct = sorted(set(values))
    for places in range(MAX_DECIMALS + 1):
        if len({round(v, places) for v in distinct}) == len(distinct):
            return places
    return MAX_DECIMALS


def tick_step(span: float) -> float:
    """The smallest round step that cuts ``span`` into at most :data:`MAX_TICKS` intervals."""
    for step in _STEPS:
        if span / step <= MAX_TICKS:
            return step
    return 3600.0 * math.ceil(span / 3600.0 / MAX_TICKS)


def tick_label(t: float, step: float) -> str:
    if step >= 60:
        return clock(t)
    if step < 1 and t < 1:
        return f"{t * 1000:.0f} ms"
    return f"{t:.{decimals([step, 0.0])}f} s"


def axis(span: float | None) -> dict[str, Any]:
    """The scale (seconds, a whole number of steps, at least ``span``) and its ticks."""
    span = span if span and span > 0 else 1.0
    step = tick_step(span)
    count = max(1, math.ceil(span / step - 1e-9))
    scale = step * count
    return {"scale": scale, "step": step,
            "ticks": [{"seconds": i * step, "left": round(100 * i / count, 3),
                       "label": tick_label(i * step, step)} for i in range(count + 1)]}


def place(offset: float, seconds: float, scale: float) -> dict[str, float]:
    """``left`` and ``width`` in percent of ``scale`` (at least :data:`MIN_WIDTH`, never past
    the end)."""
    left = min(100 * offset / scale, 100 - MIN_WIDTH)
    width = max(min(100 * seconds / scale, 100 - left), MIN_WIDTH)
    return {"left": round(left, 3), "width": round(width, 3)}


def bars(items: Sequence[Mapping[str, Any]], scale: float) -> list[dict[str, Any]]:
    """Each item (with ``offset`` and ``seconds``) plus its place on the scale."""
    return [{**item, **place(item["offset"], item["seconds"] or 0.0, scale)} for item in items]
