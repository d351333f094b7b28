"""Turn a protection record into the ``ReconfigVM_Task`` spec that rebuilds the VM.

Pure functions over pyvmomi data objects (no calls to vCenter). The spec *reconciles*: a real
vCenter's RegisterVM reads the .vmx, so recorded devices may already exist (they are edited:
NICs move to their mapped network, RDMs to the recovered WWN); vcsim's RegisterVM does not, so
they are added. RDMs are real ``RawDiskMappingVer1`` backings on vCenter; vcsim 0.24.2 panics on
any non-flat disk backing, so there (``rdm_style="standin"``) an RDM is a flat disk whose file
name carries the device: ``<vm>-rdm-naa.<wwn>.vmdk``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyVmomi import vim

from orchestrator.vsphere.protection import (
    NIC_TYPES,
    SCSI_TYPES,
    DiskRecord,
    NicRecord,
    VmRecord,
    move_path,
    normalize_wwn,
)

Dev = vim.vm.device
NIC_CLASSES = {short: getattr(Dev, cls) for cls, short in NIC_TYPES.items()}
SCSI_CLASSES = {short: getattr(Dev, cls) for cls, short in SCSI_TYPES.items()}


@dataclass(frozen=True)
class Target:
    """Where the record lands: mapped names and the recovery site's network objects."""

    vm_name: str
    datastore_map: Mapping[str, str]
    network_map: Mapping[str, str]
    device_map: Mapping[str, str]
    backings: Mapping[str, Any]  # recovery network name -> NIC backing (see nic_backing)
    rdm_style: str = "rdm"  # "rdm" (vCenter) or "standin" (vcsim)
    create_rdm_files: bool = True  # False: the mapping/stand-in files exist; attach them


def config_spec(record: VmRecord, target: Target, existing: list[Any],
                existing_extra: Mapping[str, Any] | None = None) -> vim.vm.ConfigSpec:
    """The spec; ExtraConfig keys the VM already has (a real .vmx) are left alone."""
    have = existing_extra or {}
    extra = [vim.option.OptionValue(key=k, value=v) for k, v in record.extra_config.items()
             if k not in have]
    return vim.vm.ConfigSpec(
        numCPUs=record.cpus, numCoresPerSocket=record.cores_per_socket,
        memoryMB=record.memory_mb, guestId=record.guest_id, extraConfig=extra,
        deviceChange=device_changes(record, target, existing),
    )


def device_changes(record: VmRecord, target: Target, existing: list[Any]) -> list[Any]:
    changes: list[Any] = []
    controller_keys = _controllers(record, existing, changes)
    for nic in record.nics:
        changes.append(_nic_change(nic, target, existing))
    for disk in record.disks:
        changes.extend(_disk_changes(disk, record, target, existing, controller_keys))
    return changes


def _controllers(record: VmRecord, existing: list[Any], changes: list[Any]) -> dict[int, int]:
    keys = {d.busNumber: d.key for d in existing if isinstance(d, Dev.VirtualSCSIController)}
    for n, ctrl in enumerate(record.controllers):
        if ctrl.bus in keys:
            continue
        key = -100 - n
        device = SCSI_CLASSES[ctrl.type](key=key, busNumber=ctrl.bus, sharedBus="noSharing")
        changes.append(Dev.VirtualDeviceSpec(operation="add", device=device))
        keys[ctrl.bus] = key
    return keys


def nic_edits(nics: tuple[NicRecord, ...], target: Target, existing: list[Any]) -> list[Any]:
    """Specs that move existing NICs (matched by MAC) to their mapped networks."""
    changes = [_nic_change(n, target, existing) for n in nics]
    return [c for c in changes if c.operation == "edit"]


def _nic_change(nic: NicRecord, target: Target, existing: list[Any]) -> Any:
    backing = target.backings[target.network_map.get(nic.network, nic.network)]
    found = next((d for d in existing if isinstance(d, Dev.VirtualEthernetCard)
                  and nic.mac and d.macAddress == nic.mac), None)
    connect = Dev.VirtualDevice.ConnectInfo(startConnected=nic.connected, allowGuestControl=True)
    if found is not None:
        found.backing, found.connectable = backing, connect
        return Dev.VirtualDeviceSpec(operation="edit", device=found)
    device = NIC_CLASSES[nic.adapter](backing=backing, connectable=connect)
    if nic.mac:
        device.addressType, device.macAddress = "manual", nic.mac
    return Dev.VirtualDeviceSpec(operation="add", device=device)


