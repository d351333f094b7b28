"""What validation needs to know about the live sites, as a port.

:class:`LiveInventory` is the protocol; the vSphere adapter and the SRA's discovery will provide a
live implementation. :class:`StaticInventory` is a real in-memory implementation, built from a
mapping (e.g. a YAML/JSON snapshot given to ``drkit plan validate --inventory FILE``)::

    protected:
      vms: {db1: {networks: [VM Network], datastores: [ds-app], cluster: A, cpus: 4,
                  memory_mb: 8192}}
      networks: [VM Network]
      datastores: [ds-app]
      devices: [naa.600...]          # device ids / WWNs the SRA discovers
      consistency_groups: [cg-1]     # omitted: unknown, not checked
      clusters: [A]
    recovery:
      networks: [DR Network]
      datastores: [ph-b]
      clusters: [B]
      capacity: {cpus: 64, memory_mb: 262144}
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass
from typing import Any, Protocol

from orchestrator.steps.ports import StoragePort


@dataclass(frozen=True)
class LiveVm:
    name: str
    networks: tuple[str, ...] = ()
    datastores: tuple[str, ...] = ()
    cluster: str | None = None
    cpus: int | None = None  # None: unknown (left out of capacity sums)
    memory_mb: int | None = None


@dataclass(frozen=True)
class Capacity:
    """What the recovery site can power on: total vCPUs and memory."""

    cpus: int
    memory_mb: int


class LiveInventory(Protocol):
    """Read-only view of one site (``site`` is ``"protected"`` or ``"recovery"``)."""

    def vms(self, site: str) -> Mapping[str, LiveVm]: ...

    def networks(self, site: str) -> Set[str]: ...

    def datastores(self, site: str) -> Set[str]: ...

    def devices(self, site: str) -> Set[str]: ...

    def consistency_groups(self, site: str) -> Set[str] | None:
        """``None`` when unknown (consistency-group members are then not checked)."""
        ...

    def clusters(self, site: str) -> Set[str]: ...

    def capacity(self, site: str) -> Capacity | None:
        """``None`` when unknown (capacity checks are then skipped)."""
        ...


class AdapterInventory:
    """A :class:`LiveInventory` read from the live sites: each site's vSphere adapter
    (anything with ``inventory()`` shaped like ``orchestrator.vsphere.adapter.Inventory``) and,
    when given, its storage port (``discover()`` keys are the devices). The adapters do not
    report CPU/memory capacity, so capacity is unknown (``None``) and not checked."""

    def __init__(self, vsphere: Mapping[str, Any],
                 storage: Mapping[str, StoragePort] | None = None) -> None:
        self._snap = {role: adapter.inventory() for role, adapter in vsphere.items()}
        self._storage = storage or {}

    def vms(self, site: str) -> Mapping[str, LiveVm]:
        inv = self._snap[site]
        cluster = {h.name: h.cluster for h in inv.hosts}
        return {v.name: LiveVm(v.name, tuple(v.networks), tuple(v.datastores),
                               cluster.get(v.host) if v.host else None) for v in inv.vms}

    def networks(self, site: str) -> Set[str]:
        return frozenset(self._snap[site].networks)

    def datastores(self, site: str) -> Set[str]:
        return frozenset(d.name for d in self._snap[site].datastores)

    def devices(self, site: str) -> Set[str]:
        """Each discovered device by its key and by its WWN."""
        port = self._storage.get(site)
        found = port.discover() if port else ()
        return frozenset(d.key for d in found) | frozenset(d.wwn for d in found if d.wwn)

    def consistency_groups(self, site: str) -> Set[str] | None:
        return None  # a StoragePort's discover() lists devices only

    def clusters(self, site: str) -> Set[str]:
        return frozenset(self._snap[site].clusters)

    def capacity(self, site: str) -> Capacity | None:
        return None


class StaticInventory:
    """An in-memory :class:`LiveInventory` (a snapshot of both sites)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._sites = {role: dict(data.get(role) or {}) for role in ("protected", "recovery")}

    def vms(self, site: str) -> Mapping[str, LiveVm]:
        raw = self._sites[site].get("vms") or {}
        return {name: LiveVm(name, tuple(v.get("networks", ())), tuple(v.get("datastores", ())),
                             v.get("cluster"), v.get("cpus"), v.get("memory_mb"))
                for name, v in raw.items()}

    def networks(self, site: str) -> Set[str]:
        return frozenset(self._sites[site].get("networks") or ())

    def datastores(self, site: str) -> Set[str]:
        return frozenset(self._sites[site].get("datastores") or ())

    def devices(self, site: str) -> Set[str]:
        return frozenset(self._sites[site].get("devices") or ())

    def consistency_groups(self, site: str) -> Set[str] | None:
        groups = self._sites[site].get("consistency_groups")
        return None if groups is None else frozenset(groups)

    def clusters(self, site: str) -> Set[str]:
        return frozenset(self._sites[site].get("clusters") or ())

    def capacity(self, site: str) -> Capacity | None:
        cap = self._sites[site].get("capacity")
        return Capacity(int(cap["cpus"]), int(cap["memory_mb"])) if cap else None
