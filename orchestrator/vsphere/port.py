"""The bridge from the plan steps' ``VspherePort`` (orchestrator/ports/vsphere.py) to a
:class:`~orchestrator.vsphere.adapter.VSphereAdapter`, for one site.

State that must survive a restart of the orchestrator (``kill -9`` between steps) lives in a
:class:`RecordStore` (one JSON file, written atomically): the protection records of the plan's
VMs, which datastores each protection group mounted at each site, and which recovered device
stands for which protected device (RDMs are re-mapped through it). Every method is safe to call
again with the same arguments.

Conventions this bridge relies on (document them where the storage side produces them):

* a ``DeviceIdentity``'s ``wwn`` is the device as the recovery hosts see it; its ``key``, when it
  is a WWN, names the protected device it replicates (used to re-map RDMs);
* a device that holds no datastore (the stand-in finds no archive) is a raw device (an RDM).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from orchestrator.errors import (
    VMNotFound,
    VSphereError,
    VSphereInvalidState,
    VSphereNotFound,
    VSphereTransientError,
)
from orchestrator.vsphere.adapter import GuestCustomization, NicIp, Registration, VSphereAdapter
from orchestrator.vsphere.protection import VmRecord, normalize_wwn
from orchestrator.vsphere.standin import NoDatastoreOnDevice

DEVICE_TIMEOUT_S = 60.0


class RecordStore:
    """Protection records and per-site recovery state of one plan, in one JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()  # steps run in parallel threads: load-modify-save is atomic

    def _load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"records": {}, "sites": {}}
        return json.loads(self.path.read_text())

    def _save(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "w") as out:
            json.dump(data, out, indent=2, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)

    def put_record(self, record: VmRecord) -> None:
        with self._lock:
            data = self._load()
            data["records"][record.name] = asdict(record)
            self._save(data)

    def records(self) -> list[VmRecord]:
        return [VmRecord.from_dict(r) for r in self._load()["records"].values()]

    def record(self, vm: str) -> VmRecord:
        found = self._load()["records"].get(vm)
        if found is None:
            raise VSphereError(f"no protection record for VM {vm!r} in {self.path}", vm)
        return VmRecord.from_dict(found)

    def site(self, site: str) -> dict[str, Any]:
        return self._load()["sites"].get(site, {"mounts": {}, "devices": {}})

    def update_site(self, site: str, key: str, name: str, value: Any) -> None:
        with self._lock:
            data = self._load()
            entry = data["sites"].setdefault(site, {"mounts": {}, "devices": {}})
            entry[key][name] = value
            self._save(data)


