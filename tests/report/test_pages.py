"""The run report and the runbook as a person sees them: rendered by Debian's Chromium at 1280 px,
screenshotted, and measured in the page (nothing wider than the page, no timestamp or id broken
over two lines, a time axis with ticks, a failed run without a measured RTO)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.orchestrator.labsite import Lab
from tests.report.browser import assert_fits, assert_time_axis, look, open_browser
from tests.report.runs import SAMPLE, command_plan, drkit, lab_run, run_ids, steady_timings

PAGER = "notify-the-change-advisory-board-pager"
STEPS = ["{name: prepare, type: command, command: 'true', workflows: [test], after: start}",
         f"{{name: {PAGER}, type: command, command: \"sh -c 'echo the pager gateway at "
         f"https://pager.example.com/api/v2/incidents/escalation-policies/dr-primary refused "
         f"the page >&2; exit 4'\", workflows: [test], depends_on: [prepare]}}",
         f"{{name: close-the-change-window, type: command, command: 'true', "
         f"workflows: [test], depends_on: [{PAGER}]}}",
         "{name: side, type: command, command: 'true', workflows: [test]}"]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory):
    with open_browser(tmp_path_factory.mktemp("chromium-profile")) as opened:
        yield opened


def report_html(runs: Path, run_id: str) -> str:
    result = drkit("runs", "report", run_id, runs=runs)
    assert result.exit_code == 0, result.output
    return result.output


def test_failed_run_report(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan, runs = command_plan(tmp_path, STEPS), tmp_path / "runs"
    assert drkit("run", str(plan), "--mode", "test", runs=runs).exit_code == 1
    seen = look(page, report_html(runs, run_ids(runs)[0]), tmp_path / "failed-run.png")
    assert_fits(seen)
    assert seen.facts["times"] == 5 + 3  # header, history, generated; the 3 started steps
    assert len(seen.facts["charts"]) == 1
    assert_time_axis(seen.facts["charts"][0])
    rto = seen.text("#measured-rto")
    assert rto.startswith("not measured: the workflow did not complete"), rto
    assert not re.search(r"\d\s*(ms|s)\b", rto), rto  # no duration passed off as an RTO
    errors = seen.text(".errors")
    assert f"custom:{PAGER}: command 'sh' exited 4: the pager gateway" in errors
    assert f"custom:{PAGER}: custom:{PAGER}" not in seen.text("body")


def test_lab_run_reports_with_and_without_recovery(page, tmp_path):
    lab = Lab()
    lab.fail("recovery", "powerOn", "db1")
    failed = look(page, report_html(lab_run(tmp_path / "a", lab), "lab-run"),
                  tmp_path / "lab-failed.png")
    assert_fits(failed)
    assert_time_axis(failed.facts["charts"][0])
    assert failed.text("#measured-rto").startswith("not measured: nothing was recovered")
    assert "power-on:db1 (VM db1): injected powerOn fault" in failed.text(".errors")
    ok = look(page, report_html(lab_run(tmp_path / "b", Lab()), "lab-run"),
              tmp_path / "lab-ok.png")
    assert_fits(ok)
    assert re.fullmatch(r"\d+ ms|\d+\.\d+ s", ok.text("#measured-rto")), \
        ok.text("#measured-rto")
    assert len(ok.facts["charts"][0]["bars"]) == 16  # every step of the test workflow


RUNBOOK_FACTS = """() => ({
  waves: [...document.querySelectorAll("section")].map((s) =>
    [...s.querySelectorAll("table.waves td:nth-child(2)")].map((td) => td.textContent)),
  phaseLinks: [...document.querySelectorAll("a.phase")].map((a) => {
    const target = document.getElementById(a.getAttribute("href").slice(1));
    return {text: a.textContent, h3: !!target && target.tagName === "H3",
            steps: target && target.nextElementSibling
              ? target.nextElementSibling.querySelectorAll("li[value]").length : 0};
  }),
  sites: document.querySelector("table.sites").getBoundingClientRect().width,
  body: document.body.clientWidth})"""


def test_runbook_with_sub_second_timings(page, tmp_path):
    runs = steady_timings(lab_run(tmp_path, Lab()))  # learned timings of 5 ms a step
    result = drkit("runbook", str(SAMPLE), "--format", "html", "--runs-dir", str(runs),
                   "--mode", "test", "--mode", "cleanup", runs=tmp_path / "none")
    assert result.exit_code == 0, result.output
    seen = look(page, result.output, tmp_path / "runbook.png")
    assert_fits(seen)
    assert len(seen.facts["charts"]) == 2  # one timeline per workflow
    for chart in seen.facts["charts"]:
        assert_time_axis(chart)
    facts = page.evaluate(RUNBOOK_FACTS)
    assert len(facts["waves"]) == 2
    for starts in facts["waves"]:
        assert len(set(starts)) == len(starts), starts  # no two waves read the same T+
    first_second = [w for w in facts["waves"][0] if w.startswith("T+0:00:00.")]
    assert len(first_second) >= 3, facts["waves"][0]  # sub-second waves, told apart
    assert facts["phaseLinks"] and all(link["h3"] and link["steps"] > 0
                                       for link in facts["phaseLinks"]), facts["phaseLinks"]
    assert facts["sites"] <= facts["body"]
