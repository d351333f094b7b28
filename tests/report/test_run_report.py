"""``drkit runs report``: from journals of real runs (finished, failed, still going)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from orchestrator.executor.journal import is_running, read_events
from tests.orchestrator.labsite import Lab
from tests.report.runs import SAMPLE, command_plan, drkit, lab_run, run_ids, spawn_run
from tests.report.wellformed import check_html

SCHEMA = {"schema": str, "generated_at": str, "run": str, "plan": str, "workflow": str,
          "vars": dict, "status": str, "finished": bool, "started": str, "history": list,
          "elapsed_seconds": float, "predicted": dict, "counts": dict, "steps": list,
          "vms": list, "errors": list, "warnings": list, "timeline": dict}
STEP = {"id": str, "type": str, "status": str, "attempt": int, "starts": int}
STEPS = ["{name: one, type: command, command: 'touch one.done', workflows: [test], "
         "after: start}",
         "{name: two, type: command, command: \"sh -c 'echo no $APP_API_TOKEN >&2; exit 3'\", "
         "workflows: [test], depends_on: [one]}",
         "{name: three, type: command, command: 'touch three.done', workflows: [test], "
         "depends_on: [two]}",
         "{name: side, type: command, command: 'touch side.done', workflows: [test]}"]


def check_schema(report: dict) -> None:
    for key, kind in SCHEMA.items():
        assert isinstance(report[key], kind), (key, report[key])
    assert report["schema"] == "drkit.run-report/2"
    measured = report["measured_rto_seconds"]
    assert (measured is None) == bool(report["rto_not_measured"])
    for step in report["steps"]:
        for key, kind in STEP.items():
            assert isinstance(step[key], kind), (key, step)
    chart = report["timeline"]
    assert chart["scale"] >= report["elapsed_seconds"] and chart["ticks"][0]["left"] == 0
    assert chart["ticks"][-1]["left"] == 100 and len(chart["ticks"]) >= 2
    for bar in chart["bars"]:
        assert 0 <= bar["left"] <= 100 and 0 < bar["width"] <= 100 - bar["left"] + 1e-6


@pytest.fixture
def failed_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A real ``drkit run``: one ok, one failing (stderr echoes a secret), one skipped."""
    monkeypatch.chdir(tmp_path)
    plan, runs = command_plan(tmp_path, STEPS), tmp_path / "runs"
    result = drkit("run", str(plan), "--mode", "test", runs=runs,
                   env={"APP_API_TOKEN": "pa55-w0rd-xyz"})
    assert result.exit_code == 1, result.output
    assert (tmp_path / "one.done").exists() and not (tmp_path / "three.done").exists()
    return runs, run_ids(runs)[0]


def test_json_report_of_a_finished_run(failed_run):
    runs, run_id = failed_run
    out = drkit("runs", "report", run_id, "--format", "json", runs=runs,
                env={"APP_API_TOKEN": "pa55-w0rd-xyz"})
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    check_schema(report)
    assert report["status"] == "ok-with-errors" and report["finished"]
    status = {s["id"]: s["status"] for s in report["steps"]}
    assert status == {"custom:one": "ok", "custom:two": "failed", "custom:side": "ok",
                      "custom:three": "skipped-dependency-failed"}
    assert report["errors"] == [{"step": "custom:two", "vm": None, "rule": "block",
                                 "error": "command 'sh' exited 3: no ${APP_API_TOKEN}"}]
    assert report["predicted"]["available"] and report["predicted"]["rto_seconds"] == 30.0
    assert report["started"].endswith("Z") and report["ended"].endswith("Z")
    assert report["elapsed_seconds"] < 30 and report["measured_rto_seconds"] is None
    assert report["rto_not_measured"] == \
        "the workflow did not complete: 1 step(s) failed, 1 did not run"
    assert report["measured_rto"] is None and report["rto_delta_seconds"] is None
    assert report["predicted"]["rto"] == "PT30S"
    assert all(s["duration"].startswith("PT") for s in report["steps"] if s["start"])
    bars = {b["id"] for b in report["timeline"]["bars"]}
    assert bars == {"custom:one", "custom:two", "custom:side"}


