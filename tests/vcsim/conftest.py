"""Fixtures for the vcsim tests: one vcsim build per session, real vcsim processes per test.

A missing vcsim (no binary, no way to build one) FAILS these tests; it never skips them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestrator.vsphere.connection import connect, disconnect
from orchestrator.vsphere.pyvmomi_adapter import PyVmomiAdapter, for_vcsim
from simulators.vcsim.binary import vcsim_binary
from simulators.vcsim.errors import VcsimBinaryError
from simulators.vcsim.iscsidevices import IscsiDevices
from simulators.vcsim.seed import ProtectedVm, create_datastore, create_vm
from simulators.vcsim.site import SiteSpec, VcsimSite
from simulators.vcsim.storage import NssDevices, seed_datastore

MiB = 1 << 20
PAYLOAD = b"drkit protected bytes\n" * 100
HOST = "DC0_C0_H0"


@pytest.fixture(scope="session")
def vcsim_bin() -> Path:
    """Build (or find) the vcsim binary once per test session."""
    try:
        return vcsim_binary()
    except VcsimBinaryError as exc:
        pytest.fail(f"vcsim is required for these tests: {exc}")


@pytest.fixture
def site_factory(vcsim_bin: Path, tmp_path: Path) -> Iterator[Callable[..., VcsimSite]]:
    """Start real vcsim sites (with guest emulation); every one is stopped at teardown."""
    started: list[VcsimSite] = []

    def start(name: str = "site-a", *, guest: bool = True, **spec: object) -> VcsimSite:
        site = VcsimSite(SiteSpec(name=name, **spec), tmp_path / name, guest=guest).start()
        started.append(site)
        return site

    yield start
    for site in started:
        site.stop()


@pytest.fixture
def si_of() -> Iterator[Callable[[VcsimSite], object]]:
    """Log in to a site with pyvmomi; sessions are closed at teardown."""
    sessions = []

    def login(site: VcsimSite) -> object:
        si = connect(site.url, site.user, site.password)
        sessions.append(si)
        return si

    yield login
    for si in sessions:
        disconnect(si)


@dataclass
class Lab:
    nss: Any
    protected: PyVmomiAdapter
    recovery: PyVmomiAdapter
    record: Any
    ds_tv: dict[str, Any]
    rdm_tv: dict[str, Any]
    rdm_lun: dict[str, Any]
    mount_root: Path
    ds_lun: dict[str, Any]


def _present(nss: Any, lun: dict[str, Any], client_id: str) -> dict[str, Any]:
    snap = nss.create_snapshot(lun["id"])
    tv = nss.create_timeview(snap["id"], name=f"tv-{lun['name']}")
    nss.present(tv["id"], client_id=client_id)
    return tv


def _seed(site_a: VcsimSite, nss: Any, mount: Path, ds_dir: Path) -> tuple[Any, Any, Any, Any]:
    """Protected site: datastore dir + VM web01 (disk, RDM, one NIC, 1.5 s boot delay), its
    protection record, and the tar stand-in seeded onto a datastore LUN of ``nss``."""
    ds_lun = nss.create_lun("ds-prot", 8 * MiB)
    rdm_lun = nss.create_lun("rdm-db", 1 * MiB)
    protected = for_vcsim(site_a.url, site_a.user, site_a.password, NssDevices(nss), mount)
    create_datastore(protected.si, HOST, "prot-ds", ds_dir)
    vm = ProtectedVm("web01", cpus=2, memory_mb=512, rdm_wwns=[rdm_lun["wwn"]],
                     boot_delay_s=1.5, disk_payload=PAYLOAD)
    create_vm(protected.si, HOST, "prot-ds", vm, ds_dir)
    record = protected.capture_vm("web01")
    seed_datastore(nss, ds_lun, ds_dir)
    nss.write(rdm_lun["id"], 0, b"R" * 512)
    return protected, record, ds_lun, rdm_lun


def _recovery(site_b: VcsimSite, nss: Any, mount: Path) -> tuple[PyVmomiAdapter, str]:
    """Recovery adapter reading devices from ``nss`` over iSCSI, as its host's IQN; the host
    registered as a SAN client."""
    recovery = for_vcsim(site_b.url, site_b.user, site_b.password, IscsiDevices(nss), mount)
    host = recovery.inventory().host(HOST)
    client = nss.create_client("reco-h0", [{"type": i.type, "id": i.id}
                                           for i in host.initiators])
    return recovery, client["id"]


@pytest.fixture
def lab(site_factory, appliance_factory, tmp_path) -> Lab:
    """One appliance: TimeViews of the protected LUNs' snapshots stand in for replicas."""
    nss = appliance_factory("nss", iscsi_port=0).client
    site_a = site_factory("prot", guest=False)
    site_b = site_factory("reco", boot_delay_s=0.2)
    protected, record, ds_lun, rdm_lun = _seed(site_a, nss, tmp_path / "mnt-a",
                                               tmp_path / "prot-ds")
    recovery, client_id = _recovery(site_b, nss, tmp_path / "mnt-b")
    return Lab(nss, protected, recovery, record, _present(nss, ds_lun, client_id),
               _present(nss, rdm_lun, client_id), rdm_lun, tmp_path / "mnt-b", ds_lun)


@pytest.fixture
def replicated_lab(site_factory, appliance_factory, tmp_path) -> Lab:
    """Two paired appliances: the protected LUNs replicate (one consistency group) to the
    recovery appliance, whose latest recovery point is presented as TimeViews."""
    nss_a, nss_b = appliance_factory("nss-a"), appliance_factory("nss-b", iscsi_port=0)
    site_a = site_factory("prot", guest=False)
    site_b = site_factory("reco", boot_delay_s=0.2)
    ca, cb = nss_a.client, nss_b.client
    protected, record, ds_lun, rdm_lun = _seed(site_a, ca, tmp_path / "mnt-a",
                                               tmp_path / "prot-ds")
    peer = ca.pair(nss_b.url, nss_b.token)
    group = ca.create_group("cg-web01", [ds_lun["id"], rdm_lun["id"]])
    created = ca.create_replication(group["id"], peer["id"])
    ca.wait_job(created["job"]["id"])
    remote = {d["local"]: d["remote"] for d in created["replication"]["devices"]}
    recovery, client_id = _recovery(site_b, cb, tmp_path / "mnt-b")
    tvs = [_present_recovery_point(cb, remote[lun["id"]], client_id) for lun in (ds_lun, rdm_lun)]
    return Lab(cb, protected, recovery, record, tvs[0], tvs[1], rdm_lun, tmp_path / "mnt-b",
               ds_lun)


def _present_recovery_point(nss: Any, replica_id: str, client_id: str) -> dict[str, Any]:
    point = nss.recovery_points(replica_id)[-1]
    tv = nss.create_timeview(point["snapshot_id"], name=f"tv-{replica_id}")
    nss.present(tv["id"], client_id=client_id)
    return tv
