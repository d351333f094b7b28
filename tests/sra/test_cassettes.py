"""Fast tests: recorded SRA<->appliance HTTP exchanges (vcrpy), replayed in-process.

The SRA runs in-process through ``sra.dispatch.respond`` (vcrpy can only see this process's
HTTP). Cassettes live in tests/sra/cassettes/; the Authorization header is filtered out when
they are recorded. Re-record against real appliance processes with
``SRA_RECORD=1 pytest tests/sra/test_cassettes.py`` (each scenario writes ``<name>.yaml`` and a
``<name>.json`` with the appliance id and URL it ran against).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import vcr

from sra import errors
from sra.dispatch import respond
from tests.sra.sra_runner import NS, command, connection, rewrite

HERE = Path(__file__).parent / "cassettes"
GOLDEN = Path(__file__).resolve().parents[1] / "golden"
RECORD = bool(os.environ.get("SRA_RECORD"))
TOKEN_IN_PLAYBACK = "playback-token"
CODE = {d.name: d.code for d in errors.ERRORS}


def _recorder() -> vcr.VCR:
    return vcr.VCR(cassette_library_dir=str(HERE), record_mode="all" if RECORD else "none",
                   match_on=["method", "path", "query"], filter_headers=["authorization"],
                   decode_compressed_response=True)


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def golden(case: str, cassette: str, request: str, body: bytes) -> None:
    """Array-backed golden files: tests/golden/<case>/ holds the request as replayed and the
    expected response (C14N-compared), plus a ``cassette`` file naming the cassette."""
    from tests.sra.test_golden import normalise

    folder = GOLDEN / case
    expected = folder / "response.xml"
    if RECORD or os.environ.get("SRA_GOLDEN_UPDATE") or not expected.exists():
        folder.mkdir(exist_ok=True)
        (folder / "cassette").write_text(f"tests/sra/cassettes/{cassette}.yaml\n")
        (folder / "request.xml").write_text(request)
        expected.write_bytes(body)
    assert normalise(body) == normalise(expected.read_bytes())


def replay(name: str, appliance_factory: Callable, build: Callable[[dict], str],
           workdir: Path, setup: Callable | None = None, case: str = "") -> ET.Element:
    """Run scenario ``name``: live and recorded with SRA_RECORD=1, else from its cassette."""
    meta_file = HERE / f"{name}.json"
    if RECORD:
        ap = appliance_factory(name)
        meta = {"url": ap.url, "array_id": ap.client.appliance()["id"], "token": ap.token}
        if setup:
            meta = setup(appliance_factory, meta)
        HERE.mkdir(exist_ok=True)
        meta_file.write_text(json.dumps({k: v for k, v in meta.items() if k != "token"}))
    else:
        meta = {**json.loads(meta_file.read_text()), "token": TOKEN_IN_PLAYBACK}
    request = rewrite(build(meta), workdir)
    with _recorder().use_cassette(f"{name}.yaml"):
        outcome = respond(request.encode())
    assert outcome.exit_code == 0
    if case:
        golden(case, name, build(meta), outcome.body)
    return ET.fromstring(outcome.body)


def test_discover_arrays(appliance_factory: Callable, tmp_path: Path) -> None:
    root = replay("discover_arrays", appliance_factory, lambda m: command(
        "discoverArrays", "", connection=connection(m["url"], m["token"])), tmp_path)
    meta = json.loads((HERE / "discover_arrays.json").read_text())
    assert root.find(f"{_q('Arrays')}/{_q('Array')}").get("id") == meta["array_id"]


def test_per_item_errors(appliance_factory: Callable, tmp_path: Path) -> None:
    def build(m: dict) -> str:
        params = (f"<TestFailoverStopParameters><ArrayId>{m['array_id']}</ArrayId>"
                  '<TargetDevices><TargetDevice key="async-LUN 11"/></TargetDevices>'
                  "</TestFailoverStopParameters>")
        return command("testFailoverStop", params,
                       connection=connection(m["url"], m["token"]))

    root = replay("stop_unknown_device", appliance_factory, build, tmp_path)
    device = root.find(f".//{_q('TargetDevice')}")
    assert device.get("key") == "async-LUN 11"
    assert device.find(_q("Error")).get("code") == str(CODE["UnknownDevice"])


def replicated(factory: Callable, meta: dict) -> dict:
    """Record-time set-up: a peer appliance, one replicated LUN and one replicated group, then
    run the SRA against the *recovery* appliance (the one holding the replicas)."""
    from sra.nss_client import NssClient

    source = NssClient(meta["url"], meta["token"])
    target = factory("recovery")
    peer = source.pair(target.url, target.token)
    lun = source.create_lun("vm disk", 1 << 20)
    source.write(lun["id"], 0, b"R" * 4096)
    members = [source.create_lun(f"db {i}", 1 << 20)["id"] for i in range(2)]
    group = source.create_group("db group", members)
    for ref in (lun["id"], group["id"]):
        source.wait_job(source.create_replication(ref, peer["id"])["job"]["id"])
    reps = target.client.list_replications()
    return {"url": target.url, "token": target.token, "peer_id": source.appliance()["id"],
            "array_id": target.client.appliance()["id"],
            "key": next(r for r in reps if r["source_kind"] == "lun")["devices"][0]["local"]}


def test_discover_devices_at_the_recovery_site(appliance_factory: Callable,
                                               tmp_path: Path) -> None:
    def build(m: dict) -> str:
        params = (f"<DiscoverDevicesParameters><ArrayId>{m['array_id']}</ArrayId><PeerArrayId>"
                  f"{m['peer_id']}</PeerArrayId></DiscoverDevicesParameters>")
        return command("discoverDevices", params, connection=connection(m["url"], m["token"]))

    root = replay("discover_devices_recovery", appliance_factory, build, tmp_path, replicated,
                  case="discoverDevices")
    meta = json.loads((HERE / "discover_devices_recovery.json").read_text())
    devices = root.find(f"{_q('ReplicatedDevices')}/{_q('TargetDevices')}")
    assert [d.get("key") for d in devices] == [meta["key"]]
    assert devices[0].get("state") == "read-only"
    groups = root.find(f"{_q('ReplicatedDevices')}/{_q('TargetGroups')}")
    assert len(groups) == 1 and len(groups[0].find(_q("TargetDevices"))) == 2


def test_test_failover_start(appliance_factory: Callable, tmp_path: Path) -> None:
    def build(verb: str) -> Callable[[dict], str]:
        tag = verb[:1].upper() + verb[1:] + "Parameters"
        return lambda m: command(verb, (
            f"<{tag}><ArrayId>{m['array_id']}</ArrayId><AccessGroups><AccessGroup id='c1'>"
            "<Initiator id='21:00:00:00:11:22:AB:CD' type='FC'/></AccessGroup></AccessGroups>"
            f"<TargetDevices><TargetDevice key='{m['key']}'/></TargetDevices></{tag}>"),
            connection=connection(m["url"], m["token"]))

    started = replay("test_failover", appliance_factory, build("testFailoverStart"), tmp_path,
                     replicated, case="testFailoverStart")
    snapshot = started.find(f".//{_q('TargetDevice')}/{_q('Snapshot')}")
    assert snapshot.findtext(f"{_q('Identity')}/{_q('Wwn')}")
    assert len(snapshot.findtext(f"{_q('RecoveryPoint')}/{_q('Time')}")) == 19


@pytest.mark.parametrize("path", sorted(HERE.glob("*.yaml")), ids=lambda p: p.stem)
def test_cassettes_hold_no_secrets(path: Path) -> None:
    text = path.read_text().lower()
    assert "authorization" not in text and "bearer" not in text
