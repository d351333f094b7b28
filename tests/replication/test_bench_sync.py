"""The initial-sync benchmark runs end to end through the runner: a small LUN, one link cut."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MiB = 2**20


@pytest.mark.live
@pytest.mark.slow
def test_sync_bench_through_a_cut_link_makes_an_identical_replica() -> None:
    run = subprocess.run([sys.executable, "-m", "bench", "sync", "--json", "--sizes", "40M",
                          "--cuts", "1"], cwd=ROOT, capture_output=True, text=True,
                         timeout=240, check=True)
    (r,) = json.loads(run.stdout)["results"]
    assert r["size"] == 40 * MiB and r["identical"] and r["cuts"] == 1
    assert r["retries"] >= 1 and r["parts_resent"] <= 1, r
    assert r["parts"] >= 5 and r["wire_bytes"] > 40 * MiB  # random data: nothing compresses
    assert r["sync_s"] > 0 and r["cp_sync_s"] > 0


def test_sync_bench_refuses_a_negative_cut_count() -> None:
    run = subprocess.run([sys.executable, "-m", "bench", "sync", "--cuts", "-1"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "--cuts must be 0 or more, not -1" in run.stderr
