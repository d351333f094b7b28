"""Pure parts of the vSphere adapter and the vcsim helpers (no processes)."""

from __future__ import annotations

import datetime as dt
import io
import tarfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyVmomi import vim, vmodl

from orchestrator.errors import (
    VSphereAlreadyExists,
    VSphereInvalidState,
    VSphereNotFound,
    VSphereTaskFailed,
    VSphereTransientError,
)
from orchestrator.vsphere.faults import translate
from orchestrator.vsphere.protection import (
    ControllerRecord,
    DiskRecord,
    NicRecord,
    VmRecord,
    move_path,
    normalize_wwn,
)
from orchestrator.vsphere.standin import StandInError, extract_device, pack_directory
from orchestrator.vsphere.vmspec import Target, config_spec, nic_backing
from simulators.vcsim.guest import RUNNING, STOPPED, VmState, desired

NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


class MemoryDevices:
    """DeviceReader/DeviceWriter over in-memory byte arrays (a test double of a port)."""

    def __init__(self, **sizes: int) -> None:
        self.data = {wwn: bytearray(size) for wwn, size in sizes.items()}

    def visible(self, wwn, initiators):
        return wwn in self.data

    def size(self, wwn):
        return len(self.data[wwn])

    def read(self, wwn, offset, length):
        return bytes(self.data[wwn][offset:offset + length])

    def write(self, wwn, offset, data):
        self.data[wwn][offset:offset + len(data)] = data


def _vm(**kw) -> VmState:
    base = {"ref": None, "name": "vm", "powered_on": True, "boot_time": NOW,
            "tools_running": False, "boot_delay": None}
    return VmState(**{**base, **kw})


def test_guest_tools_come_up_after_the_boot_delay():
    assert desired(_vm(), NOW + dt.timedelta(seconds=0.5), 1.0) is None
    assert desired(_vm(), NOW + dt.timedelta(seconds=1.0), 1.0) == RUNNING
    assert desired(_vm(boot_delay=3.0), NOW + dt.timedelta(seconds=2), 1.0) is None
    assert desired(_vm(tools_running=True), NOW + dt.timedelta(seconds=9), 1.0) is None
    assert desired(_vm(powered_on=False, tools_running=True), NOW, 1.0) == STOPPED
    assert desired(_vm(powered_on=False), NOW, 1.0) is None


@pytest.mark.parametrize("raw", ["naa.600A0B80", "60:0a:0b:80", "600a0b80", "NAA.600A0B80"])
def test_normalize_wwn(raw):
    assert normalize_wwn(raw) == "600a0b80"


@pytest.mark.parametrize("raw", ["", "naa.", "xyz12345", "6000"])
def test_normalize_wwn_rejects_garbage(raw):
    with pytest.raises(ValueError, match="not a WWN"):
        normalize_wwn(raw)


def test_move_path():
    assert move_path("[ds1] vm/vm.vmx", {"ds1": "snap-ds1"}) == "[snap-ds1] vm/vm.vmx"
    assert move_path("[other] vm/vm.vmx", {"ds1": "x"}) == "[other] vm/vm.vmx"


def test_pack_and_extract_round_trip(tmp_path: Path):
    src = tmp_path / "ds"
    (src / "vm1").mkdir(parents=True)
    (src / "vm1" / "vm1.vmx").write_text("config")
    (src / "vm1" / "vm1-flat.vmdk").write_bytes(bytes(range(256)) * 4000)
    archive = pack_directory(src)
    assert len(archive) % 512 == 0
    dev = MemoryDevices(abc=4 << 20)
    dev.write("abc", 0, archive)
    names = extract_device(dev, "abc", tmp_path / "out")
    assert sorted(names) == ["vm1", "vm1/vm1-flat.vmdk", "vm1/vm1.vmx"]
    assert (tmp_path / "out/vm1/vm1-flat.vmdk").read_bytes() == bytes(range(256)) * 4000


def test_extract_refuses_blank_device_and_escaping_members(tmp_path: Path):
    dev = MemoryDevices(blank=1 << 20, evil=1 << 20)
    with pytest.raises(StandInError, match="blank"):
        extract_device(dev, "blank", tmp_path / "x")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("../escape")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    dev.write("evil", 0, buf.getvalue())
    with pytest.raises(tarfile.OutsideDestinationError):
        extract_device(dev, "evil", tmp_path / "y")
    assert not (tmp_path / "escape").exists()


@given(st.binary(max_size=5000))
def test_any_file_content_survives_the_stand_in(content):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        (src / "f").write_bytes(content)
        dev = MemoryDevices(d=1 << 20)
        dev.write("d", 0, pack_directory(src))
        extract_device(dev, "d", Path(tmp) / "out")
        assert (Path(tmp) / "out" / "f").read_bytes() == content


