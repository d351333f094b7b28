"""The checker's command line on saved image files (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from simulators.agent import layout as L
from simulators.agent.blockdev import FileDevice
from simulators.agent.refstore import Store, StoreConfig
from tests.agent.helpers import run_transfers, small_geometry

REPO = Path(__file__).resolve().parents[2]


def run_check(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "simulators.agent", "check", "--data-file",
           str(tmp_path / "data.img"), "--wal-file", str(tmp_path / "wal.img"), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=60)


def test_check_command_exit_status_tells_clean_from_violated(tmp_path: Path) -> None:
    g = small_geometry()
    data = FileDevice(tmp_path / "data.img", g.data_bytes)
    wal = FileDevice(tmp_path / "wal.img", g.wal_bytes)
    store = Store.format(data, wal, g, StoreConfig(seed=1))
    run_transfers(store, 8)
    store.close()
    clean = run_check(tmp_path, "--json")
    assert clean.returncode == 0, clean.stderr
    assert json.loads(clean.stdout)["counts"] == dict.fromkeys(
        ("torn-record", "log-data-disagreement", "half-applied", "invariant-broken"), 0)
    data.write(g.record_offset(3) + L.SECTOR, bytes(L.SECTOR))  # tear account 3
    torn = run_check(tmp_path)
    assert torn.returncode == 1
    assert torn.stdout.startswith("VIOLATIONS: torn-record=1")


def test_check_command_on_something_that_is_not_a_store(tmp_path: Path) -> None:
    FileDevice(tmp_path / "data.img", 4096)
    FileDevice(tmp_path / "wal.img", 4096)
    out = run_check(tmp_path)
    assert out.returncode == 2
    assert "format-error: data device: no valid store superblock" in out.stderr
