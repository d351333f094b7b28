"""vcsim sites: start/stop, inventory counts, per-host initiators, latency, guest emulation."""

from __future__ import annotations

import os
import time

import pytest

from orchestrator.vsphere.datastores import VmfsMounter
from orchestrator.vsphere.pyvmomi_adapter import PyVmomiAdapter

pytestmark = pytest.mark.live


def test_site_inventory_and_initiators(site_factory, si_of):
    site = site_factory("inv", hosts_per_cluster=3, clusters=2, portgroups=2, guest=False)
    inv = PyVmomiAdapter(si_of(site), VmfsMounter()).inventory()
    assert inv.datacenters == ("DC0",)
    assert inv.clusters == ("DC0_C0", "DC0_C1")
    assert len(inv.hosts) == 6
    ids = [i.id for h in inv.hosts for i in h.initiators]
    assert len(ids) == len(set(ids)) == 18  # 2 FC + 1 iSCSI per host, all distinct
    assert {i.type for i in inv.hosts[0].initiators} == {"FC", "iSCSI"}
    assert "VM Network" in inv.networks and "DC0_DVPG1" in inv.networks
    assert [d.name for d in inv.datastores] == ["LocalDS_0"]


def test_multi_datacenter_and_standalone_hosts(site_factory, si_of):
    site = site_factory("big", datacenters=2, standalone_hosts=1, hosts_per_cluster=1,
                        guest=False)
    inv = PyVmomiAdapter(si_of(site), VmfsMounter()).inventory()
    assert inv.datacenters == ("DC0", "DC1")
    standalone = [h for h in inv.hosts if h.cluster is None]
    assert len(inv.hosts) == 4 and len(standalone) == 2
    assert {h.datacenter for h in standalone} == {"DC0", "DC1"}
    ids = [i.id for h in inv.hosts for i in h.initiators]
    assert len(ids) == len(set(ids)) == 12


def test_initiators_differ_between_sites(site_factory, si_of):
    a = PyVmomiAdapter(si_of(site_factory("a", guest=False)), VmfsMounter()).inventory()
    b = PyVmomiAdapter(si_of(site_factory("b", guest=False)), VmfsMounter()).inventory()
    ids_a = {i.id for h in a.hosts for i in h.initiators}
    ids_b = {i.id for h in b.hosts for i in h.initiators}
    assert ids_a and not ids_a & ids_b


def test_stop_leaves_no_process(site_factory):
    site = site_factory("stop")
    pids = site.pids
    assert len(pids) == 2  # vcsim + guest emulator
    site.stop()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_adapter_closes_its_session(site_factory):
    from orchestrator.errors import VSphereAuthError
    from orchestrator.vsphere.connection import connect

    site = site_factory("close", guest=False)
    with PyVmomiAdapter(connect(site.url, site.user, site.password), VmfsMounter()) as adapter:
        assert adapter.inventory().datacenters == ("DC0",)
    with pytest.raises(VSphereAuthError, match="not authenticated"):
        adapter.inventory()  # logged out


def test_method_latency(site_factory, si_of):
    site = site_factory("slow", guest=False, method_delay_ms={"RetrievePropertiesEx": 150})
    adapter = PyVmomiAdapter(si_of(site), VmfsMounter())
    start = time.monotonic()
    adapter.inventory()
    assert time.monotonic() - start >= 0.15 * 5  # inventory() makes several collector calls
