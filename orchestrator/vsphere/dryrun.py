"""The dry-run path: a VSphereAdapter that reads for real and changes nothing.

:class:`DryRunAdapter` wraps a real adapter. Reads (inventory, vm_info, capture_vm) go through.
Every change is validated as the real call would validate it (unknown host, datastore, network or
VM names raise the same errors), recorded as a :class:`PlannedAction`, and applied only to a
simulated overlay of names, so later steps of the same dry run see what earlier steps would have
created (a datastore mounted, a VM registered, a test network made). A plan runs its steps against
this adapter instead of sprinkling ``if dry_run:`` through them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.errors import (
    DatastoreNotFound,
    HostNotFound,
    NetworkNotFound,
    VMNotFound,
    VSphereAlreadyExists,
)
from orchestrator.vsphere.adapter import (
    GuestCustomization,
    Inventory,
    Registration,
    VmInfo,
    VSphereAdapter,
)
from orchestrator.vsphere.checks import Names, check_registration
from orchestrator.vsphere.protection import VmRecord, normalize_wwn


@dataclass(frozen=True)
class PlannedAction:
    """One change a real run would make: ``op`` on ``target``, with details."""

    op: str
    target: str
    detail: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in self.detail.items())
        return f"{self.op} {self.target}" + (f" ({extra})" if extra else "")


@dataclass
class _Overlay:
    """Names added (+) or removed (-) by the dry run so far."""

    added: dict[str, set[str]] = field(default_factory=lambda: {
        "datastores": set(), "networks": set(), "vms": set()})
    removed: dict[str, set[str]] = field(default_factory=lambda: {
        "datastores": set(), "networks": set(), "vms": set()})

    def apply(self, kind: str, real: set[str]) -> set[str]:
        return (real | self.added[kind]) - self.removed[kind]

    def add(self, kind: str, name: str) -> None:
        self.added[kind].add(name)
        self.removed[kind].discard(name)

    def remove(self, kind: str, name: str) -> None:
        self.removed[kind].add(name)
        self.added[kind].discard(name)


class DryRunAdapter:
    """VSphereAdapter that validates and records changes instead of making them."""

    def __init__(self, inner: VSphereAdapter) -> None:
        self.inner = inner
        self.actions: list[PlannedAction] = []
        self._overlay = _Overlay()

    # -- reads go through --------------------------------------------------------------------
    def inventory(self) -> Inventory:
        return self.inner.inventory()

    def vm_info(self, vm: str) -> VmInfo:
        if vm in self._overlay.added["vms"]:
            return VmInfo(vm, None, "poweredOff", False, "gray", None, None, None)
        self._need("vms", vm, VMNotFound)
        return self.inner.vm_info(vm)

    def capture_vm(self, vm: str) -> VmRecord:
        return self.inner.capture_vm(vm)

    # -- helpers -----------------------------------------------------------------------------
    def _names(self) -> Names:
        names = self.inner.inventory().names()
        return Names(hosts=set(names["hosts"]),
                     datastores=self._overlay.apply("datastores", set(names["datastores"])),
                     networks=self._overlay.apply("networks", set(names["networks"])),
                     vms=self._overlay.apply("vms", set(names["vms"])))

    def _need(self, kind: str, name: str, error: type[Exception]) -> None:
        if name not in getattr(self._names(), kind):
            raise error(name)

    def _plan(self, op: str, target: str, **detail: Any) -> None:
        self.actions.append(PlannedAction(op, target, detail))

    # -- changes are validated and recorded --------------------------------------------------
    def rescan_storage(self, host: str) -> None:
        self._need("hosts", host, HostNotFound)
        self._plan("rescan storage", f"host {host}")

    def wait_for_device(self, host: str, wwn: str, timeout_s: float = 60.0) -> None:
        self._need("hosts", host, HostNotFound)
        self._plan("wait for device", f"naa.{normalize_wwn(wwn)}", host=host, timeout_s=timeout_s)

    def mount_datastore(self, host: str, wwn: str, name: str | None = None) -> str:
        self._need("hosts", host, HostNotFound)
        name = name or f"<datastore on naa.{normalize_wwn(wwn)}>"
        if name in self._names().datastores:
            raise VSphereAlreadyExists(f"datastore {name!r} already exists", name)
        self._plan("mount datastore", name, host=host, device=f"naa.{normalize_wwn(wwn)}")
        self._overlay.add("datastores", name)
        return name

    def unmount_datastore(self, name: str) -> None:
        self._need("datastores", name, DatastoreNotFound)
        self._plan("unmount datastore", name)
        self._overlay.remove("datastores", name)

    def sync_datastore(self, name: str) -> None:
        self._need("datastores", name, DatastoreNotFound)
        self._plan("sync datastore to its device", name)

    def register_vm(self, registration: Registration) -> str:
        name = check_registration(registration, self._names())
        self._plan("register VM", name, host=registration.host,
                   vmx=registration.record.vmx_path)
        self._overlay.add("vms", name)
        return name

    def connect_networks(self, vm: str, network_map: Mapping[str, str]) -> None:
        self._need("vms", vm, VMNotFound)
        for name in network_map.values():
            self._need("networks", name, NetworkNotFound)
        self._plan("connect networks", vm, map=dict(network_map))

    def customize_guest(self, vm: str, spec: GuestCustomization) -> None:
        self._need("vms", vm, VMNotFound)
        ips = [n.ip or "dhcp" for n in spec.nics]
        self._plan("customize guest", vm, hostname=spec.hostname, ips=ips)

    def power_on(self, vm: str) -> None:
        self._need("vms", vm, VMNotFound)
        self._plan("power on", vm)

    def power_off(self, vm: str) -> None:
        self._need("vms", vm, VMNotFound)
        self._plan("power off", vm)

    def shutdown_guest(self, vm: str, timeout_s: float = 120.0) -> None:
        self._need("vms", vm, VMNotFound)
        self._plan("shut down guest", vm, timeout_s=timeout_s)

    def wait_for_tools(self, vm: str, timeout_s: float = 300.0) -> float:
        self._need("vms", vm, VMNotFound)
        self._plan("wait for VMware Tools", vm, timeout_s=timeout_s)
        return 0.0

    def unregister_vm(self, vm: str) -> None:
        self._need("vms", vm, VMNotFound)
        self._plan("unregister VM", vm)
        self._overlay.remove("vms", vm)

    def create_isolated_network(self, name: str, hosts: Sequence[str] | None = None) -> str:
        if name in self._names().networks:
            raise VSphereAlreadyExists(f"network {name!r} already exists", name)
        for host in hosts or ():
            self._need("hosts", host, HostNotFound)
        self._plan("create isolated network", name, hosts=list(hosts or ["all"]))
        self._overlay.add("networks", name)
        return name

    def remove_network(self, name: str) -> None:
        self._need("networks", name, NetworkNotFound)
        self._plan("remove network", name)
        self._overlay.remove("networks", name)
