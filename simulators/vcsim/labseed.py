"""What ``drkit sim up`` builds on the lab's processes, each step safe to run again.

The appliances keep their data across ``sim down``/``sim up``; vcsim keeps its inventory in
memory only. So every step looks first and makes only what is missing: a SAN client per host
(found by name), the protected datastore and its VMs in vcsim (re-created from the seed when
vcsim restarted; the LUNs already hold their bytes), the LUNs, presentations, the pairing, the
consistency group and its replication. The protected site's VMs run: they are powered on, and
the guest emulator reports their VMware Tools running after their boot delay.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from orchestrator.vsphere.pyvmomi_adapter import for_vcsim
from simulators.vcsim.iscsidevices import IscsiDevices
from simulators.vcsim.seed import ProtectedVm, create_datastore, create_vm
from simulators.vcsim.storage import seed_datastore

MiB = 1 << 20
DATASTORE = "prot-ds1"


def nss_client(site: dict[str, Any]) -> Any:
    """The site's appliance client, pinning the certificate fingerprint lab.json records."""
    from sra.nss_client import NssClient

    app = site["appliance"]
    return NssClient(app["url"], Path(app["token_file"]).read_text().strip(),
                     fingerprint=app.get("fingerprint") or "")


def site_vcsim(site: dict[str, Any], mount: Path) -> Any:
    """A logged-in vSphere adapter for a lab site, reading devices from its appliance over
    iSCSI, as the site's hosts would."""
    vc = site["vcenter"]
    password = json.loads(Path(vc["credential_file"]).read_text())["password"]
    return for_vcsim(vc["url"], vc["user"], password, IscsiDevices(nss_client(site)), mount)


def register_hosts(site: dict[str, Any], name: str, mount: Path) -> list[dict[str, Any]]:
    """A SAN client per vcsim host holding its initiators, FC WWPNs and its iSCSI software
    adapter's IQN (an existing client is reused). Each host's record names its IQN: the
    initiator that logs in to the appliance's iSCSI portal as that host."""
    client = nss_client(site)
    existing = {c["name"]: c for c in client.list_clients()}
    hosts = []
    for host in site_vcsim(site, mount).inventory().hosts:
        initiators = [{"type": i.type, "id": i.id} for i in host.initiators]
        made = existing.get(f"{name}-{host.name}") or client.create_client(
            f"{name}-{host.name}", initiators)
        iqn = next((i["id"] for i in initiators if i["type"] == "iSCSI"), None)
        hosts.append({"name": host.name, "client_id": made["id"], "initiators": initiators,
                      "iqn": iqn})
    return hosts


def _vms(options: Any, rdm: dict[str, Any] | None) -> list[ProtectedVm]:
    return [ProtectedVm(f"vm{n + 1:02d}",
                        rdm_wwns=[rdm["wwn"]] if n == options.vms - 1 and rdm else [],
                        boot_delay_s=options.boot_delay_s * (1 + n % 2),
                        disk_payload=f"vm{n + 1:02d} data\n".encode() * 64)
            for n in range(options.vms)]


def _lun(client: Any, luns: dict[str, dict], name: str, size: int) -> tuple[dict, bool]:
    """The LUN called ``name``, made if missing; True when it was made now."""
    if name in luns:
        return luns[name], False
    return client.create_lun(name, size), True


def seed_protected_site(root: Path, site: dict[str, Any], options: Any) -> dict[str, Any]:
    """Datastore LUN with the tar stand-in of ``options.vms`` running VMs; the last VM gets an
    RDM LUN; with ``options.app_luns`` the reference application's two LUNs."""
    client = nss_client(site)
    adapter = site_vcsim(site, root / "mnt-a")
    host, ds_dir = site["hosts"][0]["name"], root / "site-a" / "datastores" / DATASTORE
    luns = {lun["name"]: lun for lun in client.list_luns()}
    rdm = _lun(client, luns, "rdm-a-1", 4 * MiB)[0] if options.vms else None
    if DATASTORE not in {d.name for d in adapter.inventory().datastores}:
        create_datastore(adapter.si, host, DATASTORE, ds_dir)
    _create_vms(adapter, host, ds_dir, _vms(options, rdm))
    ds_lun, made = _lun(client, luns, "ds-a-1", 32 * MiB)
    if made:  # an existing LUN already holds the datastore (and may have been written since)
        seed_datastore(client, ds_lun, ds_dir)
    app = [_lun(client, luns, f"app-{kind}", 4 * MiB)[0] for kind in ("data", "wal")] \
        if options.app_luns else []
    made_luns = [lun for lun in (ds_lun, rdm, *app) if lun]
    _present(client, made_luns, site["hosts"])
    return {"datastore": DATASTORE, "host": host,
            "vms": [f"vm{n + 1:02d}" for n in range(options.vms)],
            "app": {"data": app[0]["id"], "wal": app[1]["id"]} if app else None,
            "luns": [{"id": lun["id"], "name": lun["name"], "wwn": lun["wwn"]}
                     for lun in made_luns]}


def _create_vms(adapter: Any, host: str, ds_dir: Path, vms: list[ProtectedVm]) -> None:
    registered = {v.name for v in adapter.inventory().vms}
    for vm in vms:
        if vm.name not in registered:
            shutil.rmtree(ds_dir / vm.name, ignore_errors=True)  # vcsim restarted: make anew
            create_vm(adapter.si, host, DATASTORE, vm, ds_dir)
        if adapter.vm_info(vm.name).power_state != "poweredOn":
            adapter.power_on(vm.name)


def _present(client: Any, luns: list[dict[str, Any]], hosts: list[dict[str, Any]]) -> None:
    for lun in luns:
        given = {p.get("client_id") for p in client.list_presentations(lun["id"])}
        for h in hosts:
            if h["client_id"] not in given:
                client.present(lun["id"], client_id=h["client_id"])


def pair_appliances(protected: dict[str, Any], recovery: dict[str, Any],
                    policy: dict[str, Any]) -> dict[str, Any]:
    """Site a's appliance paired with site b's, the protected LUNs replicated to it as one
    consistency group (the first time: waits for the initial sync)."""
    source, target = nss_client(protected), recovery["appliance"]
    peer = next((p for p in source.list_peers() if p.get("url") == target["url"]), None) or \
        source.pair(target["url"], Path(target["token_file"]).read_text().strip(),
                    target.get("fingerprint"))
    luns = protected.get("protected", {}).get("luns", [])
    if not luns:
        return {"state": "paired", "peer_id": peer["id"], "devices": []}
    group = next((g for g in source.list_groups() if g["name"] == "cg-protected"), None) or \
        source.create_group("cg-protected", [lun["id"] for lun in luns])
    replication = _replication(source, group["id"], peer["id"], policy)
    names = {lun["id"]: lun["name"] for lun in luns}
    devices = [{"name": names.get(d["local"], d["local"]), "protected_lun": d["local"],
                "replica_lun": d["remote"]} for d in replication["devices"]]
    return {"state": "replicating", "peer_id": peer["id"], "group_id": group["id"],
            "replication_id": replication["id"], "devices": devices}


def _replication(client: Any, group_id: str, peer_id: str,
                 policy: dict[str, Any]) -> dict[str, Any]:
    """The group's replication under ``policy`` (an existing one keeps its own policy)."""
    for rep in client.list_replications():  # either direction: a reprotect may have reversed it
        if group_id in (rep.get("source"), rep.get("local_group")):
            return rep
    created = client.create_replication(group_id, peer_id, policy=policy)
    client.wait_job(created["job"]["id"], timeout=120)
    return created["replication"]
