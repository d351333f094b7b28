"""End to end on real processes: protected vcsim site, NSS appliance, recovery vcsim site.

Seed a protected VM whose files live in a datastore directory, tar it onto an appliance LUN,
capture its protection record, snapshot + TimeView the LUNs, present them to the recovery host's
initiators, mount, register, reconfigure, re-IP, power on, see Tools go green after the VM's boot
delay, clean up, and find the recovery site exactly as it was.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.vsphere.adapter import GuestCustomization, NicIp, Registration
from orchestrator.vsphere.protection import ProtectionRecords, normalize_wwn
from orchestrator.vsphere.standin import extract_device
from simulators.vcsim.storage import NssDevices
from tests.vcsim.conftest import HOST, PAYLOAD, Lab

pytestmark = pytest.mark.live


def test_protection_record_round_trips(lab: Lab):
    rec = lab.record
    assert (rec.name, rec.cpus, rec.memory_mb) == ("web01", 2, 512)
    assert [n.network for n in rec.nics] == ["VM Network"]
    assert rec.rdm_wwns == (normalize_wwn(lab.rdm_lun["wwn"]),)
    assert [d.path for d in rec.disks if d.path] == ["[prot-ds] web01/web01.vmdk"]
    assert rec.extra_config["drkit.guest.bootDelay"] == "1.5"
    assert "[prot-ds] web01/web01.vmx" in rec.files
    records = ProtectionRecords.now("prot", [rec])
    assert ProtectionRecords.from_json(records.to_json()) == records
    json.loads(records.to_json())  # plain JSON


def test_recover_vm_end_to_end(lab: Lab, tmp_path: Path):
    _recover_and_clean_up(lab, tmp_path)


def test_recover_vm_from_a_replica(replicated_lab: Lab, tmp_path: Path):
    """The same recovery, from a TimeView of the recovery appliance's latest recovery point."""
    replica_tv = replicated_lab.nss.get_lun(replicated_lab.ds_tv["id"])
    assert replica_tv["role"] == "timeview"
    _recover_and_clean_up(replicated_lab, tmp_path)


def _recover_and_clean_up(lab: Lab, tmp_path: Path) -> None:
    adapter = lab.recovery
    before = adapter.inventory().names()
    ds_wwn, rdm_wwn = lab.ds_tv["wwn"], lab.rdm_tv["wwn"]
    adapter.wait_for_device(HOST, ds_wwn, timeout_s=5)
    adapter.wait_for_device(HOST, rdm_wwn, timeout_s=5)
    adapter.mount_datastore(HOST, ds_wwn, "snap-prot-ds")
    name = adapter.register_vm(Registration(
        lab.record, HOST, datastore_map={"prot-ds": "snap-prot-ds"},
        network_map={"VM Network": "DC0_DVPG0"},
        device_map={lab.rdm_lun["wwn"]: rdm_wwn}))
    # the VM's files really came from the replicated bytes
    ds = next(d for d in adapter.inventory().datastores if d.name == "snap-prot-ds")
    assert (Path(ds.url) / "web01" / "web01-flat.vmdk").read_bytes() == PAYLOAD
    rebuilt = adapter.capture_vm(name)
    assert (rebuilt.cpus, rebuilt.memory_mb) == (2, 512)
    assert [n.network for n in rebuilt.nics] == ["DC0_DVPG0"]
    assert rebuilt.rdm_wwns == (normalize_wwn(rdm_wwn),)
    assert [d.path for d in rebuilt.disks if d.path] == ["[snap-prot-ds] web01/web01.vmdk"]

    adapter.customize_guest(name, GuestCustomization("web01-dr", nics=(NicIp("10.20.0.5"),)))
    adapter.power_on(name)
    assert not adapter.vm_info(name).tools_running
    waited = adapter.wait_for_tools(name, timeout_s=20)
    assert 1.0 <= waited < 10
    info = adapter.vm_info(name)
    assert (info.ip_address, info.hostname, info.heartbeat) == ("10.20.0.5", "web01-dr", "green")

    adapter.shutdown_guest(name, timeout_s=10)
    # what the recovered VM wrote travels back to the (writable TimeView) device on sync
    extent = Path(ds.url) / "web01" / "web01-flat.vmdk"
    extent.write_bytes(PAYLOAD + b"written at the recovery site\n")
    adapter.sync_datastore("snap-prot-ds")
    extract_device(NssDevices(lab.nss), ds_wwn, tmp_path / "check")
    assert (tmp_path / "check" / "web01" / "web01-flat.vmdk").read_bytes() == extent.read_bytes()

    adapter.unregister_vm(name)
    adapter.unmount_datastore("snap-prot-ds")
    assert adapter.inventory().names() == before
    assert list(lab.mount_root.iterdir()) == []


def test_test_recovery_in_an_isolated_network(lab: Lab):
    """Test failover: the VM lands on a port group with no uplink, removed afterwards."""
    adapter = lab.recovery
    before = adapter.inventory().names()
    adapter.create_isolated_network("drkit-test-bubble")
    assert "drkit-test-bubble" in adapter.inventory().networks
    adapter.wait_for_device(HOST, lab.ds_tv["wwn"], timeout_s=5)
    assert adapter.mount_datastore(HOST, lab.ds_tv["wwn"]) == "prot-ds"  # the device's label
    name = adapter.register_vm(Registration(
        lab.record, HOST, network_map={"VM Network": "drkit-test-bubble"},
        device_map={lab.rdm_lun["wwn"]: lab.rdm_tv["wwn"]}, name="web01-test"))
    assert adapter.vm_info(name).networks == ("drkit-test-bubble",)
    adapter.power_on(name)
    adapter.power_on(name)  # idempotent
    adapter.power_off(name)
    adapter.unregister_vm(name)
    adapter.unmount_datastore("prot-ds")
    adapter.remove_network("drkit-test-bubble")
    assert adapter.inventory().names() == before


