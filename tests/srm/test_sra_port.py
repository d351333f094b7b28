"""The orchestrator's SRA storage port against the real SRA subprocess and two appliances."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from orchestrator.plan.model import ProtectionGroup
from orchestrator.ports.errors import StepError
from orchestrator.srm.discovery import Selections
from orchestrator.srm.invoke import Connection, SraCommandError, SraInvoker
from orchestrator.srm.port import SraStoragePort

pytestmark = pytest.mark.live
REPO = Path(__file__).resolve().parents[2]
MiB = 2**20
HOSTS = [("FC", "21:00:00:00:00:00:0b:01"), ("iSCSI", "iqn.1998-01.com.vmware:esx-b1")]


def _port(site, appliance, selections, tmp_path, initiators=None):
    conn = Connection({"nss": appliance.url}, "admin", appliance.token)
    invoker = SraInvoker(["perl", str(REPO / "sra" / "command.pl")], conn, tmp_path / "logs",
                         timeout=60)
    return SraStoragePort(site, invoker, selections, initiators)


@pytest.fixture
def lab(appliance_factory, tmp_path):
    a, b = appliance_factory("site-a"), appliance_factory("site-b")
    ca = a.client
    peer = ca.pair(b.url, b.token)
    luns = [ca.create_lun(f"ds-app-{i}", 2 * MiB) for i in range(2)]
    for lun in luns:
        ca.write(lun["id"], 0, lun["name"].encode().ljust(512, b"."))
    group = ca.create_group("app-cg", [lun["id"] for lun in luns])
    ca.wait_job(ca.create_replication(group["id"], peer["id"])["job"]["id"])
    single = ca.create_lun("ds-logs", MiB)
    ca.wait_job(ca.create_replication(single["id"], peer["id"])["job"]["id"])
    holder: dict = {}
    selections = Selections(tmp_path / "selections.json",
                            lambda: holder["protected"].discovery(),
                            lambda: holder["recovery"].discovery())
    holder["protected"] = _port("protected", a, selections, tmp_path)
    recovery = holder["recovery"] = _port("recovery", b, selections, tmp_path,
                                           initiators=lambda: HOSTS)
    return a, b, holder["protected"], recovery


def _sync(port, pg):
    handle = port.sync_once(pg)
    deadline = time.monotonic() + 60
    while not port.query_sync_status(pg, handle).complete:
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_whole_cycle_through_the_sra(lab):
    a, b, protected, recovery = lab
    pg = ProtectionGroup("app-pg", "consistency_groups", ("app-cg",))
    logs = ProtectionGroup("logs-pg", "datastores", ("ds-logs",))
    for group in (pg, logs):
        _sync(protected, group)

    devices = recovery.test_failover_start(pg)
    assert len(devices) == 2 and all(d.wwn and d.recovery_point for d in devices)
    assert all(d.key != d.wwn for d in devices)
    assert recovery.test_failover_start(pg) == devices                 # idempotent
    seen = b.client.visible_devices("FC", HOSTS[0][1])
    assert {d["wwn"] for d in seen} == {d.wwn for d in devices}
    assert all(d["role"] == "timeview" for d in seen)
    recovery.test_failover_stop(pg)
    recovery.test_failover_stop(pg)                                    # nothing left: success
    assert b.client.visible_devices("FC", HOSTS[0][1]) == []

    protected.prepare_failover(pg)
    _sync(protected, pg)
    promoted = recovery.failover(pg)
    assert len(promoted) == 2
    assert recovery.failover(pg) == promoted                           # SRM retries
    protected_wwns = {lun["wwn"] for lun in a.client.list_luns() if "app" in lun["name"]}
    assert {d.key for d in promoted} == protected_wwns                 # what each replicates
    by_wwn = {lun["wwn"]: lun for lun in b.client.list_luns()}
    for dev in promoted:
        lun = by_wwn[dev.wwn]
        assert lun["access"] == "read-write" and lun["role"] == "primary"
        assert b.client.read(lun["id"], 0, 512).startswith(b"ds-app-")

    protected.prepare_reverse_replication(pg)
    recovery.reverse_replication(pg)
    reversed_ = [r for r in b.client.list_replications() if r["direction"] == "outbound"]
    assert len(reversed_) == 1 and reversed_[0]["source_kind"] == "group"


def test_unknown_member_and_missing_initiators_are_named(lab, tmp_path):
    _, _, protected, recovery = lab
    with pytest.raises(StepError, match="'nope' is not a replicated device"):
        protected.sync_once(ProtectionGroup("pg", "datastores", ("nope",)))
    bare = SraStoragePort("recovery", recovery.invoker, recovery.selections, lambda: [])
    with pytest.raises(StepError, match="no host initiators"):
        bare.test_failover_start(ProtectionGroup("app-pg", "consistency_groups", ("app-cg",)))


def test_whole_command_error_is_raised(tmp_path):
    conn = Connection({"nss": "http://127.0.0.1:9"}, "admin", "secret-token")
    invoker = SraInvoker([sys.executable, "-m", "sra"], conn, tmp_path / "logs", timeout=60,
                         cwd=REPO)
    with pytest.raises(SraCommandError) as err:
        invoker.call("discoverArrays")
    assert err.value.code == "3001" and "secret-token" not in str(err.value)
