"""Look at a report as a person would: Debian's Chromium, headless, driven by Playwright (which
only drives the browser the machine has; it never downloads one).

:func:`open_browser` starts Chromium once per module with a throw-away profile; :func:`look`
loads a page at 1280 px, takes a full-page screenshot and measures in the page what a person
would notice: anything wider than the page, values that wrap onto a second line, the time axis.
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

WIDTH = 1280
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# What a person sees, measured in the page (reports carry no script: this runs from outside).
MEASURE = """() => {
  const page = document.documentElement;
  const name = (el) => el.tagName.toLowerCase() + (el.className ? "." + el.className : "")
    + (el.id ? "#" + el.id : "");
  const wide = [...document.querySelectorAll("table, .gantt, figure, p, ul, ol, h1, h2, h3")]
    .filter((el) => el.scrollWidth > el.clientWidth + 1
                    || el.getBoundingClientRect().right > page.clientWidth + 1)
    .map((el) => name(el) + " " + el.scrollWidth + ">" + el.clientWidth);
  const lines = (sel) => [...document.querySelectorAll(sel)]
    .filter((el) => el.getClientRects().length > 1).map((el) => el.textContent);
  const inside = (inner, outer) => {
    const a = inner.getBoundingClientRect(), b = outer.getBoundingClientRect();
    return a.left >= b.left - 1 && a.right <= b.right + 1;
  };
  const charts = [...document.querySelectorAll(".gantt")].map((g) => ({
    ticks: [...g.querySelectorAll(".tick")].map((t) => ({
      label: t.textContent, x: t.getBoundingClientRect().left, inside: inside(t, g)})),
    bars: [...g.querySelectorAll(".bar")].map((b) => inside(b, b.parentElement)),
    labels: [...g.querySelectorAll(".label")].length}));
  return {scrollWidth: page.scrollWidth, clientWidth: page.clientWidth, wide,
          times: document.querySelectorAll("time.ts").length,
          wrappedTimes: lines("time.ts"), wrappedIds: lines("code.id, .id, .gantt .label"),
          charts};
}"""


@dataclass
class Look:
    """What :func:`look` saw: the measurements, the page's text and the screenshot."""

    facts: dict[str, Any]
    screenshot: Path
    page: Any

    def text(self, selector: str) -> str:
        return " ".join(self.page.inner_text(selector).split())


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; make deps "
                    "does it): the pages cannot be looked at")
    return found


@contextmanager
def open_browser(profile: Path) -> Iterator[Any]:
    """A page of a headless Chromium whose profile lives in ``profile``."""
    from playwright.sync_api import sync_playwright

    executable = chromium()
    with sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(profile), executable_path=executable, headless=True, args=FLAGS,
            viewport={"width": WIDTH, "height": 900})
        try:
            yield context.new_page()
        finally:
            context.close()


def look(page: Any, html: str, shot: Path) -> Look:
    """Load ``html`` from a file, screenshot the whole page to ``shot`` and measure it."""
    source = shot.with_suffix(".html")
    source.write_text(html, encoding="utf-8")
    page.goto(source.as_uri())
    page.screenshot(path=str(shot), full_page=True)
    return Look(page.evaluate(MEASURE), shot, page)


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's header (and proof that it is one)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def assert_fits(seen: Look) -> None:
    """Nothing wider than the page at 1280 px, no time or id broken over two lines."""
    facts = seen.facts
    assert facts["scrollWidth"] <= facts["clientWidth"], facts["wide"]
    assert facts["wide"] == [], facts["wide"]
    assert facts["wrappedTimes"] == [], facts["wrappedTimes"]
    assert facts["wrappedIds"] == [], facts["wrappedIds"]
    assert png_size(seen.screenshot)[0] == WIDTH


def assert_time_axis(chart: dict[str, Any]) -> None:
    """Ticks from 0, left to right, inside the chart; every bar inside its track."""
    ticks = chart["ticks"]
    assert len(ticks) >= 3, ticks
    assert ticks[0]["label"] in ("0 ms", "0 s", "0:00:00"), ticks[0]
    xs = [t["x"] for t in ticks]
    assert xs == sorted(xs) and len(set(xs)) == len(xs), ticks
    assert all(t["inside"] for t in ticks), ticks
    assert chart["bars"] and all(chart["bars"]), "a bar sticks out of its track"
