"""Protection records: what SRM keeps in placeholder VMs, as plain JSON-able dataclasses.

A :class:`VmRecord` holds everything needed to rebuild one protected VM at the recovery site:
name, CPU, memory, guest OS, NICs with their network names, disks with their datastore paths (or,
for RDMs, the WWN of the device they map), the SCSI controllers, extra configuration and the files
of the VM on its datastore. :class:`ProtectionRecords` is the set a plan stores with its state.

``capture_vm`` (pyvmomi_adapter) fills a record from a live VM; :func:`record_from_config` is the
pure part that reads a ``vim.vm.ConfigInfo``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from orchestrator.errors import VSphereError

RDM_STANDIN = re.compile(r"-rdm-naa\.([0-9a-f]+)\.vmdk$")
NIC_TYPES = {"VirtualVmxnet3": "vmxnet3", "VirtualE1000": "e1000", "VirtualE1000e": "e1000e",
             "VirtualVmxnet2": "vmxnet2", "VirtualPCNet32": "pcnet32"}
SCSI_TYPES = {"VirtualLsiLogicController": "lsilogic", "VirtualLsiLogicSASController": "lsisas",
              "ParaVirtualSCSIController": "pvscsi", "VirtualBusLogicController": "buslogic"}
INTERNAL_EXTRA = ("govcsim", "SET.")


class InvalidWwn(VSphereError, ValueError):
    """A device identifier that is not a WWN (names it)."""


def normalize_wwn(wwn: str) -> str:
    """'naa.600A..' / '60:0a:..' / '600a..' -> '600a..' (lower-case hex, no prefix)."""
    value = str(wwn).strip().lower().removeprefix("naa.").replace(":", "").replace("-", "")
    if not re.fullmatch(r"[0-9a-f]{8,64}", value):
        raise InvalidWwn(f"not a WWN: {wwn!r}", str(wwn))
    return value


@dataclass(frozen=True)
class ControllerRecord:
    bus: int
    type: str = "lsilogic"


@dataclass(frozen=True)
class NicRecord:
    label: str
    network: str
    adapter: str = "vmxnet3"
    mac: str | None = None
    connected: bool = True


@dataclass(frozen=True)
class DiskRecord:
    """A virtual disk (``path`` on a datastore) or an RDM (``rdm_wwn`` set)."""

    label: str
    capacity_kb: int
    bus: int
    unit: int
    path: str | None = None
    rdm_wwn: str | None = None
    rdm_mode: str = "physicalMode"
    disk_mode: str = "persistent"


@dataclass(frozen=True)
class VmRecord:
    name: str
    vmx_path: str
    cpus: int
    memory_mb: int
    guest_id: str | None = None
    cores_per_socket: int = 1
    controllers: tuple[ControllerRecord, ...] = ()
    nics: tuple[NicRecord, ...] = ()
    disks: tuple[DiskRecord, ...] = ()
    extra_config: dict[str, str] = field(default_factory=dict)
    files: tuple[str, ...] = ()

    @property
    def datastore(self) -> str:
        return datastore_of(self.vmx_path)

    @property
    def rdm_wwns(self) -> tuple[str, ...]:
        return tuple(d.rdm_wwn for d in self.disks if d.rdm_wwn)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VmRecord:
        return cls(
            **{k: v for k, v in data.items() if k not in ("controllers", "nics", "disks", "files")},
            controllers=tuple(ControllerRecord(**c) for c in data.get("controllers", ())),
            nics=tuple(NicRecord(**n) for n in data.get("nics", ())),
            disks=tuple(DiskRecord(**d) for d in data.get("disks", ())),
            files=tuple(data.get("files", ())),
        )


@dataclass(frozen=True)
class ProtectionRecords:
    site: str
    captured_at: str
    vms: tuple[VmRecord, ...]

    @classmethod
    def now(cls, site: str, vms: list[VmRecord]) -> ProtectionRecords:
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        return cls(site=site, captured_at=stamp, vms=tuple(vms))

    def vm(self, name: str) -> VmRecord:
        for record in self.vms:
            if record.name == name:
                return record
        raise KeyError(f"no protection record for VM {name!r}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ProtectionRecords:
        data = json.loads(text)
        return cls(site=data["site"], captured_at=data["captured_at"],
                   vms=tuple(VmRecord.from_dict(v) for v in data["vms"]))


def datastore_of(path: str) -> str:
    """'[ds1] vm/vm.vmx' -> 'ds1'."""
    match = re.match(r"^\[([^\]]+)\]", path or "")
    if not match:
        raise ValueError(f"not a datastore path: {path!r}")
    return match.group(1)


def move_path(path: str, datastore_map: dict[str, str] | Any) -> str:
    """Rewrite the datastore of a datastore path through ``datastore_map`` (unmapped: kept)."""
    old = datastore_of(path)
    return f"[{datastore_map.get(old, old)}]" + path[len(old) + 2:]


def record_from_config(config: Any, files: list[str], network_names: dict[str, str]) -> VmRecord:
    """Build a VmRecord from a ``vim.vm.ConfigInfo``; ``network_names`` maps network moref
    ids to names (NIC backings may carry only the reference)."""
    devices = list(config.hardware.device)
    by_key = {d.key: d for d in devices}
    return VmRecord(
        name=config.name, vmx_path=config.files.vmPathName, cpus=config.hardware.numCPU,
        memory_mb=config.hardware.memoryMB, guest_id=config.guestId or None,
        cores_per_socket=config.hardware.numCoresPerSocket or 1,
        controllers=tuple(_controller(d) for d in devices if _kind(d) in SCSI_TYPES),
        nics=tuple(_nic(d, network_names) for d in devices if _kind(d) in NIC_TYPES),
        disks=tuple(_disk(d, by_key) for d in devices if _kind(d) == "VirtualDisk"),
        extra_config={o.key: str(o.value) for o in config.extraConfig or []
                      if not o.key.startswith(INTERNAL_EXTRA)},
        files=tuple(files),
    )


def _kind(device: Any) -> str:
    return type(device).__name__.rsplit(".", 1)[-1]


def _controller(device: Any) -> ControllerRecord:
    return ControllerRecord(bus=device.busNumber, type=SCSI_TYPES[_kind(device)])


def _nic(device: Any, network_names: dict[str, str]) -> NicRecord:
    backing = device.backing
    network = getattr(backing, "deviceName", None)
    if not network and getattr(backing, "network", None) is not None:
        network = network_names.get(backing.network._moId, backing.network._moId)
    if not network and getattr(backing, "port", None) is not None:
        network = network_names.get(backing.port.portgroupKey, backing.port.portgroupKey)
    connect = device.connectable
    return NicRecord(label=device.deviceInfo.label, network=network or "",
                     adapter=NIC_TYPES[_kind(device)], mac=device.macAddress or None,
                     connected=bool(connect.startConnected) if connect else True)


def _disk(device: Any, by_key: dict[int, Any]) -> DiskRecord:
    backing = device.backing
    controller = by_key.get(device.controllerKey)
    bus = getattr(controller, "busNumber", 0) or 0
    common = {"label": device.deviceInfo.label, "capacity_kb": device.capacityInKB or 0,
              "bus": bus, "unit": device.unitNumber or 0,
              "disk_mode": getattr(backing, "diskMode", None) or "persistent"}
    if _kind(backing) == "RawDiskMappingVer1BackingInfo":
        wwn = normalize_wwn(backing.deviceName.rsplit("/", 1)[-1])
        return DiskRecord(**common, rdm_wwn=wwn, rdm_mode=backing.compatibilityMode)
    standin = RDM_STANDIN.search(backing.fileName or "")
    if standin:
        return DiskRecord(**common, rdm_wwn=standin.group(1))
    return DiskRecord(**common, path=backing.fileName)