def nic_backing(name: str, network: Any, dvs_uuid: str | None, key: str | None) -> Any:
    """Backing for a standard network, or (``dvs_uuid`` given) a distributed port group."""
    if dvs_uuid is None:
        return Dev.VirtualEthernetCard.NetworkBackingInfo(deviceName=name, network=network)
    return Dev.VirtualEthernetCard.DistributedVirtualPortBackingInfo(
        port=vim.dvs.PortConnection(portgroupKey=key, switchUuid=dvs_uuid))


def _disk_changes(disk: DiskRecord, record: VmRecord, target: Target, existing: list[Any],
                  controller_keys: dict[int, int]) -> list[Any]:
    path = _disk_path(disk, record, target)
    current = next((d for d in existing if isinstance(d, Dev.VirtualDisk)
                    and _same_slot(d, disk, controller_keys)), None)
    changes = []
    if current is not None:
        if disk.rdm_wwn is None:
            return []  # the .vmx already attached it
        changes.append(Dev.VirtualDeviceSpec(operation="remove", device=current))
    device = Dev.VirtualDisk(key=-200 - disk.unit - 16 * disk.bus, unitNumber=disk.unit,
                             controllerKey=controller_keys[disk.bus],
                             capacityInKB=disk.capacity_kb, backing=_backing(disk, path, target))
    create = "create" if disk.rdm_wwn and target.create_rdm_files else None
    changes.append(Dev.VirtualDeviceSpec(operation="add", device=device, fileOperation=create))
    return changes


def _same_slot(device: Any, disk: DiskRecord, controller_keys: dict[int, int]) -> bool:
    return (device.controllerKey == controller_keys.get(disk.bus)
            and device.unitNumber == disk.unit)


def recovered_wwn(disk: DiskRecord, target: Target) -> str:
    """The WWN the RDM maps at the recovery site (KeyError if unmapped)."""
    wwns = {normalize_wwn(k): normalize_wwn(v) for k, v in target.device_map.items()}
    return wwns[normalize_wwn(disk.rdm_wwn or "")]


def _disk_path(disk: DiskRecord, record: VmRecord, target: Target) -> str:
    if disk.rdm_wwn is None:
        return move_path(disk.path or "", target.datastore_map)
    folder = move_path(record.vmx_path, target.datastore_map).rsplit("/", 1)[0]
    return f"{folder}/{target.vm_name}-rdm-naa.{recovered_wwn(disk, target)}.vmdk"


def _backing(disk: DiskRecord, path: str, target: Target) -> Any:
    if disk.rdm_wwn is None or target.rdm_style == "standin":
        mode = "independent_persistent" if disk.rdm_wwn else disk.disk_mode
        return Dev.VirtualDisk.FlatVer2BackingInfo(fileName=path, diskMode=mode)
    wwn = recovered_wwn(disk, target)
    return Dev.VirtualDisk.RawDiskMappingVer1BackingInfo(
        fileName=path, deviceName=f"/vmfs/devices/disks/naa.{wwn}",
        compatibilityMode=disk.rdm_mode, diskMode="independent_persistent")


def customization_spec(guest_id: str | None, hostname: str, domain: str, nics: list[Any],
                       dns: list[str]) -> vim.vm.customization.Specification:
    """A CustomizeVM spec: ``nics`` are (ip, netmask, gateways) tuples or None for DHCP."""
    cust = vim.vm.customization
    name = cust.FixedName(name=hostname)
    if (guest_id or "").lower().startswith("win"):
        identity = cust.Sysprep(
            guiUnattended=cust.GuiUnattended(autoLogon=False, autoLogonCount=0, timeZone=85),
            userData=cust.UserData(computerName=name, fullName="drkit", orgName="drkit",
                                   productId=""),
            identification=cust.Identification())
    else:
        identity = cust.LinuxPrep(hostName=name, domain=domain)
    return cust.Specification(
        identity=identity, globalIPSettings=cust.GlobalIPSettings(dnsServerList=dns),
        nicSettingMap=[cust.AdapterMapping(adapter=_ip_settings(n)) for n in nics])


def _ip_settings(nic: Any) -> Any:
    cust = vim.vm.customization
    if nic is None:
        return cust.IPSettings(ip=cust.DhcpIpGenerator())
    ip, netmask, gateways = nic
    return cust.IPSettings(ip=cust.FixedIp(ipAddress=ip), subnetMask=netmask,
                           gateway=list(gateways))
