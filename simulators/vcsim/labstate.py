"""The two-site lab behind ``drkit sim up|status|down``.

``start_lab`` starts, in the background (each in its own session, so they outlive the CLI): one
NSS appliance and one vcsim site (with guest emulation) per site, registers every host's
initiators as SAN clients of its site's appliance, seeds the protected site (datastore LUN holding
the tar stand-in of VMs, RDM LUNs), pairs the appliances and replicates the protected LUNs
(:func:`pair_appliances`) and writes
``lab.json``: every URL, user, credential *file* and process. Secrets live only in the
credential files (mode 0600), never in lab.json or on screen.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from orchestrator.vsphere.port import RecordStore, VsphereSitePort
from orchestrator.vsphere.pyvmomi_adapter import PyVmomiAdapter, for_vcsim
from simulators.nss.process import ApplianceProcess
from simulators.vcsim.seed import ProtectedVm, create_datastore, create_vm
from simulators.vcsim.site import SiteSpec, VcsimSite
from simulators.vcsim.storage import NssDevices, seed_datastore

LAB_FILE = "lab.json"
MiB = 1 << 20
SITES = (("a", "protected"), ("b", "recovery"))


class LabError(Exception):
    """The lab cannot be started, read or stopped as asked (names the file or process)."""


@dataclass(frozen=True)
class LabOptions:
    vms: int = 2
    hosts: int = 2
    boot_delay_s: float = 2.0
    method_delay_ms: dict[str, int] | None = None
    app_luns: bool = False  # two more protected LUNs (data + WAL) for the reference application


def default_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(os.environ.get("DRKIT_LAB_DIR") or Path(base) / "drkit" / "lab")


def write_secret(path: Path, data: dict[str, str]) -> Path:
    """Write a credential file readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out)
    os.chmod(path, 0o600)
    return path


def start_lab(root: Path, options: LabOptions) -> dict[str, Any]:
    root = Path(root)
    if (root / LAB_FILE).exists():
        raise LabError(f"a lab is already described in {root / LAB_FILE}: run `drkit sim down`")
    lab: dict[str, Any] = {"dir": str(root), "created": _now(), "sites": {}, "processes": []}
    try:
        for site, role in SITES:
            lab["sites"][site] = _start_site(root, site, role, options, lab["processes"])
        seed = lab["sites"]["a"]
        seed["protected"] = seed_protected_site(root, seed, options)
        lab["replication"] = pair_appliances(lab["sites"]["a"], lab["sites"]["b"])
    except BaseException:
        _kill_all(lab["processes"])
        raise
    _write_json(root / LAB_FILE, lab)
    return lab


def _start_site(root: Path, site: str, role: str, options: LabOptions,
                processes: list[dict[str, Any]]) -> dict[str, Any]:
    nss = ApplianceProcess(f"nss-{site}", root / f"nss-{site}").start()
    processes.append(_proc(f"nss-{site}", "appliance", site, nss.proc.pid))
    os.chmod(nss.token_file, 0o600)
    spec = SiteSpec(name=f"site-{site}", hosts_per_cluster=options.hosts,
                    boot_delay_s=options.boot_delay_s,
                    method_delay_ms=dict(options.method_delay_ms or {}))
    vc = VcsimSite(spec, root / f"site-{site}").start()
    for kind, pid in vc.processes():
        processes.append(_proc(f"{kind}-{site}", kind, site, pid))
    creds = write_secret(root / f"site-{site}" / "vcenter.credentials",
                         {"user": vc.user, "password": vc.password})
    return {
        "role": role,
        "vcenter": {"url": vc.url, "user": vc.user, "credential_file": str(creds)},
        "appliance": {"name": nss.name, "url": nss.url, "token_file": str(nss.token_file),
                      "id": nss.client.appliance()["id"]},
        "hosts": _register_hosts(nss.client, vc, site),
    }


def _register_hosts(client: Any, site: VcsimSite, name: str) -> list[dict[str, Any]]:
    adapter = for_vcsim(site.url, site.user, site.password, NssDevices(client),
                        site.data_dir / "mnt")
    hosts = []
    for host in adapter.inventory().hosts:
        initiators = [{"type": i.type, "id": i.id} for i in host.initiators]
        made = client.create_client(f"{name}-{host.name}", initiators)
        hosts.append({"name": host.name, "client_id": made["id"], "initiators": initiators})
    return hosts


def seed_protected_site(root: Path, site: dict[str, Any], options: LabOptions) -> dict[str, Any]:
    """Datastore LUN with the tar stand-in of ``options.vms`` VMs; the last VM gets an RDM LUN."""
    client = _client(site)
    vc = site["vcenter"]
    password = json.loads(Path(vc["credential_file"]).read_text())["password"]
    adapter = for_vcsim(vc["url"], vc["user"], password, NssDevices(client), root / "mnt-a")
    host = site["hosts"][0]["name"]
    ds_dir = root / "site-a" / "datastores" / "prot-ds1"
    create_datastore(adapter.si, host, "prot-ds1", ds_dir)
    rdm = client.create_lun("rdm-a-1", 4 * MiB) if options.vms else None
    for n in range(options.vms):
        last = n == options.vms - 1
        vm = ProtectedVm(f"vm{n + 1:02d}", rdm_wwns=[rdm["wwn"]] if last and rdm else [],
                         boot_delay_s=options.boot_delay_s * (1 + n % 2),
                         disk_payload=f"vm{n + 1:02d} data\n".encode() * 64)
        create_vm(adapter.si, host, "prot-ds1", vm, ds_dir)
    ds_lun = client.create_lun("ds-a-1", 32 * MiB)
    seed_datastore(client, ds_lun, ds_dir)
    app = [client.create_lun(f"app-{kind}", 4 * MiB) for kind in ("data", "wal")] \
        if options.app_luns else []
    luns = [lun for lun in (ds_lun, rdm, *app) if lun]
    for lun in luns:
        for h in site["hosts"]:
            client.present(lun["id"], client_id=h["client_id"])
    return {"datastore": "prot-ds1", "host": host, "vms": [f"vm{n + 1:02d}" for n in
                                                           range(options.vms)],
            "app": {"data": app[0]["id"], "wal": app[1]["id"]} if app else None,
            "luns": [{"id": lun["id"], "name": lun["name"], "wwn": lun["wwn"]} for lun in luns]}


