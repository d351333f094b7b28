"""The README's main command, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.live, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(600)
def test_drkit_demo_runs_the_whole_cycle(tmp_path):
    env = {**os.environ, "DRKIT_LAB_DIR": str(tmp_path / "unused"), "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "orchestrator", "demo", "--dir",
                           str(tmp_path / "demo")], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=580)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    for mode in ("test", "cleanup", "planned", "reprotect", "failback"):
        assert f"drkit run --mode {mode}" in out
    assert out.count("application image clean") == 3
    assert "application-consistent recovery point" in out
    reports = sorted((tmp_path / "demo" / "reports").glob("*.html"))
    assert len(reports) == 6 and all("<html" in p.read_text() for p in reports)
    assert (tmp_path / "demo" / "reports" / "runbook.html").is_file()
    listing = f"drkit runs list --runs-dir {tmp_path / 'demo' / 'runs'}"
    assert listing in out
    runs = subprocess.run([sys.executable, "-m", "orchestrator", *listing.split()[1:], "--json"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert sorted(r["workflow"] for r in json.loads(runs.stdout)) == sorted(
        ("test", "cleanup", "planned", "reprotect", "failback"))
    lab = json.loads((tmp_path / "demo" / "lab" / "lab.json").read_text())
    assert lab["state"] == "down" and lab["processes"] == []  # the lab was stopped
