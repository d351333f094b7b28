"""Live ports for a real run: each site's SRA (as SRM calls it) and its vCenter.

``live_ports(plan)`` builds, per site role (state under ``state_dir(plan)``):

- a :class:`~orchestrator.srm.port.SraStoragePort` running the plan's SRA command with the
  site's connection (the secret read from its credential reference at call time, never logged);
- a :class:`~orchestrator.vsphere.port.VsphereSitePort` over the site's vCenter. An SDK served
  over plain ``http://`` is a simulator (vCenter only serves https): drkit then uses vcsim's
  stand-in for VMFS, reading recovered devices through a plug-in given the site's array
  address and token (:func:`standin_devices`). ``https://`` is a real vCenter (VMFS
  resignature, real RDMs).

Nothing connects until a step needs it, so a disaster recovery runs with the protected site
gone. State that must outlive a run (protection records, mounted datastores, which SRA ids a
protection group means) lives under ``state_dir``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from orchestrator.executor.journal import runs_dir
from orchestrator.plan.errors import PlanError
from orchestrator.plan.model import CredentialRef, Plan, Site
from orchestrator.plan.schema import IDENTIFIER
from orchestrator.srm.discovery import Selections
from orchestrator.srm.invoke import Connection, SraInvoker
from orchestrator.srm.port import SraStoragePort

STANDIN_DEVICES = "drkit.standin_devices"


class CredentialError(PlanError):
    """A credential reference that cannot be read (the reference is named, never the value)."""


def secret(ref: CredentialRef, what: str) -> str:
    """The secret behind a reference: an environment variable, or a file holding the secret
    alone or a JSON object with ``password``/``token``."""
    if ref.env:
        value = os.environ.get(ref.env)
        if not value:
            raise CredentialError(f"{what}: environment variable {ref.env} is not set")
        return value.strip()
    try:
        text = Path(ref.file or "").read_text().strip()
    except OSError as exc:
        raise CredentialError(f"{what}: cannot read credential file {ref.file} "
                              f"({exc.strerror})") from None
    if text.startswith("{"):
        data = json.loads(text)
        text = str(data.get("password") or data.get("token") or "")
    if not text:
        raise CredentialError(f"{what}: credential file {ref.file} holds no secret")
    return text


class Lazy:
    """Builds the wrapped object on first use (a vCenter login, say), then delegates. Steps run
    in parallel threads: the first use builds it once while the others wait."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._obj: Any = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if self._obj is None:
            with self._lock:
                if self._obj is None:
                    self._obj = self._build()
        return getattr(self._obj, name)


def live_ports(plan: Plan) -> tuple[dict, dict]:
    """Storage (SRA) and vSphere ports per site for a real run; see :func:`ports_for`.
    The plan's state (protection records, SRA selections) lives in ``state_dir(plan)``."""
    return ports_for(plan, state_dir(plan))


def live_inventory(plan: Plan) -> Any:
    """The plan's two sites as they are now (both vCenters' inventories, each SRA's
    discoverDevices), for drift checks; see ``orchestrator.plan.live.AdapterInventory``."""
    from orchestrator.ports.inventory import AdapterInventory

    adapters = site_adapters(plan, state_dir(plan))
    return AdapterInventory(adapters, storage_ports(plan, state_dir(plan), adapters))


def state_dir(plan: Plan) -> Path:
    """``$DRKIT_STATE_DIR/<plan>``, else ``state/<plan>`` beside the runs directory."""
    if not IDENTIFIER.fullmatch(plan.name):  # loaded plans are checked; this guards the path
        raise PlanError(f"plan name {plan.name!r} cannot name a state directory")
    root = os.environ.get("DRKIT_STATE_DIR")
    return (Path(root) if root else runs_dir().parent / "state") / plan.name


