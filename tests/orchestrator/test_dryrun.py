"""Dry run: schedule, waves under concurrency limits, critical path, learned timings."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from orchestrator.executor.journal import Journal
from orchestrator.plan.generate import generate_yaml
from orchestrator.plan.load import check_text, load_plan
from orchestrator.schedule import dry_run
from orchestrator.timing import DEFAULTS, TimingModel

SAMPLE = Path(__file__).resolve().parents[2] / "plans" / "sample-app.yaml"


def max_concurrency(slots, key) -> Counter:
    """Largest number of steps running at once per ``key(step)`` (None keys ignored)."""
    events = sorted([(s.start, 1, key(s.step) or "") for s in slots] +
                    [(s.end, -1, key(s.step) or "") for s in slots])
    now, peak = Counter(), Counter()
    for _, delta, k in events:
        if k:
            now[k] += delta
            peak[k] = max(peak[k], now[k])
    return peak


def test_sample_planned_dry_run_is_ordered_and_predicts_rto():
    plan = load_plan(SAMPLE, environ={})
    result = dry_run(plan, "planned")
    ids = [s.step.id for s in result.slots]
    assert ids.index("failover:app-pg") < ids.index("mount:app-pg") < ids.index("register:db1")
    start = {s.step.id: s for s in result.slots}
    assert start["power-on:app2"].start >= start["post-callout:db1:0"].end
    assert result.critical_path[0] == "presync:app-pg"
    assert result.critical_path[-1] == "post-callout:app2:0"
    assert result.predicted_rto == result.critical_seconds == max(s.end for s in result.slots)
    assert [len(w) for w in result.waves][:2] == [2, 2]  # presync+announce; shutdown app1+app2


def test_dry_run_has_no_side_effect(tmp_path):
    marker = tmp_path / "touched"
    text = SAMPLE.read_text().replace("sh -c 'echo recovery of sample-app started'",
                                      f"touch {marker}")
    result = dry_run(check_text(text, environ={}).plan, "test")
    assert any(s.step.id == "custom:announce" for s in result.slots)
    assert not marker.exists()


@pytest.mark.parametrize("per_site,per_host", [(4, 2), (64, 8)])
def test_concurrency_limits_are_respected(per_site, per_host):
    plan = check_text(generate_yaml(200).replace("per_site: 64", f"per_site: {per_site}")
                      .replace("per_host: 8", f"per_host: {per_host}"), environ={}).plan
    result = dry_run(plan, "test")
    assert max(max_concurrency(result.slots, lambda s: s.site).values()) <= per_site
    assert max(max_concurrency(result.slots, lambda s: s.host).values()) <= per_host
    assert result.predicted_rto >= result.critical_seconds


def test_timing_model_learns_medians_from_journals(tmp_path):
    journal = Journal(tmp_path / "r1" / "journal.jsonl")
    for i, secs in enumerate((4, 6, 100)):
        journal.write({"event": "step", "run": "r1", "step": f"power-on:v{i}",
                       "type": "power-on-vm", "status": "ok",
                       "start": "2026-01-01T00:00:00Z", "end": f"2026-01-01T00:00:{secs:02d}Z"})
    journal.write({"event": "step", "run": "r1", "step": "x", "type": "failover",
                   "status": "failed", "start": "2026-01-01T00:00:00Z",
                   "end": "2026-01-01T00:09:00Z"})
    journal.close()
    with (tmp_path / "r1" / "journal.jsonl").open("a") as fh:
        fh.write('{"v": 1, "event": "step", "torn')  # what a kill -9 may leave
    model = TimingModel.from_runs(tmp_path)
    assert model.seconds("power-on-vm") == 6
    assert model.seconds("failover") == DEFAULTS["failover"]  # failures teach nothing
    assert model.source("power-on-vm") == "median of 3"
    faster = dry_run(load_plan(SAMPLE, environ={}), "test", model)
    slower = dry_run(load_plan(SAMPLE, environ={}), "test")
    assert faster.predicted_rto == slower.predicted_rto - 2 * (10 - 6)


def test_generated_1000_vm_plan_dry_runs():
    checked = check_text(generate_yaml(1000), environ={})
    assert not checked.errors
    result = dry_run(checked.plan, "planned")
    per_vm = Counter(s.step.type for s in result.slots)
    assert per_vm["power-on-vm"] == per_vm["register-vm"] == 1000
    assert per_vm["callout"] == 100
    assert max(max_concurrency(result.slots, lambda s: s.site).values()) <= 64
    assert 0 < result.critical_seconds <= result.predicted_rto
    json.dumps([s.step.id for s in result.slots])  # ids are plain strings
