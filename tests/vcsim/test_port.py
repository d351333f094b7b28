"""The VspherePort bridge on real vcsim + appliance: a plan's vSphere steps, twice each."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.plan.model import Inventory, IpSetting, ProtectionGroup
from orchestrator.ports.errors import StepTimeout
from orchestrator.ports.storage import DeviceIdentity
from orchestrator.vsphere.port import RecordStore, VsphereSitePort
from tests.vcsim.conftest import HOST, Lab

pytestmark = pytest.mark.live


def test_port_recovers_a_vm_and_every_call_is_repeatable(lab: Lab, tmp_path: Path):
    store = RecordStore(tmp_path / "state" / "vsphere.json")
    protect = VsphereSitePort("a", lab.protected, store, HOST, peer=None)
    recover = VsphereSitePort("b", lab.recovery, store, HOST, peer=lab.protected)
    before = lab.recovery.inventory().names()
    recover.protect_vm("web01", Inventory())  # record captured from the protected site
    group = ProtectionGroup("pg-web", "datastores", ("prot-ds",))
    devices = [DeviceIdentity(lab.ds_lun["wwn"], lab.ds_tv["wwn"]),
               DeviceIdentity(lab.rdm_lun["wwn"], lab.rdm_tv["wwn"])]
    networks = {"VM Network": "DC0_DVPG0"}
    ip = (IpSetting("VM Network", "10.30.0.7", 16, "10.30.0.1"),)
    for _ in range(2):  # a step re-run after an interruption must not act twice
        assert recover.rescan_and_mount(group, devices) == ["prot-ds"]
        recover.register_vm("web01", Inventory(), networks)
        recover.reconfigure_vm("web01", networks, ip)
    assert recover.vm_state("web01") == "poweredOff"
    assert lab.recovery.capture_vm("web01").rdm_wwns == (lab.rdm_tv["wwn"].lower(),)
    for _ in range(2):
        recover.power_on_vm("web01")
    recover.wait_for_tools("web01", 20)
    info = lab.recovery.vm_info("web01")
    assert (info.ip_address, info.networks) == ("10.30.0.7", ("DC0_DVPG0",))
    for _ in range(2):
        recover.shutdown_vm("web01", 10)
        recover.unregister_vm("web01")
        recover.unmount(group)
    assert recover.vm_state("web01") is None
    assert lab.recovery.inventory().names() == before
    assert protect.vm_state("web01") == "poweredOff"


def test_port_wait_for_tools_times_out_as_a_step_timeout(lab: Lab, tmp_path: Path):
    port = VsphereSitePort("a", lab.protected, RecordStore(tmp_path / "s.json"), HOST)
    lab.protected.power_on("web01")  # site a runs no guest emulation: Tools never come up
    with pytest.raises(StepTimeout, match="web01"):
        port.wait_for_tools("web01", 0.5)
