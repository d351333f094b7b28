"""A fresh two-site lab (appliances, vcsim, SRA) per test, with the demo's plan protected."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.plan.load import load_plan
from orchestrator.protect import protect_vms
from simulators.demo.run import write_plan
from simulators.vcsim.labstate import LabOptions, start_lab, stop_lab


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DRKIT_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("DRKIT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DRKIT_POLL_INTERVAL", "0.3")
    info = start_lab(tmp_path / "lab", LabOptions(vms=3, hosts=2, boot_delay_s=0.5))
    try:
        plan_path = write_plan(tmp_path, info)
        plan = load_plan(plan_path)
        protect_vms(plan)
        yield {"lab": info, "plan_path": plan_path, "plan": plan, "root": tmp_path,
               "env": dict(os.environ)}
    finally:
        stop_lab(tmp_path / "lab")
