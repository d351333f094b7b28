"""The portal: sessions and targets over REST and the CLI, digests, CHAP."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from simulators.nss.process import ApplianceProcess
from tests.iscsi.conftest import HOST_IQN, IscsiLab, require, run
from tests.iscsi.initiator import LoginFailed, MiniInitiator

MiB = 2**20
READ10 = bytes([0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0])


def _cli(lab: IscsiLab, *args: str) -> dict:
    env = {**os.environ, "DRKIT_NSS_TOKEN": lab.proc.token}
    done = subprocess.run([sys.executable, "-m", "simulators.nss", "--url", lab.proc.url,
                           *args, "--json"], capture_output=True, text=True, env=env,
                          check=True)
    return json.loads(done.stdout)


def test_sessions_and_targets_are_listed_while_logged_in(lab: IscsiLab) -> None:
    esx = lab.host("esx1", HOST_IQN)
    lab.lun("d1", 4 * MiB, esx["id"], 2)
    assert _cli(lab, "iscsi-sessions")["sessions"] == []
    host = MiniInitiator(lab.portal, lab.target, HOST_IQN, digests=True)
    answer = host.login()
    assert answer["HeaderDigest"] == answer["DataDigest"] == "CRC32C"
    read = host.command(2, READ10, read=4096)  # digests checked on every PDU both ways
    assert read.status == 0 and read.data == bytes(4096)
    sessions = _cli(lab, "iscsi-sessions")["sessions"]
    assert [(s["initiator"], s["luns"], s["header_digest"]) for s in sessions] == [
        (HOST_IQN, [2], "CRC32C")]
    targets = _cli(lab, "iscsi-targets")["targets"]
    assert targets == [{"name": lab.target, "portal": lab.portal, "sessions": 1,
                        "chap_clients": 0}]
    host.logout()


def test_no_portal_unless_asked(appliance_factory) -> None:
    proc = appliance_factory("plain")
    assert proc.iscsi_portal is None
    assert proc.client._request("GET", "/iscsi/targets")["targets"] == []


def test_chap_per_client(tmp_path, appliance_factory) -> None:
    require("iscsi-inq")
    secrets = tmp_path / "chap.json"
    secrets.write_text(json.dumps({"esx1": {"user": "esx1", "secret": "s3cret-s3cret"}}))
    proc: ApplianceProcess = appliance_factory("chap", iscsi_port=0, iscsi_chap=secrets)
    lab = IscsiLab(proc)
    esx = lab.host("esx1", HOST_IQN)
    lab.lun("d1", 4 * MiB, esx["id"], 0)
    with_secret = f"iscsi://esx1%s3cret-s3cret@{lab.portal}/{lab.target}/0"
    wrong = f"iscsi://esx1%guess-guess-1@{lab.portal}/{lab.target}/0"
    assert "DIRECT_ACCESS" in run(["iscsi-inq", "-i", HOST_IQN, with_secret]).stdout
    assert run(["iscsi-inq", "-i", HOST_IQN, wrong], check=False).returncode != 0
    try:
        MiniInitiator(lab.portal, lab.target, HOST_IQN).login()  # skips security: refused
        raise AssertionError("a login without CHAP went through")
    except LoginFailed as exc:
        assert exc.status_class == 2
    assert "s3cret" not in proc.log_file.read_text()
