"""The stand-in's iSCSI devices against a live appliance: qemu-img logs in as the host's IQN.

Every byte is cross-checked through the other path (the REST API), so a reader that returned
the wrong LUN, a stale window or nothing at all fails here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.errors import TransientError
from orchestrator.vsphere.standin import StandInError, extract_device, write_archive
from simulators.nss.process import free_port
from simulators.vcsim.iscsidevices import IscsiDevices, IscsiPath, _read_range
from simulators.vcsim.storage import NssDevices

pytestmark = pytest.mark.live
MiB = 1 << 20
IQN = "iqn.1998-01.com.vmware:esx-test-1"
FOREIGN = "iqn.2000-01.com.example:not-a-client"
FC = ("FC", "21:00:00:24:ff:00:00:01")


@pytest.fixture
def appliance(appliance_factory):
    return appliance_factory("nss", iscsi_port=0)


@pytest.fixture
def nss(appliance):
    return appliance.client


@pytest.fixture
def lun(nss):
    """A 5 MiB LUN of random bytes, presented (as LUN 3) to a client holding IQN and an FC
    WWPN."""
    made = nss.create_lun("ds", 5 * MiB)
    client = nss.create_client("esx1", [{"type": "FC", "id": FC[1]}, {"type": "iSCSI", "id": IQN}])
    nss.write(made["id"], 0, os.urandom(5 * MiB))
    nss.present(made["id"], client_id=client["id"], lun_number=3)
    return {**made, "client_id": client["id"]}


def test_visible_only_through_a_hosts_iqn(nss, lun):
    devices = IscsiDevices(nss)
    assert devices.visible(lun["wwn"], [FC, ("iSCSI", IQN)])
    assert devices.path(lun["wwn"]).lun == 3 and devices.path(lun["wwn"]).initiator == IQN
    assert not devices.visible(lun["wwn"], [("iSCSI", FOREIGN)])
    assert not devices.visible(lun["wwn"], [FC])  # no FC fabric: only iSCSI reaches the device
    assert devices.size(lun["wwn"]) == 5 * MiB


def test_reads_match_the_rest_api_anywhere(nss, lun):
    devices, rest = IscsiDevices(nss), NssDevices(nss)
    assert devices.visible(lun["wwn"], [("iSCSI", IQN)])
    wwn = lun["wwn"]
    for offset, length in ((0, 512), (512, 4096), (MiB - 512, 2048), (3 * MiB, 2 * MiB),
                           (5 * MiB - 512, 512)):
        assert devices.read(wwn, offset, length) == rest.read(wwn, offset, length)
    streamed = b"".join(devices.read(wwn, off, 64 * 1024) for off in range(0, 5 * MiB, 65536))
    assert streamed == rest.read(wwn, 0, 5 * MiB)
    assert devices.read(wwn, 100, 1000) == rest.read(wwn, 0, 2048)[100:1100]  # unaligned
    with pytest.raises(StandInError, match="outside its 5242880 bytes"):
        devices.read(wwn, 5 * MiB - 512, 1024)


def test_a_new_pass_sees_what_was_written_since(nss, lun):
    """A read at offset 0, or a rescan (visible), never serves an older window."""
    devices = IscsiDevices(nss)
    wwn = lun["wwn"]
    assert devices.visible(wwn, [("iSCSI", IQN)])
    devices.read(wwn, 0, 512)
    nss.write(lun["id"], 0, b"A" * 1024)
    assert devices.read(wwn, 0, 1024) == b"A" * 1024
    nss.write(lun["id"], 512, b"B" * 512)
    assert devices.visible(wwn, [("iSCSI", IQN)])
    assert devices.read(wwn, 512, 512) == b"B" * 512


def test_writes_land_and_a_later_reader_finds_the_device_by_its_presentation(nss, lun,
                                                                            tmp_path: Path):
    """A datastore written back over iSCSI, then read by a reader that never ran a rescan
    (a later run): it logs in as an IQN of the client the device is presented to."""
    (tmp_path / "ds" / "vm").mkdir(parents=True)
    (tmp_path / "ds" / "vm" / "vm-flat.vmdk").write_bytes(b"written over iSCSI\n" * 1000)
    writer = IscsiDevices(nss)
    size = write_archive(writer, lun["wwn"], tmp_path / "ds", label="ds")
    assert NssDevices(nss).read(lun["wwn"], 0, 512)[257:262] == b"ustar"
    later = IscsiDevices(nss)
    assert later.path(lun["wwn"]).initiator == IQN
    names = extract_device(later, lun["wwn"], tmp_path / "out")
    assert "vm/vm-flat.vmdk" in names and size % 512 == 0
    assert (tmp_path / "out" / "vm" / "vm-flat.vmdk").read_bytes() == b"written over iSCSI\n" * 1000


def test_refused_writes_change_nothing(nss, lun):
    devices, rest = IscsiDevices(nss), NssDevices(nss)
    before = rest.read(lun["wwn"], 0, MiB)
    with pytest.raises(StandInError, match="whole 512-byte sectors"):
        devices.write(lun["wwn"], 100, b"x" * 512)
    snap = nss.create_snapshot(lun["id"])
    view = nss.create_timeview(snap["id"], writable=False)
    nss.present(view["id"], client_id=lun["client_id"])
    with pytest.raises(StandInError, match=r"(?i)write.?protect|data.?protect"):
        devices.write(view["wwn"], 0, b"x" * 512)
    assert rest.read(view["wwn"], 0, MiB) == before == rest.read(lun["wwn"], 0, MiB)


def test_a_device_presented_again_under_another_number_is_still_itself(nss, lun):
    devices, rest = IscsiDevices(nss), NssDevices(nss)
    other = nss.create_lun("other", 5 * MiB)
    nss.write(other["id"], 0, b"O" * 512)
    assert devices.visible(lun["wwn"], [("iSCSI", IQN)])
    (pres,) = nss.list_presentations(lun["id"])
    nss.unpresent(lun["id"], pres["id"])
    nss.present(other["id"], client_id=lun["client_id"], lun_number=3)  # its old number
    nss.present(lun["id"], client_id=lun["client_id"], lun_number=7)
    assert devices.read(lun["wwn"], 0, 512) == rest.read(lun["wwn"], 0, 512) != b"O" * 512
    assert devices.path(lun["wwn"]).lun == 7
    (pres,) = nss.list_presentations(lun["id"])
    nss.unpresent(lun["id"], pres["id"])
    with pytest.raises(StandInError, match=f"not presented to initiator {IQN}"):
        devices.read(lun["wwn"], 0, 512)


def test_errors_name_the_device_and_what_to_do(nss, lun, appliance_factory):
    unpresented = nss.create_lun("nobody", MiB)
    with pytest.raises(StandInError, match="presented to no iSCSI initiator"):
        IscsiDevices(nss).size(unpresented["wwn"])
    with pytest.raises(StandInError, match="no such device"):
        IscsiDevices(nss).size("600a0b80000000000000000000000bad")
    plain = appliance_factory("plain").client  # no --iscsi-port
    made = plain.create_lun("x", MiB)
    plain.present(made["id"], initiators=[{"type": "iSCSI", "id": IQN}])
    with pytest.raises(StandInError, match="serves no iSCSI portal"):
        IscsiDevices(plain).read(made["wwn"], 0, 512)


def test_a_portal_that_is_gone_is_transient(lun):
    path = IscsiPath(f"127.0.0.1:{free_port()}", "iqn.2026-12.io.drkit:nss-gone", IQN, 0, MiB)
    with pytest.raises(TransientError, match=lun["wwn"]):
        _read_range(path, 0, 512, lun["wwn"])


def test_the_orchestrator_loads_the_iscsi_reader(appliance):
    """The lab's ``drkit.standin_devices`` entry point is this reader."""
    from orchestrator.wiring import standin_devices

    assert isinstance(standin_devices(appliance.url, appliance.token), IscsiDevices)


def test_an_sra_address_pins_its_https_appliance(appliance_factory):
    """The wiring passes the plan's SRA Address: its query string is the SRA's options, not
    part of the appliance URL, and its ``fingerprint`` is pinned (without it: refused)."""
    from orchestrator.wiring import standin_devices
    from sra.nss_client import NssApiError

    https = appliance_factory("nss-tls", tls=True)
    address = f"{https.url}/?fingerprint={https.fingerprint}&quiesce=true"
    devices = standin_devices(address, https.token)
    assert devices.client.url == https.url
    assert devices.client.appliance()["id"] == https.client.appliance()["id"]
    with pytest.raises(NssApiError) as refused:
        standin_devices(https.url, https.token).client.appliance()
    assert refused.value.code == "tls-untrusted"
