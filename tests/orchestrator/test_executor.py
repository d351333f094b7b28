"""The executor against an in-memory two-site lab: order, error policy, retries, timeouts,
resume from a journal."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import yaml

from orchestrator.executor.journal import Journal, read_events
from orchestrator.executor.run import Executor, RunResult
from orchestrator.graph import build_workflow
from orchestrator.plan.generate import generate_dict
from orchestrator.plan.load import check_text
from orchestrator.ports.errors import PortsNotWired
from orchestrator.steps.base import RunContext, Status
from tests.orchestrator.labsite import Lab, ports

SAMPLE = (Path(__file__).resolve().parents[2] / "plans" / "sample-app.yaml").read_text()
WEB = """  - name: web
    priority: 2
"""


def execute(text: str, workflow: str, lab: Lab, tmp_path: Path,
            prior: dict | None = None) -> tuple[RunResult, list[dict]]:
    plan = check_text(text, environ={}).plan
    storage, vsphere = ports(lab)
    ctx = RunContext(plan, workflow, "run1", storage, vsphere, prompt=lambda m, t: True,
                     workdir=tmp_path, poll_interval=0.01)
    journal = Journal(tmp_path / "run1" / "journal.jsonl")
    result = Executor(build_workflow(plan, workflow), ctx, journal, prior).run()
    journal.close()
    return result, list(read_events(journal.path))


def at(lab: Lab, site: str, verb: str, subject: str) -> int:
    return lab.log.index((site, verb, subject))


def seeded() -> Lab:
    lab = Lab()
    lab.vms["protected"].update(db1="poweredOn", app1="poweredOn", app2="poweredOn")
    return lab


def test_planned_migration_runs_every_step_in_srm_order(tmp_path):
    lab = seeded()
    result, events = execute(SAMPLE, "planned", lab, tmp_path)
    assert result.status == "ok", result.failed()
    assert lab.vms == {"protected": {}, "recovery": {"db1": "poweredOn", "app1": "poweredOn",
                                                     "app2": "poweredOn"}}
    order = [("protected", "shutdown", "app1"), ("protected", "shutdown", "db1"),
             ("protected", "prepareFailover", "app-pg"), ("recovery", "failover", "app-pg"),
             ("recovery", "mount", "app-pg"), ("recovery", "register", "db1"),
             ("recovery", "powerOn", "db1"), ("recovery", "waitTools", "db1"),
             ("recovery", "powerOn", "app1")]
    assert [at(lab, *c) for c in order] == sorted(at(lab, *c) for c in order)
    oks = {e["step"] for e in events if e.get("status") == "ok"}
    assert {"post-callout:db1:0", "post-callout:app2:0", "custom:announce"} <= oks
    steps = [e for e in events if e["event"] == "step"]
    assert all(e["start"].endswith("Z") for e in steps if e["status"] == "ok")


def test_test_then_cleanup_leaves_the_recovery_site_as_before(tmp_path):
    lab = seeded()
    assert execute(SAMPLE, "test", lab, tmp_path)[0].status == "ok"
    assert lab.vms["recovery"]["app2"] == "poweredOn"
    assert lab.vms["protected"]["db1"] == "poweredOn"  # production untouched
    assert execute(SAMPLE, "cleanup", lab, tmp_path / "c")[0].status == "ok"
    assert lab.vms["recovery"] == {}
    assert ("recovery", "testFailoverStop", "app-pg") in lab.log


def test_disaster_continues_past_protected_site_errors(tmp_path):
    lab = seeded()
    lab.fail("protected", "syncOnce", "app-pg", times=10)
    lab.fail("protected", "shutdown", "db1")
    result, _ = execute(SAMPLE, "disaster", lab, tmp_path)
    assert result.status == "ok-with-errors"
    assert result.outcomes["shutdown:db1"].status == Status.FAILED
    assert lab.vms["recovery"]["app1"] == "poweredOn"


def test_planned_stops_on_protected_site_errors(tmp_path):
    lab = seeded()
    lab.fail("protected", "shutdown", "db1")
    result, events = execute(SAMPLE, "planned", lab, tmp_path)
    assert result.status == "failed"
    assert not any(verb == "failover" for _, verb, _ in lab.log)
    assert "failover:app-pg" not in {e.get("step") for e in events}


def test_failed_vm_skips_its_dependents_and_others_go_on(tmp_path):
    lab = seeded()
    lab.fail("recovery", "powerOn", "db1")
    result, events = execute(SAMPLE.replace("  - name: app1\n", WEB + "  - name: app1\n"),
                             "test", lab, tmp_path)
    assert result.status == "ok-with-errors"
    skipped = {e["step"] for e in events if e.get("status") == "skipped-dependency-failed"}
    assert {"pre-callout:app1:0", "power-on:app1", "power-on:app2", "wait-tools:db1",
            "post-callout:db1:0"} <= skipped
    assert lab.vms["recovery"]["web"] == "poweredOn"


def test_error_policy_stop_ends_the_run_at_a_vm_failure(tmp_path):
    lab = seeded()
    lab.fail("recovery", "powerOn", "db1")
    result, _ = execute(SAMPLE.replace("error_policy: continue", "error_policy: stop"), "test",
                        lab, tmp_path)
    assert result.status == "failed"
    assert result.outcomes.get("power-on:app2") is None  # never started


def test_transient_errors_are_retried_permanent_ones_are_not(tmp_path):
    lab = seeded()
    lab.fail("recovery", "register", "db1", times=2, transient=True)
    lab.fail("recovery", "register", "app1", times=1)
    result, events = execute(SAMPLE, "test", lab, tmp_path)
    assert lab.calls[("recovery", "register", "db1")] == 3
    assert lab.calls[("recovery", "register", "app1")] == 1
    assert result.outcomes["register:db1"].status == Status.OK
    assert result.outcomes["register:app1"].status == Status.FAILED
    ok = next(e for e in events if e.get("step") == "register:db1" and e["status"] == "ok")
    assert ok["attempt"] == 3


def test_step_timeout(tmp_path):
    text = SAMPLE.replace("sh -c 'echo recovery of sample-app started'", "sleep 5").replace(
        "    idempotent: true\n", "    idempotent: true\n    timeout: 0.3\n")
    result, _ = execute(text, "test", seeded(), tmp_path)
    outcome = result.outcomes["custom:announce"]
    assert outcome.status == Status.FAILED and "longer than 0.3s" in outcome.error


def test_resume_does_not_repeat_done_or_already_applied_steps(tmp_path):
    lab = seeded()
    first, events = execute(SAMPLE, "test", lab, tmp_path)
    assert first.status == "ok"
    prior = {e["step"]: e for e in events if e["event"] == "step"}
    # pretend the run died right after registering db1 but before journalling it
    prior["register:db1"] = {**prior["register:db1"], "status": "running"}
    for later in ("power-on:db1", "wait-tools:db1"):
        del prior[later]
    lab.calls.clear()
    again, _ = execute(SAMPLE, "test", lab, tmp_path, prior)
    assert again.status == "ok"
    assert lab.calls[("recovery", "register", "db1")] == 0  # checked, not redone
    assert lab.calls[("recovery", "reconfigure", "db1")] == 1  # idempotent, so re-applied
    assert lab.calls[("recovery", "powerOn", "db1")] == 0  # already on: checked, not redone
    assert lab.calls[("recovery", "testFailoverStart", "app-pg")] == 0


def test_interrupted_non_idempotent_command_is_outcome_unknown(tmp_path):
    text = SAMPLE.replace("    idempotent: true\n", "")
    prior = {"custom:announce": {"status": "running"}}
    result, _ = execute(text, "test", seeded(), tmp_path, prior)
    assert "cannot check its own effect" in result.outcomes["custom:announce"].error


def test_missing_ports_are_named_before_anything_runs(tmp_path):
    plan = check_text(SAMPLE, environ={}).plan
    ctx = RunContext(plan, "planned", "r", workdir=tmp_path)
    journal = Journal(tmp_path / "j.jsonl")
    with pytest.raises(PortsNotWired, match="no storage port for the protected site"):
        Executor(build_workflow(plan, "planned"), ctx, journal).run()
    assert journal.path.read_text() == ""


def test_require_app_consistent_quiesces_and_refuses_crash_consistent_points(tmp_path):
    strict = SAMPLE.replace("  test_sync: true", "  test_sync: true\n  require_app_consistent: "
                                                 "true")
    lab = seeded()
    result, _ = execute(strict, "planned", lab, tmp_path)
    assert result.status == "ok" and lab.quiesced == {"app-pg": True}
    lab = seeded()  # disaster: no sync at the protected site, the latest point is crash-only
    lab.fail("protected", "syncOnce", "app-pg", times=10)
    result, _ = execute(strict, "disaster", lab, tmp_path / "d")
    outcome = result.outcomes["failover:app-pg"]
    assert result.status == "failed" and outcome.status == Status.FAILED
    assert "recovery point 2026-01-01T00:00:00Z is only crash-consistent" in outcome.error
    assert lab.vms["recovery"] == {}  # no VM registered on crash-consistent storage


def test_watchdog_fails_a_step_that_ignores_its_timeout(tmp_path):
    text = SAMPLE.replace("""    type: command
    command: "sh -c 'echo recovery of sample-app started'"
