"""The live sites as a :class:`~orchestrator.plan.live.LiveInventory`: each site's vSphere
adapter and storage port, read once, for drift checks (``drkit plan validate --live``)."""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

from orchestrator.plan.live import Capacity, LiveVm
from orchestrator.ports.storage import StoragePort


class AdapterInventory:
    """A :class:`LiveInventory` read from the live sites: each site's vSphere adapter
    (anything with ``inventory()`` shaped like ``orchestrator.vsphere.adapter.Inventory``) and,
    when given, its storage port (``discover()`` keys are the devices, ``discover_groups()``
    the consistency groups). The adapters do not report CPU/memory capacity, so capacity is
    unknown (``None``) and not checked."""

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
        """Every name of every consistency group the site's SRA discovers (None: no port)."""
        port = self._storage.get(site)
        return frozenset(port.discover_groups()) if port else None

    def clusters(self, site: str) -> Set[str]:
        return frozenset(self._snap[site].clusters)

    def capacity(self, site: str) -> Capacity | None:
        return None