RECORD = VmRecord(
    name="db1", vmx_path="[ds1] db1/db1.vmx", cpus=4, memory_mb=2048,
    guest_id="otherLinux64Guest", controllers=(ControllerRecord(bus=0),),
    nics=(NicRecord(label="Network adapter 1", network="prod", mac="00:50:56:aa:bb:cc"),),
    disks=(DiskRecord(label="Hard disk 1", capacity_kb=1024, bus=0, unit=0,
                      path="[ds1] db1/db1.vmdk"),
           DiskRecord(label="Hard disk 2", capacity_kb=2048, bus=0, unit=1,
                      rdm_wwn="600aaaa1")),
    extra_config={"drkit.guest.bootDelay": "2"},
)


def _target(style: str) -> Target:
    net = vim.Network("network-9")
    return Target(vm_name="db1", datastore_map={"ds1": "snap-ds1"},
                  network_map={"prod": "dr-prod"}, device_map={"naa.600AAAA1": "600bbbb2"},
                  backings={"dr-prod": nic_backing("dr-prod", net, None, None)},
                  rdm_style=style)


def test_config_spec_adds_devices_on_an_empty_vm():
    spec = config_spec(RECORD, _target("standin"), existing=[])
    assert (spec.numCPUs, spec.memoryMB) == (4, 2048)
    ops = [(c.operation, type(c.device).__name__.rsplit(".", 1)[-1]) for c in spec.deviceChange]
    assert ops == [("add", "VirtualLsiLogicController"), ("add", "VirtualVmxnet3"),
                   ("add", "VirtualDisk"), ("add", "VirtualDisk")]
    nic, disk, rdm = spec.deviceChange[1].device, spec.deviceChange[2], spec.deviceChange[3]
    assert nic.backing.deviceName == "dr-prod" and nic.macAddress == "00:50:56:aa:bb:cc"
    assert disk.device.backing.fileName == "[snap-ds1] db1/db1.vmdk"
    assert disk.fileOperation is None
    assert rdm.device.backing.fileName == "[snap-ds1] db1/db1-rdm-naa.600bbbb2.vmdk"
    assert rdm.fileOperation == "create"


def test_config_spec_edits_what_the_vmx_already_had():
    ctrl = vim.vm.device.VirtualLsiLogicController(key=1000, busNumber=0)
    nic = vim.vm.device.VirtualVmxnet3(key=4000, macAddress="00:50:56:aa:bb:cc")
    disk = vim.vm.device.VirtualDisk(key=2000, controllerKey=1000, unitNumber=0)
    old_rdm = vim.vm.device.VirtualDisk(key=2001, controllerKey=1000, unitNumber=1)
    spec = config_spec(RECORD, _target("rdm"), existing=[ctrl, nic, disk, old_rdm],
                       existing_extra={"drkit.guest.bootDelay": "2"})
    assert spec.extraConfig == []
    ops = [(c.operation, c.device.key) for c in spec.deviceChange]
    assert ops[0] == ("edit", 4000)
    assert ops[1] == ("remove", 2001)
    assert ops[2][0] == "add"
    rdm = spec.deviceChange[2].device.backing
    assert rdm.deviceName == "/vmfs/devices/disks/naa.600bbbb2"
    assert rdm.compatibilityMode == "physicalMode"


@pytest.mark.parametrize(("fault", "error"), [
    (vim.fault.TaskInProgress(), VSphereTransientError),
    (vmodl.fault.ManagedObjectNotFound(), VSphereNotFound),
    (vim.fault.InvalidPowerState(), VSphereInvalidState),
    (vim.fault.ToolsUnavailable(), VSphereInvalidState),
    (vim.fault.CustomizationPending(), VSphereInvalidState),
    (vim.fault.DuplicateName(), VSphereAlreadyExists),
    (vim.fault.FileNotFound(), VSphereNotFound),
    (vim.fault.InvalidDatastorePath(), VSphereTaskFailed),
    (ConnectionResetError("reset"), VSphereTransientError),
])
def test_translate_names_the_object(fault, error):
    err = translate(fault, "VM 'db1'")
    assert isinstance(err, error)
    assert "db1" in str(err)


def test_only_transient_errors_are_retried():
    from orchestrator.vsphere.faults import retry_transient

    calls = []

    @retry_transient
    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise VSphereTransientError("busy", "VM 'x'")
        return "ok"

    @retry_transient
    def broken() -> None:
        calls.append(1)
        raise VSphereNotFound("x")

    assert flaky() == "ok" and len(calls) == 3
    calls.clear()
    with pytest.raises(VSphereNotFound):
        broken()
    assert len(calls) == 1


def test_archive_label_names_the_datastore(tmp_path: Path):
    from orchestrator.vsphere.standin import take_label

    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    dev = MemoryDevices(d=1 << 20)
    dev.write("d", 0, pack_directory(src, label="prod-ds7"))
    extract_device(dev, "d", tmp_path / "out")
    assert take_label(tmp_path / "out") == "prod-ds7"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["f"]
    assert take_label(tmp_path / "out") is None