""", """    type: prompt
    message: "nobody will answer"
    timeout: 0.2
""")
    plan = check_text(text, environ={}).plan
    release = threading.Event()
    storage, vsphere = ports(seeded())
    ctx = RunContext(plan, "test", "r", storage, vsphere, workdir=tmp_path,
                     prompt=lambda message, timeout: "nobody" not in message or release.wait(30))
    journal = Journal(tmp_path / "j.jsonl")
    started = time.monotonic()
    try:
        result = Executor(build_workflow(plan, "test"), ctx, journal, grace=0.2).run()
    finally:
        release.set()
    outcome = result.outcomes["custom:announce"]
    assert outcome.status == Status.FAILED and "did not finish" in outcome.error
    assert time.monotonic() - started < 10
    assert result.outcomes["power-on:app2"].status == Status.OK  # the rest went on


def test_concurrency_is_bounded_per_site_and_per_host(tmp_path):
    data = generate_dict(30)
    data["options"]["concurrency"] = {"per_site": 5, "per_host": 2}
    for i, vm in enumerate(data["vms"]):
        vm.pop("callouts", None)
        vm["host"] = f"esx-{i % 6}"
    lab = Lab(delay=0.02, hosts={vm["name"]: vm["host"] for vm in data["vms"]})
    result, _ = execute(yaml.safe_dump(data), "test", lab, tmp_path)
    assert result.status == "ok"
    assert 1 < lab.peak["recovery"] <= 5  # parallel, never beyond the limit
    assert max(lab.peak[vm["host"]] for vm in data["vms"]) <= 2


def test_commands_do_not_see_the_plans_credential_variables(tmp_path):
    text = SAMPLE.replace("sh -c 'echo recovery of sample-app started'",
                          "sh -c 'echo a${DRKIT_VC_A_PASSWORD}b${HOME_ISH}c'")
    plan = check_text(text, environ={}).plan
    storage, vsphere = ports(seeded())
    ctx = RunContext(plan, "test", "r", storage, vsphere, workdir=tmp_path,
                     prompt=lambda m, t: True,
                     environ={"DRKIT_VC_A_PASSWORD": "s3cret", "HOME_ISH": "kept",
                              "PATH": os.environ["PATH"]})
    journal = Journal(tmp_path / "j.jsonl")
    Executor(build_workflow(plan, "test"), ctx, journal).run()
    assert ctx.outputs["custom:announce"]["stdout"] == "abkeptc\n"
    assert "s3cret" not in journal.path.read_text()
