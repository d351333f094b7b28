"""``drkit nss`` as a person uses it: tables, --json, file I/O and TimeView backups."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.live
MiB = 2**20


def _drkit(appliance, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DRKIT_NSS_URL": appliance.url, "DRKIT_NSS_TOKEN": appliance.token,
           "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "orchestrator", "nss", *args], env=env,
                          capture_output=True, input=stdin, timeout=60)


def test_create_list_write_read(appliance, tmp_path):
    made = json.loads(_drkit(appliance, "create-lun", "vol1", "2M", "--json").stdout)
    lun = made["luns"][0]
    data = os.urandom(MiB + 100)
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    assert _drkit(appliance, "write", lun["id"], str(src)).returncode == 0
    out = tmp_path / "out.bin"
    assert _drkit(appliance, "read", lun["id"], str(out)).returncode == 0
    assert out.read_bytes()[:len(data)] == data
    table = _drkit(appliance, "luns").stdout.decode()
    assert "vol1" in table and lun["wwn"] in table


def test_backup_streams_a_snapshot_through_a_timeview(appliance, tmp_path):
    c = appliance.client
    lun = c.create_lun("prod", 2 * MiB)
    before = os.urandom(2 * MiB)
    c.write(lun["id"], 0, before)
    snap = c.create_snapshot(lun["id"])
    c.write(lun["id"], 0, b"changed after the snapshot".ljust(512, b"."))
    host = c.create_client("backup-host", [{"type": "iSCSI", "id": "iqn.2026-01.org.drkit:bk"}])
    target = tmp_path / "backup.img"
    done = _drkit(appliance, "backup", snap["id"], str(target), "--client", host["id"])
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == before
    streamed = _drkit(appliance, "backup", snap["id"], "-")
    assert streamed.stdout == before
    assert [x["role"] for x in c.list_luns()] == ["standalone"]   # the TimeViews are gone


def test_errors_are_one_line_not_a_traceback(appliance):
    done = _drkit(appliance, "backup", "snap-missing", "-")
    assert done.returncode == 1
    assert b"snapshot-not-found" in done.stdout and b"Traceback" not in done.stderr
