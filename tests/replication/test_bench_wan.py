"""The WAN benchmark harness runs end to end through the runner (small device, few writes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wan_bench_small_run_is_exact_and_meets_byte_goals() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench", "wan", "--json", "--size", "64M", "--writes", "64",
         "--transactions", "20", "--patterns", "scattered,rewrite4k,sqlite"],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=True)
    report = json.loads(run.stdout)
    assert [p["pattern"] for p in report["patterns"]] == ["scattered", "rewrite4k", "sqlite"]
    for p in report["patterns"]:
        assert p["ground_truth_exact"] and p["replica_equals_head"]
        assert p["drkit"]["sectors_exact"] and p["drkit_plain"]["sectors_exact"]
        assert p["changed_sectors"] > 0 and p["drkit"]["wire"] > 0
    for name, goal in report["goals"].items():
        assert goal["serialized_le_1.03x_ideal"], name
        assert goal["wire_below_block_peers"], name
    if report["tools"].get("rsync"):
        assert all(p["rsync"]["sent"] > 0 for p in report["patterns"])


def test_runner_lists_wan_and_rejects_unknown_names() -> None:
    run = subprocess.run([sys.executable, "-m", "bench", "no-such-bench"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "wan" in run.stderr