class VsphereSitePort:
    """VspherePort over one site's adapter. ``host`` is where recovered VMs are registered;
    ``peer`` is the other site's adapter (reprotect captures records from it)."""

    def __init__(self, site: str, adapter: VSphereAdapter, store: RecordStore, host: str,
                 peer: VSphereAdapter | None = None) -> None:
        self.site, self.adapter, self.store, self.host, self.peer = (
            site, adapter, store, host, peer)

    # -- VM state ------------------------------------------------------------------------
    def vm_state(self, vm: str) -> str | None:
        try:
            return self.adapter.vm_info(vm).power_state
        except VMNotFound:
            return None

    def shutdown_vm(self, vm: str, timeout: float) -> None:
        if self.vm_state(vm) in (None, "poweredOff"):
            return
        try:
            self.adapter.shutdown_guest(vm, timeout)
        except (VSphereTransientError, VSphereInvalidState):  # timed out, or no Tools
            self.adapter.power_off(vm)

    def power_off_vm(self, vm: str) -> None:
        if self.vm_state(vm) not in (None, "poweredOff"):
            self.adapter.power_off(vm)

    def power_on_vm(self, vm: str) -> None:
        self.adapter.power_on(vm)

    def unregister_vm(self, vm: str) -> None:
        if self.vm_state(vm) is not None:
            self.adapter.unregister_vm(vm)

    def wait_for_tools(self, vm: str, timeout: float) -> None:
        try:
            self.adapter.wait_for_tools(vm, timeout)
        except VSphereTransientError as exc:
            from orchestrator.ports.errors import StepTimeout

            raise StepTimeout(f"wait-tools:{vm}", str(exc)) from exc

    # -- storage ---------------------------------------------------------------------------
    def rescan_and_mount(self, group: Any, devices: Sequence[Any]) -> Sequence[str]:
        mounted = dict(self.store.site(self.site)["mounts"]).get(group.name, {})
        for device in devices:
            if not device.wwn:
                continue
            wwn = normalize_wwn(device.wwn)
            self._remember_device(device.key, wwn)
            if wwn in mounted:
                continue
            self.adapter.wait_for_device(self.host, wwn, DEVICE_TIMEOUT_S)
            name = self._mount(wwn)
            if name is not None:
                mounted = {**mounted, wwn: name}
                self.store.update_site(self.site, "mounts", group.name, mounted)
        return sorted(set(mounted.values()))

    def _remember_device(self, key: str, wwn: str) -> None:
        try:
            protected = normalize_wwn(key)
        except ValueError:
            return
        self.store.update_site(self.site, "devices", protected, wwn)

    def _mount(self, wwn: str) -> str | None:
        """Mount the datastore on ``wwn``; None for a raw device (an RDM)."""
        try:
            return self.adapter.mount_datastore(self.host, wwn)
        except NoDatastoreOnDevice:
            return None

    def unmount(self, group: Any) -> None:
        """Unmount what this port mounted for ``group``; where it mounted nothing (the site the
        VMs are leaving), the datastores that hold protected VMs' files and no registered VM:
        their devices are about to become replicas (SRM unmounts them in planned migration)."""
        inventory = self.adapter.inventory()
        mounted = set(self.store.site(self.site)["mounts"].get(group.name, {}).values())
        if not mounted:
            busy = {ds for vm in inventory.vms for ds in vm.datastores}
            mounted = {r.datastore for r in self.store.records()} - busy
        for name in sorted(mounted & {d.name for d in inventory.datastores}):
            self.adapter.unmount_datastore(name)
        self.store.update_site(self.site, "mounts", group.name, {})

    # -- registration ----------------------------------------------------------------------
    def register_vm(self, vm: str, inventory: Any, networks: Mapping[str, str]) -> None:
        if self.vm_state(vm) is not None:
            return
        record = self.store.record(vm)
        devices = self.store.site(self.site)["devices"]
        self.adapter.register_vm(Registration(
            record=record, host=self.host, network_map=dict(networks), device_map=devices,
            datastore_map={},  # recovered datastores keep their names (both mounters do)
            name=vm))

    def reconfigure_vm(self, vm: str, networks: Mapping[str, str], ip: Sequence[Any]) -> None:
        record = self.store.record(vm)
        current = {n.mac: n.network for n in self.adapter.capture_vm(vm).nics}
        moves = {current[n.mac]: networks[n.network] for n in record.nics
                 if n.network in networks and n.mac in current}
        self.adapter.connect_networks(vm, moves)
        if ip:
            self._customize(vm, record, ip)

    def _customize(self, vm: str, record: VmRecord, ip: Sequence[Any]) -> None:
        by_network = {setting.network: setting for setting in ip}
        nics = tuple(_nic_ip(by_network.get(n.network)) for n in record.nics)
        dns = tuple(d for s in ip for d in getattr(s, "dns", ()))
        try:
            self.adapter.customize_guest(vm, GuestCustomization(vm, nics=nics, dns_servers=dns))
        except VSphereInvalidState:
            if self.vm_state(vm) != "poweredOff":
                raise
            # a customization is already pending (a repeated call): nothing more to do

    def protect_vm(self, vm: str, inventory: Any) -> None:
        if self.peer is None:
            raise VSphereError(f"cannot protect VM {vm!r}: no peer site adapter", vm)
        try:
            self.store.put_record(self.peer.capture_vm(vm))
        except VSphereNotFound:
            self.store.record(vm)  # already moved: an existing record is enough


def _nic_ip(setting: Any) -> NicIp:
    if setting is None or not setting.ip:
        return NicIp()
    prefix = setting.prefix if setting.prefix is not None else 24
    mask = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
    netmask = ".".join(str((mask >> s) & 0xFF) for s in (24, 16, 8, 0))
    gateways = (setting.gateway,) if setting.gateway else ()
    return NicIp(ip=setting.ip, netmask=netmask, gateways=gateways)
