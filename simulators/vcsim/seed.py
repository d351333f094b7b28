"""Protected-site seeding: VMs whose files live on appliance LUNs.

What an administrator built at the protected site before drkit arrived, made on vcsim:

1. :func:`create_datastore` - a datastore (a local directory served by vcsim) named after the
   datastore LUN that will hold it;
2. :func:`create_vm` - a VM on that datastore with its NICs, virtual disks and RDMs (stand-in
   flat disks named after the RDM LUN's WWN, see orchestrator/vsphere/vmspec.py), an optional
   per-VM boot delay for guest emulation, and some bytes in its first disk so the data path can be
   checked end to end;
3. :func:`simulators.vcsim.storage.seed_datastore` - the tar stand-in of the datastore directory
   written onto the datastore LUN, ready to be replicated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyVmomi import vim

from orchestrator.vsphere import inventory as inv
from orchestrator.vsphere.faults import vsphere_call
from orchestrator.vsphere.protection import normalize_wwn
from orchestrator.vsphere.tasks import wait_for_task
from simulators.vcsim.guest import BOOT_DELAY_KEY

Dev = vim.vm.device


@dataclass(frozen=True)
class ProtectedVm:
    name: str
    cpus: int = 1
    memory_mb: int = 256
    guest_id: str = "otherLinux64Guest"
    networks: Sequence[str] = ("VM Network",)
    disks_kb: Sequence[int] = (1024,)
    rdm_wwns: Sequence[str] = ()
    boot_delay_s: float | None = None
    disk_payload: bytes = b""
    extra: dict[str, str] = field(default_factory=dict)


def create_datastore(si: Any, host: str, name: str, directory: Path) -> None:
    """Serve ``directory`` as datastore ``name`` on ``host``."""
    Path(directory).mkdir(parents=True, exist_ok=True)
    ref = inv.names(si, vim.HostSystem)[host]
    with vsphere_call(f"datastore {name!r} on host {host!r}"):
        ref.configManager.datastoreSystem.CreateLocalDatastore(name=name, path=str(directory))


def create_vm(si: Any, host: str, datastore: str, vm: ProtectedVm,
              datastore_dir: Path | None = None) -> None:
    """Create ``vm`` on ``datastore``; write ``disk_payload`` into its first disk's extent."""
    ref = inv.names(si, vim.HostSystem)[host]
    with vsphere_call(f"VM {vm.name!r}"):
        compute = ref.parent
        datacenter = compute.parent
        while not isinstance(datacenter, vim.Datacenter):
            datacenter = datacenter.parent
        folder, pool = datacenter.vmFolder, compute.resourcePool
    spec = _config(vm, datastore)
    wait_for_task(folder.CreateVM_Task(config=spec, pool=pool, host=ref), f"VM {vm.name!r}")
    if vm.disk_payload and datastore_dir is not None:
        extent = Path(datastore_dir) / vm.name / f"{vm.name}-flat.vmdk"
        extent.write_bytes(vm.disk_payload)


def _config(vm: ProtectedVm, datastore: str) -> vim.vm.ConfigSpec:
    extra = dict(vm.extra)
    if vm.boot_delay_s is not None:
        extra[BOOT_DELAY_KEY] = str(vm.boot_delay_s)
    changes = [Dev.VirtualDeviceSpec(operation="add", device=Dev.VirtualLsiLogicController(
        key=-100, busNumber=0, sharedBus="noSharing"))]
    for n, network in enumerate(vm.networks):
        nic = Dev.VirtualVmxnet3(key=-300 - n, backing=Dev.VirtualEthernetCard.NetworkBackingInfo(
            deviceName=network))
        changes.append(Dev.VirtualDeviceSpec(operation="add", device=nic))
    files = [f"{vm.name}.vmdk" if n == 0 else f"{vm.name}_{n}.vmdk"
             for n in range(len(vm.disks_kb))]
    files += [f"{vm.name}-rdm-naa.{normalize_wwn(w)}.vmdk" for w in vm.rdm_wwns]
    sizes = [*vm.disks_kb, *[1024] * len(vm.rdm_wwns)]
    for unit, (name, size) in enumerate(zip(files, sizes, strict=True)):
        disk = Dev.VirtualDisk(key=-200 - unit, controllerKey=-100, unitNumber=unit,
                               capacityInKB=size, backing=Dev.VirtualDisk.FlatVer2BackingInfo(
                                   fileName=f"[{datastore}] {vm.name}/{name}",
                                   diskMode="persistent"))
        changes.append(Dev.VirtualDeviceSpec(operation="add", fileOperation="create",
                                             device=disk))
    return vim.vm.ConfigSpec(
        name=vm.name, numCPUs=vm.cpus, memoryMB=vm.memory_mb, guestId=vm.guest_id,
        files=vim.vm.FileInfo(vmPathName=f"[{datastore}]"), deviceChange=changes,
        extraConfig=[vim.option.OptionValue(key=k, value=v) for k, v in extra.items()])
