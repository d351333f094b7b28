"""The two-site lab behind ``drkit sim up|status|down|reset``.

``start_lab`` starts, in the background (each in its own session, so they outlive the CLI): one
NSS appliance (REST API and iSCSI portal) and one vcsim site (with guest emulation) per site,
registers every host's initiators (FC WWPNs and its iSCSI IQN) as a SAN client of its site's
appliance, seeds the protected site with running VMs (datastore LUN holding the tar stand-in of
VMs, RDM LUNs), pairs the appliances and replicates the protected LUNs (labseed.py), and writes
``lab.json``: every URL, iSCSI portal and target, user, credential *file* and process. The
appliances serve HTTPS with self-signed certificates: lab.json records each one's SHA-256
``fingerprint`` (64 lower-case hex digits), and every client built from it pins it. Secrets
live only in the credential files (mode 0600), never in lab.json or on screen.

``stop_lab`` stops the processes and keeps the data: the next ``start_lab`` brings the same lab
back (same HTTP and iSCSI ports and credentials; appliances on their data; only what vcsim
forgot is registered again). ``reset_lab`` deletes it all. A lock file serializes them per
directory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import shutil
import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from orchestrator.vsphere.port import RecordStore, VsphereSitePort
from orchestrator.vsphere.pyvmomi_adapter import PyVmomiAdapter
from simulators.labfile import LAB_FILE
from simulators.nss.process import ApplianceProcess
from simulators.vcsim.labseed import (
    nss_client,
    pair_appliances,
    register_hosts,
    seed_protected_site,
    site_vcsim,
)
from simulators.vcsim.site import SiteSpec, VcsimSite
from sra.nss_client import NssApiError
from sra.nss_tls import normal_fingerprint, pinned_session

SITES = (("a", "protected"), ("b", "recovery"))


CONTINUOUS = {"mode": "continuous", "interval_s": 5, "rpo_s": 60}


class LabError(Exception):
    """The lab cannot be started, read or stopped as asked (names the file or process)."""


@dataclass(frozen=True)
class LabOptions:
    vms: int = 2
    hosts: int = 2
    boot_delay_s: float = 2.0
    method_delay_ms: dict[str, int] | None = None
    app_luns: bool = False  # two more protected LUNs (data + WAL) for the reference application
    #: the protected group's replication policy: continuous within an RPO, as a protected site
    #: runs (``{"mode": "manual"}``: cycles only when asked, e.g. the SRA's syncOnce)
    replication: dict[str, Any] | None = None


def write_secret(path: Path, data: dict[str, str]) -> Path:
    """Write a credential file readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out)
    os.chmod(path, 0o600)
    return path


def start_lab(root: Path, options: LabOptions,
              progress: Callable[[str], None] = lambda step: None) -> dict[str, Any]:
    """Bring the lab up: afresh, or again on the data a ``stop_lab`` left (same ports,
    credentials and appliance data; only what is missing is registered). One ``start_lab`` at
    a time per lab directory; ``progress`` hears each step's name."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        before = _previous(root)
        if before is not None:
            options = LabOptions(**before.get("options", {}))
        lab = _bring_up(root, options, before or {}, progress)
        _write_json(root / LAB_FILE, lab)
    return lab


def _bring_up(root: Path, options: LabOptions, before: dict[str, Any],
              progress: Callable[[str], None]) -> dict[str, Any]:
    lab: dict[str, Any] = {"dir": str(root), "created": before.get("created") or _now(),
                           "started": _now(), "state": "up", "options": asdict(options),
                           "sites": {}, "processes": []}
    try:
        for site, role in SITES:
            progress(f"appliance and vCenter of site {site}")
            old = before.get("sites", {}).get(site, {})
            lab["sites"][site] = _start_site(root, site, role, options, lab["processes"], old)
        progress("protected site: LUNs, datastore, running VMs")
        seed = lab["sites"]["a"]
        seed["protected"] = seed_protected_site(root, seed, options)
        progress("pairing the appliances and replicating")
        lab["replication"] = pair_appliances(lab["sites"]["a"], lab["sites"]["b"],
                                             options.replication or CONTINUOUS)
    except BaseException:
        _kill_all(lab["processes"])
        raise
    return lab


def _previous(root: Path) -> dict[str, Any] | None:
    """The lab.json a ``stop_lab`` left (None: none); a lab that is up is refused."""
    path = root / LAB_FILE
    if not path.exists():
        return None
    lab = json.loads(path.read_text())
    alive = [p["name"] for p in lab.get("processes", []) if _alive(p["pid"]) and _ours(p)]
    if lab.get("state", "up") == "up" and alive:
        raise LabError(f"the lab in {root} is already up ({', '.join(alive)}): `drkit sim "
                       f"status` shows it, `drkit sim down` stops it")
    _kill_all(lab.get("processes", []))  # a lab whose processes died: bring it up again
    return lab


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Hold the lab directory's lock; another holder is named (its pid) and refused."""
    fd = os.open(root / "lab.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise LabError(f"another `drkit sim` (pid {holder}) is changing the lab in {root}; "
                           "wait for it to finish") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def _start_site(root: Path, site: str, role: str, options: LabOptions,
                processes: list[dict[str, Any]], old: dict[str, Any]) -> dict[str, Any]:
    old_app = old.get("appliance", {})
    nss = ApplianceProcess(f"nss-{site}", root / f"nss-{site}", port=_port(old_app.get("url")),
                           iscsi_port=_port(old_app.get("iscsi", {}).get("portal")) or 0,
                           tls=True).start()
    processes.append(_proc(f"nss-{site}", "appliance", site, nss.proc.pid))
    os.chmod(nss.token_file, 0o600)
    spec = SiteSpec(name=f"site-{site}", hosts_per_cluster=options.hosts,
                    boot_delay_s=options.boot_delay_s, port=_port(old.get("vcenter", {}).get(
                        "url")) or 0, method_delay_ms=dict(options.method_delay_ms or {}))
    creds = root / f"site-{site}" / "vcenter.credentials"
    password = json.loads(creds.read_text())["password"] if creds.exists() else None
    vc = VcsimSite(spec, root / f"site-{site}", password=password).start()
    for kind, pid in vc.processes():
        processes.append(_proc(f"{kind}-{site}", kind, site, pid))
    write_secret(creds, {"user": vc.user, "password": vc.password})
    info = {"role": role,
            "vcenter": {"url": vc.url, "user": vc.user, "credential_file": str(creds)},
            "appliance": {"name": nss.name, "url": nss.url,
                          "fingerprint": normal_fingerprint(nss.fingerprint or ""),
                          "token_file": str(nss.token_file),
                          "id": nss.client.appliance()["id"], "iscsi": _iscsi(nss)}}
    info["hosts"] = register_hosts(info, site, vc.data_dir / "mnt")
    return info


