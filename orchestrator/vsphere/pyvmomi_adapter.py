"""The pyvmomi implementation of :class:`~orchestrator.vsphere.adapter.VSphereAdapter`.

One class for a real vCenter and for vcsim; what differs is injected: the datastore mounter
(``VmfsMounter`` vs ``TarMounter``) and the RDM style (real RDM backings vs the vcsim stand-in).
Use :func:`for_vcenter` or :func:`for_vcsim`. Every vCenter call runs inside ``vsphere_call`` or
``wait_for_task`` so faults arrive translated; calls that only read or are idempotent are retried
when transient.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pyVmomi import vim

from orchestrator.errors import (
    DatastoreNotFound,
    DeviceNotFound,
    HostNotFound,
    NetworkNotFound,
    VMNotFound,
    VSphereAlreadyExists,
    VSphereError,
    VSphereInvalidState,
    VSphereTransientError,
)
from orchestrator.vsphere import inventory as inv
from orchestrator.vsphere.adapter import GuestCustomization, Inventory, Registration, VmInfo
from orchestrator.vsphere.checks import Names, check_registration
from orchestrator.vsphere.connection import connect, disconnect
from orchestrator.vsphere.datastores import DatastoreMounter, TarMounter, VmfsMounter
from orchestrator.vsphere.faults import retry_transient, vsphere_call
from orchestrator.vsphere.lookup import Lookup
from orchestrator.vsphere.protection import (
    VmRecord,
    move_path,
    normalize_wwn,
    record_from_config,
)
from orchestrator.vsphere.standin import DeviceReader, DeviceWriter
from orchestrator.vsphere.tasks import wait_for_task
from orchestrator.vsphere.vmspec import (
    Target,
    config_spec,
    customization_spec,
    nic_backing,
    nic_edits,
)

POLL_S = 0.1
ISOLATED_SWITCH = "drkit-isolated"
POWER = "runtime.powerState"
STATE_PROPS = [POWER, "guest.toolsRunningStatus", "guestHeartbeatStatus"]


def _tools_up(props: Mapping[str, Any]) -> bool:
    return (props.get("guest.toolsRunningStatus") == "guestToolsRunning"
            and props.get("guestHeartbeatStatus") == "green")


def _powered_off(props: Mapping[str, Any]) -> bool:
    return props.get(POWER) == "poweredOff"


class PyVmomiAdapter:
    """VSphereAdapter over one logged-in ServiceInstance."""

    def __init__(self, si: Any, mounter: DatastoreMounter, *, rdm_style: str = "rdm") -> None:
        self.si = si
        self.lookup = Lookup(si)
        self.content = self.lookup.content  # inventory reads take it: one round trip fewer
        self.mounter = mounter
        self.rdm_style = rdm_style

    def close(self) -> None:
        """Log out (vCenter sessions are a limited resource)."""
        disconnect(self.si)

    def __enter__(self) -> PyVmomiAdapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lookups ---------------------------------------------------------------------------
    def _find(self, kind: type, name: str, error: type[VSphereError]) -> Any:
        found = inv.names(self.content, kind).get(name)
        if found is None:
            raise error(name)
        return found

    def _vm(self, name: str) -> Any:
        return self._state(name, ())[0]

    @retry_transient
    def _state(self, vm: str, props: Sequence[str] = STATE_PROPS) -> tuple[Any, dict[str, Any]]:
        """The VM's reference and ``props``, read from that VM alone."""
        found = self.lookup.vm(vm, props)
        if found is None:
            raise VMNotFound(vm)
        return found

    def _host(self, name: str) -> Any:
        return self._find(vim.HostSystem, name, HostNotFound)

    def _datastore(self, name: str) -> Any:
        return self._find(vim.Datastore, name, DatastoreNotFound)

    def _initiators(self, host: str) -> list[tuple[str, str]]:
        info = next((h for h in inv.host_infos(self.content) if h.name == host), None)
        if info is None:
            raise HostNotFound(host)
        return [(i.type, i.id) for i in info.initiators]

    # -- reading -----------------------------------------------------------------------------
    @retry_transient
    def inventory(self) -> Inventory:
        return Inventory(
            datacenters=tuple(sorted(inv.names(self.content, vim.Datacenter))),
            clusters=tuple(sorted(inv.names(self.content, vim.ClusterComputeResource))),
            hosts=tuple(inv.host_infos(self.content)), vms=tuple(inv.vm_infos(self.content)),
            datastores=tuple(inv.datastore_infos(self.content)),
            networks=tuple(sorted(inv.names(self.content, vim.Network))),
        )

    def vm_info(self, vm: str) -> VmInfo:
        props = self._state(vm, inv.VM_PROPS)[1]
        host = props.get("runtime.host")
        return inv.vm_info_from(
            props, self.lookup.names(vim.HostSystem, [host._moId] if host is not None else []),
            self.lookup.names(vim.Datastore, _ids(props.get("datastore", []))),
            self.lookup.names(vim.Network, _ids(props.get("network", []))))

    def capture_vm(self, vm: str) -> VmRecord:
        return self._capture(vm)[0]

    def _capture(self, vm: str) -> tuple[VmRecord, Any, Any]:
        """The VM's protection record, its ConfigInfo and its reference (one read)."""
        ref, props = self._state(vm, ["config", "layoutEx.file"])
        config = props["config"]
        files = [f.name for f in props.get("layoutEx.file") or []]
        nets = self.lookup.names(vim.Network, _nic_network_ids(config))
        record = record_from_config(config, _in_vm_folder(files, config.files.vmPathName), nets)
        return record, config, ref

    # -- storage -----------------------------------------------------------------------------
    @retry_transient
    def rescan_storage(self, host: str) -> None:
        ref = self._host(host)
        with vsphere_call(f"host {host!r}"):
            ref.configManager.storageSystem.RescanAllHba()
            ref.configManager.storageSystem.RescanVmfs()

    def wait_for_device(self, host: str, wwn: str, timeout_s: float = 60.0) -> None:
        wwn = normalize_wwn(wwn)
        ref, initiators = self._host(host), self._initiators(host)
        start = time.monotonic()
        while True:
            self.rescan_storage(host)
            if self.mounter.device_visible(ref, initiators, wwn):
                return
            if time.monotonic() - start >= timeout_s:
                raise DeviceNotFound(wwn, host, time.monotonic() - start)
            time.sleep(min(1.0, max(POLL_S, timeout_s / 20)))

    def mount_datastore(self, host: str, wwn: str, name: str | None = None) -> str:
        wwn = normalize_wwn(wwn)
        if name is not None and name in inv.names(self.content, vim.Datastore):
            raise VSphereAlreadyExists(f"datastore {name!r} already exists", name)
        ref, initiators = self._host(host), self._initiators(host)
        if not self.mounter.device_visible(ref, initiators, wwn):
            raise DeviceNotFound(wwn, host, 0.0)
        try:
            return self.mounter.mount(ref, initiators, wwn, name)
        finally:
            self.lookup.forget(vim.Datastore)

    def unmount_datastore(self, name: str) -> None:
        ref = self._datastore(name)
        users = [v.name for v in inv.vm_infos(self.content) if name in v.datastores]
        if users:
            raise VSphereInvalidState(
                f"datastore {name!r} still holds registered VMs: {', '.join(users)}", name)
        try:
            self.mounter.unmount(ref, name)
        finally:
            self.lookup.forget(vim.Datastore)

    def sync_datastore(self, name: str) -> None:
        self.mounter.sync(self._datastore(name), name)

    # -- VMs ---------------------------------------------------------------------------------
    def register_vm(self, registration: Registration) -> str:
        record, name = registration.record, registration.name or registration.record.name
        host, target = self._check_registration(registration, name)
        path = move_path(record.vmx_path, registration.datastore_map)
        vm = self._register(host, path, name)
        try:
            with vsphere_call(f"VM {name!r}"):
                config = vm.config
                existing = list(config.hardware.device)
                extra = {o.key: o.value for o in config.extraConfig or []}
            self._reconfigure(vm, name, record, target, existing, extra)
        except BaseException:
            self._unregister_ref(vm, name)
            raise
        return name

    def _reconfigure(self, vm: Any, name: str, record: Any, target: Target, existing: list,
                     extra: dict) -> None:
        """Re-apply the record. An RDM's mapping (stand-in) file that came back with the
        replicated datastore (a failback) is attached as it is instead of created again."""
        try:
            wait_for_task(vm.ReconfigVM_Task(config_spec(record, target, existing, extra)),
                          f"VM {name!r}")
        except VSphereAlreadyExists:
            if not record.rdm_wwns or self.rdm_style != "standin":
                raise
            again = replace(target, create_rdm_files=False)
            wait_for_task(vm.ReconfigVM_Task(config_spec(record, again, existing, extra)),
                          f"VM {name!r}")

    def _register(self, host: Any, path: str, name: str) -> Any:
        """RegisterVM_Task. vcsim opens '<name>.nvram', so there the VM is registered under its
        .vmx file's name and renamed (a real vCenter takes the new name directly)."""
        folder, pool = _folder_and_pool(host)
        stem = path.rsplit("/", 1)[-1].removesuffix(".vmx")
        first = stem if self.rdm_style == "standin" else name
        task = folder.RegisterVM_Task(path=path, name=first, asTemplate=False, pool=pool,
                                      host=host)
        vm = wait_for_task(task, f"VM {name!r} ({path})")
        if first != name:
            try:
                wait_for_task(vm.Rename_Task(name), f"VM {name!r}")
            except BaseException:
                self._unregister_ref(vm, first)
                raise
        self.lookup.remember(name, vm)
        return vm

    def _check_registration(self, reg: Registration, name: str) -> tuple[Any, Target]:
        """Validate every name before anything changes; returns the host and the target."""
        used = {reg.network_map.get(n.network, n.network) for n in reg.record.nics}
        datastore = reg.datastore_map.get(reg.record.datastore, reg.record.datastore)
        networks = self.lookup.named(vim.Network, used)
        hosts = self.lookup.named(vim.HostSystem, [reg.host])
        check_registration(reg, Names(
            hosts=hosts, networks=networks,
            datastores=self.lookup.named(vim.Datastore, [datastore]),
            vms={name} if self.lookup.vm(name) else set()))
        target = Target(vm_name=name, datastore_map=reg.datastore_map,
                        network_map=reg.network_map, device_map=reg.device_map,
                        backings={n: _backing(n, networks[n]) for n in used},
                        rdm_style=self.rdm_style)
        return hosts[reg.host], target

    def connect_networks(self, vm: str, network_map: Mapping[str, str]) -> None:
        record, config, ref = self._capture(vm)
        wanted = {network_map.get(n.network, n.network) for n in record.nics}
        networks = self.lookup.named(vim.Network, wanted)
        for name in sorted(wanted):
            if name not in networks:
                raise NetworkNotFound(name, f"this site (a NIC of VM {vm!r} maps to it)")
        target = Target(vm_name=vm, datastore_map={}, network_map=network_map, device_map={},
                        backings={n: _backing(n, networks[n]) for n in wanted},
                        rdm_style=self.rdm_style)
        edits = nic_edits(record.nics, target, list(config.hardware.device))
        if edits:
            wait_for_task(ref.ReconfigVM_Task(vim.vm.ConfigSpec(deviceChange=edits)),
                          f"VM {vm!r}")

    def customize_guest(self, vm: str, spec: GuestCustomization) -> None:
        ref = self._vm(vm)
        with vsphere_call(f"VM {vm!r}"):
            guest_id = ref.config.guestId
            nic_count = sum(isinstance(d, vim.vm.device.VirtualEthernetCard)
                            for d in ref.config.hardware.device)
        nics = [(n.ip, n.netmask, n.gateways) if n.ip else None for n in spec.nics]
        nics = (nics + [None] * nic_count)[:nic_count]
        cust = customization_spec(guest_id, spec.hostname, spec.domain, nics,
                                  list(spec.dns_servers))
        wait_for_task(ref.CustomizeVM_Task(cust), f"VM {vm!r}")

    def power_on(self, vm: str) -> None:
        ref, props = self._state(vm)
        if props.get(POWER) != "poweredOn":
            wait_for_task(ref.PowerOnVM_Task(), f"VM {vm!r}")

    def power_off(self, vm: str) -> None:
        ref, props = self._state(vm)
        if not _powered_off(props):
            wait_for_task(ref.PowerOffVM_Task(), f"VM {vm!r}")

    def shutdown_guest(self, vm: str, timeout_s: float = 120.0) -> None:
        ref, props = self._state(vm)
        if _powered_off(props):
            return
        with vsphere_call(f"VM {vm!r}"):
            ref.ShutdownGuest()
        self._wait(vm, _powered_off, timeout_s, "to power off")

    def wait_for_tools(self, vm: str, timeout_s: float = 300.0) -> float:
        start = time.monotonic()
        self._wait(vm, _tools_up, timeout_s, "to report VMware Tools running")
        return time.monotonic() - start

    def _wait(self, vm: str, done: Any, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not done(self._state(vm)[1]):
            if time.monotonic() >= deadline:
                raise VSphereTransientError(f"VM {vm!r} did not {what.removeprefix('to ')} "
                                            f"within {timeout_s:.0f}s", vm)
            time.sleep(POLL_S)

    def unregister_vm(self, vm: str) -> None:
        self._unregister_ref(self._vm(vm), vm)

    def _unregister_ref(self, ref: Any, name: str) -> None:
        with vsphere_call(f"VM {name!r}"):
            if ref.runtime.powerState != "poweredOff":
                wait_for_task(ref.PowerOffVM_Task(), f"VM {name!r}")
            ref.UnregisterVM()

    # -- networks ----------------------------------------------------------------------------
    def create_isolated_network(self, name: str, hosts: Sequence[str] | None = None) -> str:
        if name in inv.names(self.content, vim.Network):
            raise VSphereAlreadyExists(f"network {name!r} already exists", name)
        targets = [self._host(h) for h in hosts] if hosts else list(
            inv.names(self.content, vim.HostSystem).values())
        for n, host in enumerate(targets):
            _add_isolated_portgroup(host, name, first=n == 0)
        self.lookup.forget(vim.Network)
        return name

    def remove_network(self, name: str) -> None:
        self._find(vim.Network, name, NetworkNotFound)
        for host in inv.names(self.content, vim.HostSystem).values():
            _remove_isolated_portgroup(host, name)
        self.lookup.forget(vim.Network)


def _add_isolated_portgroup(host: Any, name: str, *, first: bool) -> None:
    """A vSwitch without uplinks (no bridge) and a port group on it."""
    with vsphere_call(f"network {name!r} on host {host.name!r}"):
        netsys = host.configManager.networkSystem
        switches = {s.name for s in netsys.networkInfo.vswitch or []}
        if ISOLATED_SWITCH not in switches:
            netsys.AddVirtualSwitch(vswitchName=ISOLATED_SWITCH,
                                    spec=vim.host.VirtualSwitch.Specification(numPorts=128))
        spec = vim.host.PortGroup.Specification(
            name=name, vlanId=0, vswitchName=ISOLATED_SWITCH, policy=vim.host.NetworkPolicy())
        try:
            netsys.AddPortGroup(portgrp=spec)
        except vim.fault.AlreadyExists:
            if first:
                raise
        except vim.fault.DuplicateName:
            if first:  # vcsim keeps one Network per datacenter: later hosts see it already
                raise


def _remove_isolated_portgroup(host: Any, name: str) -> None:
    """Remove the port group where the host has it, and drkit's vSwitch once it is empty."""
    with vsphere_call(f"network {name!r} on host {host.name!r}"):
        netsys = host.configManager.networkSystem
        if any(pg.spec.name == name for pg in netsys.networkInfo.portgroup or []):
            netsys.RemovePortGroup(pgName=name)
        for switch in netsys.networkInfo.vswitch or []:
            if switch.name == ISOLATED_SWITCH and not switch.portgroup:
                netsys.RemoveVirtualSwitch(vswitchName=ISOLATED_SWITCH)


def _ids(refs: Sequence[Any]) -> list[str]:
    return [r._moId for r in refs]


def _nic_network_ids(config: Any) -> list[str]:
    """The moIds of the networks the VM's NICs are backed by (standard or distributed)."""
    ids = []
    for device in config.hardware.device:
        backing = getattr(device, "backing", None)
        if getattr(backing, "network", None) is not None:
            ids.append(backing.network._moId)
        elif getattr(backing, "port", None) is not None:
            ids.append(backing.port.portgroupKey)
    return ids


def _in_vm_folder(files: list[str], vmx_path: str) -> list[str]:
    """vcsim lists some layout files without their folder ('[ds] x.vmdk'); put them back."""
    folder = vmx_path.rsplit("/", 1)[0] if "/" in vmx_path else None
    fixed = set()
    for path in files:
        _, _, tail = path.partition("] ")
        fixed.add(path if "/" in tail or folder is None else f"{folder}/{tail}")
    return sorted(fixed)


def _backing(name: str, network: Any) -> Any:
    if not isinstance(network, vim.dvs.DistributedVirtualPortgroup):
        return nic_backing(name, network, None, None)
    with vsphere_call(f"network {name!r}"):
        return nic_backing(name, network, network.config.distributedVirtualSwitch.uuid,
                           network.key)


def _folder_and_pool(host: Any) -> tuple[Any, Any]:
    with vsphere_call(f"host {host.name!r}"):
        compute = host.parent
        obj = compute
        while not isinstance(obj, vim.Datacenter):
            obj = obj.parent
        return obj.vmFolder, compute.resourcePool


def for_vcenter(url: str, user: str, password: str, *, verify_tls: bool = True) -> PyVmomiAdapter:
    """A real vCenter: VMFS resignature mounts and real RDMs."""
    return PyVmomiAdapter(connect(url, user, password, verify_tls=verify_tls), VmfsMounter())


def for_vcsim(url: str, user: str, password: str, devices: DeviceReader,
              mount_root: Path) -> PyVmomiAdapter:
    """vcsim: the tar stand-in for VMFS (read through ``devices``) and stand-in RDMs."""
    Path(mount_root).mkdir(parents=True, exist_ok=True)
    si = connect(url, user, password)
    writer = devices if isinstance(devices, DeviceWriter) else None
    mounter = TarMounter(devices, Path(mount_root), writer)
    return PyVmomiAdapter(si, mounter, rdm_style="standin")
