"""What validation needs to know about the live sites, as a port.

:class:`LiveInventory` is the protocol validation reads the live sites through;
:class:`orchestrator.ports.inventory.AdapterInventory` implements it over the sites' vSphere
adapters and storage ports. :class:`StaticInventory` is a real in-memory implementation, built
from a mapping (e.g. a YAML/JSON snapshot given to ``drkit plan validate --inventory FILE``)::

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
from pathlib import Path
from typing import Any, Protocol

from orchestrator.plan.errors import PlanError
from orchestrator.plan.files import read_yaml
from orchestrator.plan.schema import Reader, join, kind_of


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


SITE_KEYS = ("vms", "networks", "datastores", "devices", "consistency_groups", "clusters",
             "capacity")


def read_inventory(path: str | Path) -> StaticInventory:
    """An inventory snapshot file (YAML or JSON, the shape in the module docstring); any other
    shape is a PlanError naming the file and what is wrong."""
    data = read_yaml(path)
    reader = Reader()
    top = reader.mapping({} if data is None else data, "", ("protected", "recovery"))
    for role in ("protected", "recovery"):
        site = (top or {}).get(role)
        if site is not None:
            _check_site(reader, site, role)
    if reader.issues:
        raise PlanError(f"{path}: not an inventory snapshot: "
                        + "; ".join(str(i) for i in reader.issues[:5]))
    return StaticInventory(top or {})


def _check_site(reader: Reader, site: Any, role: str) -> None:
    data = reader.mapping(site, role, SITE_KEYS)
    if data is None:
        return
    for key in ("networks", "datastores", "devices", "consistency_groups", "clusters"):
        if data.get(key) is not None:
            reader.strings(data, key, role)
    vms = data.get("vms") or {}
    if not isinstance(vms, dict):
        reader.error(join(role, "vms"), f"expected a mapping of VM names, got {kind_of(vms)}")
        vms = {}
    for name, vm in vms.items():
        reader.mapping(vm, join(join(role, "vms"), name),
                       ("networks", "datastores", "cluster", "cpus", "memory_mb"))
    if data.get("capacity") is not None:
        cap = reader.mapping(data["capacity"], join(role, "capacity"), ("cpus", "memory_mb"),
                             ("cpus", "memory_mb"))
        for key in ("cpus", "memory_mb"):
            if cap and key in cap:
                reader.number(cap, key, join(role, "capacity"), None, lo=0, integer=True)