def pair_appliances(protected: dict[str, Any], recovery: dict[str, Any]) -> dict[str, Any]:
    """Pair site a's appliance with site b's and replicate the protected LUNs (one consistency
    group) to it; waits for the initial sync. Returns what lab.json records about it."""
    source, target = _client(protected), recovery["appliance"]
    peer = source.pair(target["url"], Path(target["token_file"]).read_text().strip())
    luns = protected.get("protected", {}).get("luns", [])
    if not luns:
        return {"state": "paired", "peer_id": peer["id"], "devices": []}
    group = source.create_group("cg-protected", [lun["id"] for lun in luns])
    created = source.create_replication(group["id"], peer["id"])
    source.wait_job(created["job"]["id"], timeout=120)
    names = {lun["id"]: lun["name"] for lun in luns}
    devices = [{"name": names.get(d["local"], d["local"]), "protected_lun": d["local"],
                "replica_lun": d["remote"]} for d in created["replication"]["devices"]]
    return {"state": "replicating", "peer_id": peer["id"], "group_id": group["id"],
            "replication_id": created["replication"]["id"], "devices": devices}


def site_adapter(lab: dict[str, Any], name: str) -> PyVmomiAdapter:
    """A logged-in adapter for lab site ``name``, reading devices from its appliance."""
    site = lab["sites"][name]
    vc = site["vcenter"]
    password = json.loads(Path(vc["credential_file"]).read_text())["password"]
    mount = Path(lab["dir"]) / f"site-{name}" / "mnt"
    return for_vcsim(vc["url"], vc["user"], password, NssDevices(_client(site)), mount)


def vsphere_ports(lab: dict[str, Any], store: RecordStore) -> dict[str, VsphereSitePort]:
    """The plan steps' VspherePort for both lab sites (each the other's peer); recovered VMs
    land on each site's first host."""
    a, b = site_adapter(lab, "a"), site_adapter(lab, "b")
    first = {name: site["hosts"][0]["name"] for name, site in lab["sites"].items()}
    return {"a": VsphereSitePort("a", a, store, first["a"], peer=b),
            "b": VsphereSitePort("b", b, store, first["b"], peer=a)}


def _client(site: dict[str, Any]) -> Any:
    from sra.nss_client import NssClient

    app = site["appliance"]
    return NssClient(app["url"], Path(app["token_file"]).read_text().strip())


def read_lab(root: Path) -> dict[str, Any]:
    path = Path(root) / LAB_FILE
    if not path.exists():
        raise LabError(f"no lab described in {path}: run `drkit sim up`")
    return json.loads(path.read_text())


def lab_status(lab: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per process: name, role, site, pid, alive, and the URL it serves (if any)."""
    urls = {}
    for site, info in lab["sites"].items():
        urls[f"nss-{site}"] = info["appliance"]["url"] + "/healthz"
        urls[f"vcsim-{site}"] = info["vcenter"]["url"].rsplit("/sdk", 1)[0] + "/about"
    rows = []
    for proc in lab["processes"]:
        url = urls.get(proc["name"])
        rows.append({**proc, "alive": _alive(proc["pid"]),
                     "url": url.rsplit("/", 1)[0] if url else None,
                     "answers": _answers(url) if url else None})
    return rows


def stop_lab(root: Path, timeout: float = 10.0) -> list[str]:
    lab = read_lab(root)
    stopped = _kill_all(lab["processes"], timeout)
    (Path(root) / LAB_FILE).unlink()
    return stopped


def _kill_all(processes: list[dict[str, Any]], timeout: float = 10.0) -> list[str]:
    for proc in reversed(processes):
        _signal(proc, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(_alive(p["pid"]) for p in processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    for proc in processes:
        if _alive(proc["pid"]):
            _signal(proc, signal.SIGKILL)
    return [p["name"] for p in processes]


MARKERS = {"appliance": "simulators.nss", "vcsim": "vcsim", "guest": "simulators.vcsim.guest"}


def _ours(proc: dict[str, Any]) -> bool:
    """The pid still runs the program we started (not a recycled pid)."""
    try:
        cmdline = Path(f"/proc/{proc['pid']}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return MARKERS[proc["role"]].encode() in cmdline


def _signal(proc: dict[str, Any], sig: int) -> None:
    if not _ours(proc):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc["pid"], sig)  # each lab process leads its own session / process group


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[-1].startswith("Z"))


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


def _proc(name: str, role: str, site: str, pid: int) -> dict[str, Any]:
    return {"name": name, "role": role, "site": site, "pid": pid}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)
