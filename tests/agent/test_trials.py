"""Trials end to end: the real CLI, and the pluggable recovered-image step."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulators.agent.sources import ExportSource
from simulators.agent.trials import TrialConfig, TrialRunner, format_table

pytestmark = pytest.mark.live
REPO = Path(__file__).resolve().parents[2]


def test_drkit_trials_reports_both_modes_side_by_side() -> None:
    drkit = Path(sys.executable).parent / "drkit"
    out = subprocess.run([str(drkit), "trials", "--count", "4",
                          "--seed", "7", "--json"], capture_output=True, text=True, cwd=REPO,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    app, crash = report["modes"]["app"], report["modes"]["crash"]
    assert app["trials"] == crash["trials"] == 4
    assert app["violations_total"] == 0 and app["consistency"] == {"app": 4}
    assert app["pause_ms"]["count"] == 4 and app["pause_ms"]["median"] > 0
    assert crash["consistency"] == {"crash": 4} and crash["pause_ms"]["count"] == 0


def test_a_different_image_source_plugs_into_the_same_trials(appliance, tmp_path: Path) -> None:
    runner = TrialRunner(appliance.client, appliance.url, appliance.token, appliance.token_file,
                         tmp_path, ExportSource(tmp_path))
    summary = runner.run_mode("app", TrialConfig(count=3, seed=2))
    d = summary.to_dict()
    assert d["checked"] == 3 and d["violations_total"] == 0
    assert not list(tmp_path.glob("*.img"))  # the source cleaned up after each check
    assert "images with violations" in format_table({"app": summary})
    assert appliance.client.list_agents() == []  # the guest deregistered


@pytest.mark.slow
def test_trials_through_replication_recover_from_the_replica(tmp_path: Path) -> None:
    from simulators.agent.trials import run_trials

    summaries = run_trials(["crash"], TrialConfig(count=3, seed=4), via="replica")
    crash = summaries["crash"].to_dict()
    assert crash["checked"] == 3 and crash["consistency"] == {"crash": 3}
    assert crash["snapshot_failures"] == 0 and crash["pause_ms"]["count"] == 0


@pytest.mark.slow
def test_trials_through_the_sra_test_failover_of_the_replica() -> None:
    from simulators.agent.trials import run_trials

    summaries = run_trials(["app", "crash"], TrialConfig(count=2, seed=6), via="sra")
    app, crash = summaries["app"].to_dict(), summaries["crash"].to_dict()
    assert app["snapshot_failures"] == 0 and crash["snapshot_failures"] == 0
    assert app["checked"] == 2 and app["violations_total"] == 0
    assert app["consistency"] == {"app": 2} and crash["consistency"] == {"crash": 2}


def test_drkit_trials_on_a_given_https_appliance_pins_its_certificate(appliance_factory) -> None:
    """--appliance-url over https: the fingerprint given is pinned for every client of the
    trials (the runner, the guest, the recovered-image reader); a wrong one is refused."""
    app = appliance_factory("trials-tls", tls=True)
    drkit = Path(sys.executable).parent / "drkit"
    base = [str(drkit), "trials", "--mode", "crash", "--count", "2", "--json",
            "--appliance-url", app.url, "--appliance-token-file", str(app.token_file)]
    out = subprocess.run([*base, "--appliance-fingerprint", app.fingerprint],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["modes"]["crash"]["checked"] == 2
    wrong = "AA:" * 31 + "AA"
    out = subprocess.run([*base, "--appliance-fingerprint", wrong],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode != 0 and "error:" in out.stderr
    assert app.token not in out.stderr
