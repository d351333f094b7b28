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
    assert b"snapshot-not-found" in done.stderr and b"Traceback" not in done.stderr


def test_a_write_past_the_end_writes_nothing(appliance, tmp_path):
    """20 MiB into a 16 MiB LUN is refused before the first byte: the LUN stays all zeros."""
    c = appliance.client
    lun = c.create_lun("small", 16 * MiB)
    src = tmp_path / "big.bin"
    src.write_bytes(b"\xab" * (20 * MiB))
    done = _drkit(appliance, "write", lun["id"], str(src))
    assert done.returncode == 1
    assert b"out-of-range" in done.stderr and b"nothing" in done.stderr
    assert c.read(lun["id"], 0, 16 * MiB) == bytes(16 * MiB)


def test_a_write_to_a_read_only_lun_writes_nothing(appliance, tmp_path):
    c = appliance.client
    lun = c.create_lun("ro", MiB)
    c.update_lun(lun["id"], access="read-only")
    src = tmp_path / "in.bin"
    src.write_bytes(b"\x01" * 4096)
    done = _drkit(appliance, "write", lun["id"], str(src), "--offset", "4096")
    assert done.returncode == 1 and b"read-only-device" in done.stderr
    assert c.read(lun["id"], 0, MiB) == bytes(MiB)


def test_a_failed_read_leaves_no_output_file(appliance, tmp_path):
    """A read that fails midway (the snapshot is unknown) or is refused up front leaves
    neither the target nor a temporary file behind; an old target is left untouched."""
    c = appliance.client
    lun = c.create_lun("src", 8 * MiB)
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = outdir / "out.bin"
    refused = _drkit(appliance, "read", lun["id"], str(out), "--length", str(9 * MiB))
    assert refused.returncode == 1 and b"out-of-range" in refused.stderr
    failed = _drkit(appliance, "read", lun["id"], str(out), "--snapshot", "snap-gone")
    assert failed.returncode == 1 and b"snapshot-not-found" in failed.stderr
    assert list(outdir.iterdir()) == []
    out.write_bytes(b"previous backup")
    _drkit(appliance, "read", lun["id"], str(out), "--snapshot", "snap-gone")
    assert out.read_bytes() == b"previous backup"
    assert sorted(p.name for p in outdir.iterdir()) == ["out.bin"]