def _port(address: str | None) -> int | None:
    """The port of a URL or a ``host:port`` portal (None: no address)."""
    if not address:
        return None
    return urlsplit(address if "://" in address else f"//{address}").port


def _iscsi(nss: ApplianceProcess) -> dict[str, str]:
    """The appliance's iSCSI portal and target name, as its API reports them."""
    (target,) = nss.client.iscsi_targets()
    return {"portal": target["portal"], "target": target["name"]}


def site_adapter(lab: dict[str, Any], name: str) -> PyVmomiAdapter:
    """A logged-in adapter for lab site ``name``, reading devices from its appliance."""
    return site_vcsim(lab["sites"][name], Path(lab["dir"]) / f"site-{name}" / "mnt")


def vsphere_ports(lab: dict[str, Any], store: RecordStore) -> dict[str, VsphereSitePort]:
    """The plan steps' VspherePort for both lab sites (each the other's peer); recovered VMs
    land on each site's first host."""
    a, b = site_adapter(lab, "a"), site_adapter(lab, "b")
    first = {name: site["hosts"][0]["name"] for name, site in lab["sites"].items()}
    return {"a": VsphereSitePort("a", a, store, first["a"], peer=b),
            "b": VsphereSitePort("b", b, store, first["b"], peer=a)}


def read_lab(root: Path) -> dict[str, Any]:
    path = Path(root) / LAB_FILE
    if not path.exists():
        raise LabError(f"no lab described in {path}: run `drkit sim up`")
    return json.loads(path.read_text())


def lab_status(lab: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per process: name, role, site, pid, alive, the URL it serves (if any) and
    whether it answers there; an appliance's row also has its iSCSI portal and whether it
    accepts connections."""
    urls, portals, pins = {}, {}, {}
    for site, info in lab["sites"].items():
        urls[f"nss-{site}"] = info["appliance"]["url"] + "/healthz"
        pins[f"nss-{site}"] = info["appliance"].get("fingerprint")
        urls[f"vcsim-{site}"] = info["vcenter"]["url"].rsplit("/sdk", 1)[0] + "/about"
        portals[f"nss-{site}"] = (info["appliance"].get("iscsi") or {}).get("portal")
    rows = []
    for proc in lab["processes"]:
        url, portal = urls.get(proc["name"]), portals.get(proc["name"])
        rows.append({**proc, "alive": _alive(proc["pid"]),
                     "url": url.rsplit("/", 1)[0] if url else None,
                     "answers": _answers(url, pins.get(proc["name"])) if url else None,
                     "portal": portal, "portal_answers": _accepts(portal) if portal else None})
    return rows


def replication_status(lab: dict[str, Any]) -> list[dict[str, Any]]:
    """Every replication either appliance holds, with its policy and RPO lag (an appliance that
    does not answer is left out: the process table says so)."""
    found = []
    for name, site in sorted(lab["sites"].items()):
        try:
            reps = nss_client(site).list_replications()
        except NssApiError:
            continue
        found += [{**rep, "site": name} for rep in reps]
    return found


def stop_lab(root: Path, timeout: float = 10.0) -> list[str]:
    """Stop every process of the lab; its data and lab.json stay for the next ``start_lab``."""
    root = Path(root)
    with _locked(root):
        lab = read_lab(root)
        stopped = _kill_all(lab["processes"], timeout) if lab.get("state", "up") == "up" else []
        _write_json(root / LAB_FILE, {**lab, "state": "down", "processes": [],
                                      "stopped": _now()})
    return stopped


def reset_lab(root: Path) -> list[str]:
    """Stop the lab and delete everything it holds (appliance data, vCenter credentials)."""
    root = Path(root)
    stopped = stop_lab(root) if (root / LAB_FILE).exists() else []
    with _locked(root):
        for child in root.iterdir():
            if child.name != "lab.lock":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
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


def _answers(url: str, fingerprint: str | None = None) -> bool:
    """``url`` answers OK; an https appliance only with the certificate ``fingerprint`` pins."""
    try:
        with pinned_session(fingerprint) as session:
            return session.get(url, timeout=2).ok
    except requests.RequestException:
        return False


def _accepts(portal: str) -> bool:
    """The iSCSI portal ``host:port`` accepts a TCP connection."""
    host, _, port = portal.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


def _proc(name: str, role: str, site: str, pid: int) -> dict[str, Any]:
    return {"name": name, "role": role, "site": site, "pid": pid}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)
