"""Bad input against real vcsim: specific errors naming the object, and nothing left half-done."""

from __future__ import annotations

import dataclasses
import socket

import pytest

from orchestrator.errors import (
    DatastoreNotFound,
    DeviceNotFound,
    HostNotFound,
    NetworkNotFound,
    TransientError,
    VMNotFound,
    VSphereAlreadyExists,
    VSphereAuthError,
    VSphereConnectionError,
    VSphereError,
    VSphereInvalidState,
    VSphereNotFound,
)
from orchestrator.vsphere.adapter import Registration
from orchestrator.vsphere.connection import connect
from orchestrator.vsphere.standin import StandInError
from tests.vcsim.conftest import HOST, Lab, MiB

pytestmark = pytest.mark.live


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_vcenter_names_the_url():
    url = f"http://127.0.0.1:{_free_port()}/sdk"
    with pytest.raises(VSphereConnectionError) as err:
        connect(url, "user", "secret-pw", timeout_s=3)
    assert url in str(err.value) and "secret-pw" not in str(err.value)


def test_wrong_credentials_name_the_user_not_the_password(site_factory):
    site = site_factory("auth", guest=False)
    with pytest.raises(VSphereAuthError) as err:
        connect(site.url, site.user, "not-the-password")
    assert site.user in str(err.value) and "not-the-password" not in str(err.value)


def _registration(lab: Lab, **changes) -> Registration:
    base = {"record": lab.record, "host": HOST, "datastore_map": {"prot-ds": "snap"},
            "device_map": {lab.rdm_lun["wwn"]: lab.rdm_tv["wwn"]}}
    return Registration(**{**base, **changes})


def _mounted(lab: Lab) -> None:
    lab.recovery.wait_for_device(HOST, lab.ds_tv["wwn"], timeout_s=5)
    lab.recovery.mount_datastore(HOST, lab.ds_tv["wwn"], "snap")


def test_unknown_names_raise_not_found_naming_them(lab: Lab):
    adapter = lab.recovery
    before = adapter.inventory().names()
    for call, error, name in [
        (lambda: adapter.power_on("no-such-vm"), VMNotFound, "no-such-vm"),
        (lambda: adapter.vm_info("ghost"), VMNotFound, "ghost"),
        (lambda: adapter.rescan_storage("H99"), HostNotFound, "H99"),
        (lambda: adapter.unmount_datastore("nods"), DatastoreNotFound, "nods"),
        (lambda: adapter.remove_network("nonet"), NetworkNotFound, "nonet"),
        (lambda: adapter.register_vm(_registration(lab)), DatastoreNotFound, "snap"),
        (lambda: adapter.register_vm(_registration(lab, host="H7")), HostNotFound, "H7"),
    ]:
        with pytest.raises(error) as err:
            call()
        assert repr(name) in str(err.value)
    assert adapter.inventory().names() == before


def test_unknown_network_registers_nothing(lab: Lab):
    _mounted(lab)
    before = lab.recovery.inventory().names()
    reg = _registration(lab, network_map={"VM Network": "dr-net-missing"})
    with pytest.raises(NetworkNotFound, match=r"'dr-net-missing'.*web01"):
        lab.recovery.register_vm(reg)
    assert lab.recovery.inventory().names() == before


def test_unmapped_rdm_registers_nothing(lab: Lab):
    _mounted(lab)
    before = lab.recovery.inventory().names()
    with pytest.raises(VSphereError, match=lab.record.rdm_wwns[0]):
        lab.recovery.register_vm(_registration(lab, device_map={}))
    assert lab.recovery.inventory().names() == before


def test_failure_after_register_unregisters_the_vm(lab: Lab):
    """A disk file missing from the datastore fails ReconfigVM after RegisterVM succeeded."""
    _mounted(lab)
    before = lab.recovery.inventory().names()
    disks = [dataclasses.replace(d, path="[prot-ds] web01/missing.vmdk") if d.path else d
             for d in lab.record.disks]
    broken = dataclasses.replace(lab.record, disks=tuple(disks))
    with pytest.raises(VSphereError, match="web01"):
        lab.recovery.register_vm(_registration(lab, record=broken))
    assert lab.recovery.inventory().names() == before


def test_register_twice_and_unmount_in_use(lab: Lab):
    _mounted(lab)
    name = lab.recovery.register_vm(_registration(lab))
    with pytest.raises(VSphereAlreadyExists, match="web01"):
        lab.recovery.register_vm(_registration(lab))
    with pytest.raises(VSphereInvalidState, match=r"'snap'.*web01"):
        lab.recovery.unmount_datastore("snap")
    lab.recovery.unregister_vm(name)
    lab.recovery.unmount_datastore("snap")


def test_device_that_never_appears(lab: Lab):
    hidden = lab.nss.create_lun("never-presented", 1 * MiB)
    with pytest.raises(DeviceNotFound) as err:
        lab.recovery.wait_for_device(HOST, hidden["wwn"], timeout_s=0.5)
    assert isinstance(err.value, TransientError)
    assert hidden["wwn"].lower() in str(err.value) and HOST in str(err.value)
    with pytest.raises(DeviceNotFound):
        lab.recovery.mount_datastore(HOST, hidden["wwn"], "hidden")
    with pytest.raises(VSphereError, match="not a WWN: 'lun-7'"):
        lab.recovery.wait_for_device(HOST, "lun-7")


def test_blank_device_is_not_mounted(lab: Lab):
    before = lab.recovery.inventory().names()
    blank = lab.nss.create_lun("blank", 1 * MiB)
    client = lab.nss.list_clients()[0]
    lab.nss.present(blank["id"], client_id=client["id"])
    with pytest.raises(StandInError, match=blank["wwn"].lower()):
        lab.recovery.mount_datastore(HOST, blank["wwn"], "blank")
    assert lab.recovery.inventory().names() == before
    assert list(lab.mount_root.iterdir()) == []


def test_datastore_name_taken(lab: Lab):
    with pytest.raises(VSphereAlreadyExists, match="LocalDS_0"):
        lab.recovery.mount_datastore(HOST, lab.ds_tv["wwn"], "LocalDS_0")
    assert not isinstance(VSphereNotFound("x"), TransientError)


def test_appliance_down_during_mount_is_transient(lab: Lab):
    """The storage port translates appliance errors: unreachable is transient, names the WWN."""
    from simulators.vcsim.storage import NssDevices
    from sra.nss_client import NssClient

    dead = NssDevices(NssClient(f"http://127.0.0.1:{_free_port()}", "token"))
    with pytest.raises(TransientError, match=lab.ds_tv["wwn"]):
        dead.visible(lab.ds_tv["wwn"], [("FC", "21:00:00:00:00:00:00:01")])
    with pytest.raises(StandInError, match="no such device"):
        NssDevices(lab.nss).size("600a0b80000000000000000000000bad")
