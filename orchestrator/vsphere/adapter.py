"""The vSphere adapter contract: what a recovery needs from vCenter, as a ``typing.Protocol``.

Implementations: :class:`orchestrator.vsphere.pyvmomi_adapter.PyVmomiAdapter` (a real vCenter or
govmomi's vcsim; the storage half differs, see ``datastores.py``). Every method names objects by
their vSphere *name* (VM, host, datastore, network), as runbooks do.

Common rules for every method:

* Bad input (a name that does not exist) raises the matching ``VSphereNotFound`` subclass naming
  the object, *before* anything changes.
* vSphere faults arrive translated (``orchestrator.errors``); transient ones were already retried.
* Methods are idempotent where vSphere allows it: powering on a VM that is on is not an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from orchestrator.vsphere.protection import VmRecord


@dataclass(frozen=True)
class Initiator:
    """A host's storage initiator: ``type`` is "FC" (id = WWPN aa:bb:..) or "iSCSI" (id = IQN)."""

    type: str
    id: str


@dataclass(frozen=True)
class HostInfo:
    name: str
    datacenter: str
    cluster: str | None
    connected: bool
    initiators: tuple[Initiator, ...]
    datastores: tuple[str, ...]


@dataclass(frozen=True)
class VmInfo:
    name: str
    host: str | None
    power_state: str
    tools_running: bool
    heartbeat: str
    ip_address: str | None
    hostname: str | None
    vmx_path: str | None
    datastores: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatastoreInfo:
    name: str
    url: str
    type: str
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class Inventory:
    """A snapshot of one vCenter's inventory (every list sorted by name)."""

    datacenters: tuple[str, ...]
    clusters: tuple[str, ...]
    hosts: tuple[HostInfo, ...]
    vms: tuple[VmInfo, ...]
    datastores: tuple[DatastoreInfo, ...]
    networks: tuple[str, ...]

    def host(self, name: str) -> HostInfo | None:
        return next((h for h in self.hosts if h.name == name), None)

    def vm(self, name: str) -> VmInfo | None:
        return next((v for v in self.vms if v.name == name), None)

    def names(self) -> dict[str, tuple[str, ...]]:
        """Names per kind: what "the site is as it was" compares."""
        return {
            "datacenters": self.datacenters, "clusters": self.clusters,
            "hosts": tuple(h.name for h in self.hosts), "vms": tuple(v.name for v in self.vms),
            "datastores": tuple(d.name for d in self.datastores), "networks": self.networks,
        }


@dataclass(frozen=True)
class NicIp:
    """Guest IP settings of one NIC; ``ip=None`` means DHCP."""

    ip: str | None = None
    netmask: str = "255.255.255.0"
    gateways: tuple[str, ...] = ()


@dataclass(frozen=True)
class GuestCustomization:
    """Re-IP / rename a guest. ``nics`` follow the VM's NIC order; missing NICs get DHCP."""

    hostname: str
    domain: str = "local"
    nics: tuple[NicIp, ...] = ()
    dns_servers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Registration:
    """How to register a recorded VM at the recovery site."""

    record: VmRecord
    host: str
    datastore_map: Mapping[str, str] = field(default_factory=dict)  # protected -> recovery name
    network_map: Mapping[str, str] = field(default_factory=dict)    # protected -> recovery name
    device_map: Mapping[str, str] = field(default_factory=dict)     # protected WWN -> recovered
    name: str | None = None                                         # default: record.name


@runtime_checkable
class VSphereAdapter(Protocol):
    """Operations a recovery plan performs on one vCenter."""

    def inventory(self) -> Inventory:
        """Datacenters, clusters, hosts (with initiators), VMs, datastores and networks."""

    def vm_info(self, vm: str) -> VmInfo:
        """Power, Tools and guest state of one VM. Raises VMNotFound."""

    def capture_vm(self, vm: str) -> VmRecord:
        """Everything needed to rebuild ``vm`` elsewhere (a protection record)."""

    def rescan_storage(self, host: str) -> None:
        """Rescan HBAs and VMFS volumes on ``host``."""

    def wait_for_device(self, host: str, wwn: str, timeout_s: float = 60.0) -> None:
        """Rescan until device ``wwn`` is visible on ``host``; raises DeviceNotFound."""

    def mount_datastore(self, host: str, wwn: str, name: str | None = None) -> str:
        """Mount the recovered device ``wwn`` on ``host`` as datastore ``name`` (None: the name
        the device carries, i.e. the protected datastore's); returns the name used."""

    def unmount_datastore(self, name: str) -> None:
        """Unmount a datastore mounted by mount_datastore. Refuses while VMs are registered."""

    def sync_datastore(self, name: str) -> None:
        """Make the device hold what the datastore holds now (vcsim stand-in: write the tar
        back; VMFS: nothing to do). Run before failback so recovery-site changes travel back."""

    def register_vm(self, registration: Registration) -> str:
        """Register the VM and re-apply its recorded configuration; returns the VM name.
        On any failure the half-registered VM is unregistered again."""

    def connect_networks(self, vm: str, network_map: Mapping[str, str]) -> None:
        """Move the VM's NICs through ``network_map`` (current name -> new name; unmapped NICs
        stay). Raises NetworkNotFound before changing anything."""

    def customize_guest(self, vm: str, spec: GuestCustomization) -> None:
        """Queue guest customization (IP, hostname) on a powered-off VM; applied at power-on."""

    def power_on(self, vm: str) -> None: ...

    def power_off(self, vm: str) -> None: ...

    def shutdown_guest(self, vm: str, timeout_s: float = 120.0) -> None:
        """Ask the guest OS to shut down and wait until the VM is off."""

    def wait_for_tools(self, vm: str, timeout_s: float = 300.0) -> float:
        """Wait until Tools run and the heartbeat is green; returns the seconds waited."""

    def unregister_vm(self, vm: str) -> None:
        """Remove the VM from the inventory, keeping its files."""

    def create_isolated_network(self, name: str, hosts: Sequence[str] | None = None) -> str:
        """A port group on a vSwitch with no uplink (test recovery bubble) on ``hosts``."""

    def remove_network(self, name: str) -> None:
        """Remove a network created by create_isolated_network."""