def test_html_and_md_reports_show_timeline_errors_and_rto(failed_run, tmp_path):
    runs, run_id = failed_run
    target = tmp_path / "report.html"
    assert drkit("runs", "report", run_id, "-o", str(target), runs=runs,
                 env={"APP_API_TOKEN": "pa55-w0rd-xyz"}).exit_code == 0
    html = target.read_text()
    text = check_html(html)
    assert "pa55-w0rd-xyz" not in html  # a secret-looking variable is redacted
    assert html.count('class="bar ') == 3 and "measured RTO" in text
    assert "measured RTOnot measured: the workflow did not complete" in text
    assert "predicted RTO" in text and "0:00:30" not in text  # secs under a minute: "30.0 s"
    assert "30.0 s (default step timings)" in text
    assert "custom:two: custom:two" not in text  # the error without its repeated prefix
    md = drkit("runs", "report", run_id, "--format", "md", "--runs-dir", str(runs),
               runs=tmp_path / "elsewhere").output
    assert "```mermaid\ngantt" in md and ":crit, " in md and ":done, " in md
    assert "| `custom:three` | command | - | - | skipped (dependency failed) | - |" in md
    assert "| measured RTO | **not measured**: the workflow did not complete" in md


def test_prediction_is_unavailable_when_the_plan_is_gone(failed_run, tmp_path):
    runs, run_id = failed_run
    (tmp_path / "plan.yaml").unlink()
    report = json.loads(drkit("runs", "report", run_id, "--format", "json", runs=runs).output)
    assert report["predicted"]["available"] is False
    assert "no longer readable" in report["predicted"]["reason"]
    assert any("no predicted RTO" in w for w in report["warnings"])
    md = drkit("runs", "report", run_id, "--format", "md", runs=runs).output
    assert "| predicted RTO | not available: the plan" in md


def test_changed_plan_is_said(failed_run, tmp_path):
    runs, run_id = failed_run
    plan = tmp_path / "plan.yaml"
    plan.write_text(plan.read_text() + "# edited\n")
    report = json.loads(drkit("runs", "report", run_id, "--format", "json", runs=runs).output)
    assert report["predicted"]["plan_changed"] is True
    assert any("plan changed since the run started" in w for w in report["warnings"])


def test_per_vm_results_of_a_lab_run_with_a_failed_vm(tmp_path):
    lab = Lab()
    lab.fail("recovery", "powerOn", "db1")
    lab.fail("recovery", "register", "app2", times=1, transient=True)
    runs = lab_run(tmp_path, lab)
    report = json.loads(drkit("runs", "report", "lab-run", "--format", "json",
                              runs=runs).output)
    check_schema(report)
    vms = {v["name"]: v for v in report["vms"]}
    assert list(vms) == ["db1", "app1", "app2"]
    assert vms["db1"]["status"] == "failed" and vms["db1"]["step"] == "power-on:db1"
    assert vms["db1"]["error"] == "injected powerOn fault"  # no "power-on:db1: db1: " prefix
    assert report["measured_rto_seconds"] is None
    assert report["rto_not_measured"].startswith("nothing was recovered: 1 step(s) failed")
    assert vms["app1"]["status"] == vms["app2"]["status"] == "skipped-dependency-failed"
    assert vms["app1"]["step"] == vms["app2"]["step"] == "power-on:db1"  # the root cause
    assert any("register:app2 needed 2 attempts" in w for w in report["warnings"])
    html = drkit("runs", "report", "lab-run", runs=runs).output
    check_html(html)


def test_lab_run_all_ok_gives_each_vm_a_ready_time(tmp_path):
    runs = lab_run(tmp_path, Lab())
    report = json.loads(drkit("runs", "report", "lab-run", "--format", "json",
                              runs=runs).output)
    assert report["status"] == "ok" and report["warnings"] == []
    assert report["measured_rto_seconds"] == report["elapsed_seconds"] > 0
    assert report["rto_not_measured"] is None and report["measured_rto"].startswith("PT")
    assert all(v["status"] == "ok" and v["ready_after"] is not None for v in report["vms"])
    assert report["predicted"]["plan_changed"] is False