def ports_for(plan: Plan, state_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    adapters = site_adapters(plan, state_dir)
    return storage_ports(plan, state_dir, adapters), _vsphere_ports(plan, state_dir, adapters)


def site_adapters(plan: Plan, state_dir: Path) -> dict[str, Any]:
    """Each site's vSphere adapter, logged in on first use."""
    state_dir.mkdir(parents=True, exist_ok=True)
    return {role: Lazy(lambda s=site, r=role: _adapter(s, state_dir / r))
            for role, site in plan.sites.items()}


def storage_ports(plan: Plan, state_dir: Path, adapters: dict[str, Any]) -> dict[str, Any]:
    """Each site's storage port: its SRA, invoked as SRM invokes it."""
    storage: dict[str, SraStoragePort] = {}
    selections = Selections(state_dir / "selections.json",
                            lambda: storage["protected"].discovery(),
                            lambda: storage["recovery"].discovery())
    for role, site in plan.sites.items():
        storage[role] = SraStoragePort(
            role, _invoker(plan, site, state_dir / "sra-logs" / role), selections,
            initiators=lambda a=adapters[role]: _initiators(a),
            access_group=f"drkit-{site.name}",
            array_ids=(site.sra.array_id or "", site.sra.peer_array_id or ""))
    return storage


def _invoker(plan: Plan, site: Site, log_dir: Path) -> SraInvoker:
    conn = site.sra.connection
    what = f"sites.{site.role}.sra.connection.credentials"
    connection = Connection(dict(conn.addresses), conn.credentials.username or "drkit",
                            lambda: secret(conn.credentials, what), dict(conn.opaques))
    return SraInvoker(list(site.sra.command), connection, log_dir,
                      timeout=plan.options.sra_timeout)


def _adapter(site: Site, state: Path) -> Any:
    from orchestrator.vsphere.pyvmomi_adapter import for_vcenter, for_vcsim

    vc = site.vcenter
    user = vc.credentials.username or "administrator@vsphere.local"
    password = secret(vc.credentials, f"sites.{site.role}.vcenter.credentials")
    if not vc.url.startswith("http://"):
        return for_vcenter(vc.url, user, password, verify_tls=not vc.insecure)
    address = next(iter(site.sra.connection.addresses.values()))
    token = secret(site.sra.connection.credentials, f"sites.{site.role}.sra.connection")
    return for_vcsim(vc.url, user, password, standin_devices(address, token), state / "mnt")


def standin_devices(address: str, token: str) -> Any:
    """How vcsim's VMFS stand-in reads recovered devices: vcsim has no storage, so a plug-in
    registered under the entry-point group :data:`STANDIN_DEVICES` (the lab registers one over
    its appliances) is called with the site's array address and token and returns a
    ``DeviceReader``/``DeviceWriter`` (see orchestrator/vsphere/standin.py)."""
    found = sorted(entry_points(group=STANDIN_DEVICES), key=lambda ep: ep.name)
    if not found:
        raise PlanError(f"a vcsim (http://) site needs a device reader for its VMFS stand-in; "
                        f"none is installed (entry-point group {STANDIN_DEVICES})")
    return found[0].load()(address, token)


def _initiators(adapter: Any) -> list[tuple[str, str]]:
    return [(i.type, i.id) for h in adapter.inventory().hosts if h.connected
            for i in h.initiators]


def _vsphere_ports(plan: Plan, state_dir: Path, adapters: dict[str, Any]) -> dict[str, Any]:
    from orchestrator.vsphere.port import RecordStore, VsphereSitePort

    store = RecordStore(state_dir / "vsphere.json")
    ports = {}
    for role in plan.sites:
        other = "recovery" if role == "protected" else "protected"
        # built on first use: the placement host needs the live inventory
        ports[role] = Lazy(lambda r=role, o=other: VsphereSitePort(
            r, adapters[r], store, _placement_host(plan, r, adapters[r]).name,
            peer=adapters.get(o)))
    return ports


def _placement_host(plan: Plan, role: str, adapter: Any) -> Any:
    """Where recovered VMs go: a connected host of a cluster the plan maps to this site."""
    clusters = plan.inventory.clusters
    wanted = set(clusters.values()) if role == "recovery" else set(clusters)
    hosts = [h for h in adapter.inventory().hosts if h.connected]
    preferred = [h for h in hosts if h.cluster in wanted] or hosts
    if not preferred:
        raise PlanError(f"the {role} site's vCenter has no connected host to recover VMs on")
    return preferred[0]