def test_report_of_a_run_in_progress(tmp_path):
    gate = "{name: gate, type: command, command: \"sh -c 'while [ ! -e open ]; do sleep " \
           "0.01; done; touch gated.done'\", workflows: [test], depends_on: [one]}"
    later = "{name: later, type: command, command: 'touch later.done', workflows: [test], " \
            "depends_on: [gate]}"
    plan, runs = command_plan(tmp_path, [STEPS[0], gate, later]), tmp_path / "runs"
    proc = spawn_run(plan, runs, tmp_path)
    try:
        journal = wait_for_running(runs, "custom:gate")
        report = json.loads(drkit("runs", "report", journal.parent.name, "--format", "json",
                                  runs=runs).output)
        check_schema(report)
        status = {s["id"]: s["status"] for s in report["steps"]}
        assert report["status"] == "in-progress" and not report["finished"]
        assert status == {"custom:one": "ok", "custom:gate": "running", "custom:later": "pending"}
        assert report["ended"] is None and any("no final record" in w for w in report["warnings"])
        html = drkit("runs", "report", journal.parent.name, runs=runs).output
        assert "so far" in check_html(html) and 'class="bar running"' in html
        (tmp_path / "open").touch()
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    done = json.loads(drkit("runs", "report", journal.parent.name, "--format", "json",
                            runs=runs).output)
    assert done["status"] == "ok" and (tmp_path / "later.done").exists()


def wait_unlocked(journal: Path, timeout: float = 10.0) -> None:
    """Until the killed process (and any child it was forking) has let go of the journal."""
    deadline = time.monotonic() + timeout
    while is_running(journal):
        assert time.monotonic() < deadline, "the journal stayed locked"
        time.sleep(0.02)


def wait_for_running(runs: Path, step: str, timeout: float = 20.0) -> Path:
    """The journal of the only run, once ``step`` is journalled as running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in runs.glob("*/journal.jsonl"):
            latest = {e.get("step"): e.get("status") for e in read_events(path)}
            if latest.get(step) == "running":
                return path
        time.sleep(0.02)
    raise AssertionError(f"{step} never started")


def test_killed_then_resumed_run_reports_the_restart(tmp_path):
    gate = "{name: gate, type: command, command: \"sh -c 'while [ ! -e open ]; do sleep " \
           "0.01; done; touch gated.done'\", creates: gated.done, workflows: [test]}"
    plan, runs = command_plan(tmp_path, [gate]), tmp_path / "runs"
    proc = spawn_run(plan, runs, tmp_path)
    try:
        run_id = wait_for_running(runs, "custom:gate").parent.name
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    wait_unlocked(runs / run_id / "journal.jsonl")
    killed = json.loads(drkit("runs", "report", run_id, "--format", "json", runs=runs).output)
    assert killed["status"] == "interrupted" and killed["steps"][0]["status"] == "running"
    time.sleep(0.2)  # an interrupted run's measured time stops at its last record
    again = json.loads(drkit("runs", "report", run_id, "--format", "json", runs=runs).output)
    assert again["elapsed_seconds"] == killed["elapsed_seconds"]
    assert again["rto_not_measured"] == "the run was interrupted before it finished"
    assert "until interrupted" in drkit("runs", "report", run_id, "--format", "md",
                                        runs=runs).output
    (tmp_path / "open").touch()
    assert drkit("runs", "resume", run_id, runs=runs).exit_code == 0
    report = json.loads(drkit("runs", "report", run_id, "--format", "json", runs=runs).output)
    assert [h["status"] for h in report["history"]] == ["started", "resumed", "ok"]
    assert report["steps"][0]["starts"] == 2
    assert "custom:gate was started 2 times (interrupted and resumed)" in report["warnings"]


def test_runbook_learns_step_timings_from_past_runs(tmp_path):
    runs = lab_run(tmp_path, Lab())
    out = drkit("runbook", str(SAMPLE), "--mode", "test", "--runs-dir", str(runs),
                runs=tmp_path / "none").output
    assert "register-vm" in out and "(median of 3)" in out


def test_unknown_run_exits_2(tmp_path):
    result = drkit("runs", "report", "nope", runs=tmp_path)
    assert result.exit_code == 2 and "no run 'nope'" in result.output
