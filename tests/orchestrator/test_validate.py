"""Semantic validation: priorities vs dependencies, and drift against a live inventory."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.plan.live import StaticInventory
from orchestrator.plan.load import check_text
from orchestrator.plan.validate import _find_cycle, effective_priorities
from orchestrator.ports.inventory import AdapterInventory
from orchestrator.vsphere.adapter import DatastoreInfo, HostInfo, Inventory, VmInfo

SAMPLE = (Path(__file__).resolve().parents[2] / "plans" / "sample-app.yaml").read_text()


def site_snapshot(**changes) -> dict:
    """A live inventory in which the sample plan is fully consistent; ``changes`` override."""
    vm = {"networks": ["VM Network"], "datastores": ["ds-app"], "cluster": "cluster-a",
          "cpus": 4, "memory_mb": 8192}
    data = {
        "protected": {"vms": {"db1": vm, "app1": vm, "app2": vm}, "networks": ["VM Network"],
                      "datastores": ["ds-app"], "clusters": ["cluster-a"]},
        "recovery": {"networks": ["DR Network", "Test Bubble"], "datastores": ["ph-app"],
                     "clusters": ["cluster-b"], "capacity": {"cpus": 16, "memory_mb": 65536}},
    }
    for dotted, value in changes.items():
        site, key = dotted.split("__")
        data[site][key] = value
    return data


def errors(text: str, live: StaticInventory | None = None) -> list[str]:
    return [str(i) for i in check_text(text, live=live, environ={}).errors]


def test_consistent_live_inventory_gives_no_issue():
    assert check_text(SAMPLE, live=StaticInventory(site_snapshot()), environ={}).issues == []


def test_drift_names_every_missing_object():
    live = StaticInventory(site_snapshot(
        protected__vms={"db1": {"networks": ["VM Network", "Backup"], "cluster": "cluster-x",
                                "datastores": ["ds-app"]},
                        "app2": {"networks": ["VM Network"], "datastores": ["ds-app"]}},
        protected__datastores=[], recovery__networks=["DR Network"],
        recovery__datastores=[]))
    assert errors(SAMPLE, live) == [
        "vms[0]: VM 'db1' uses network 'Backup', which has no mapping in inventory.networks",
        "vms[0]: VM 'db1' is in cluster 'cluster-x', which has no mapping in inventory.clusters",
        "vms[1].name: VM 'app1' not found at the protected site (did you mean 'app2'?)",
        "protection_groups[0].datastores: 'ds-app' not found at the protected site",
        "inventory.test_networks.VM Network: 'Test Bubble' not found at the recovery site",
        "inventory.placeholder_datastores.ds-app: 'ph-app' not found at the recovery site",
    ]


def test_a_vm_on_a_datastore_no_group_replicates_is_an_error():
    vm = {"networks": ["VM Network"], "datastores": ["ds-app", "ds-local"],
          "cluster": "cluster-a"}
    live = StaticInventory(site_snapshot(protected__vms={"db1": vm, "app1": vm, "app2": vm}))
    assert errors(SAMPLE, live) == [
        f"vms[{i}]: VM '{name}' is on datastore 'ds-local', which no protection group "
        f"replicates" for i, name in enumerate(("db1", "app1", "app2"))]


def test_devices_are_checked_for_device_protection_groups():
    text = SAMPLE.replace("datastores: [ds-app]", "devices: [naa.6001, naa.6002]")
    live = StaticInventory(site_snapshot(protected__devices=["naa.6001"]))
    assert errors(text, live) == [
        "protection_groups[0].devices: 'naa.6002' not found at the protected site"]


def test_short_recovery_capacity_is_an_error():
    live = StaticInventory(site_snapshot(recovery__capacity={"cpus": 8, "memory_mb": 65536}))
    assert errors(SAMPLE, live) == [
        "vms: recovery capacity short: powering on 3 VMs needs 12 vCPUs and 24576 MiB, the "
        "recovery site has 8 vCPUs and 65536 MiB"]


def test_dependency_on_a_later_priority_warns_and_is_honoured():
    text = SAMPLE.replace("  - name: db1\n    priority: 1", "  - name: db1\n    priority: 4")
    checked = check_text(text, environ={})
    assert not checked.errors
    assert [str(w) for w in checked.warnings] == [
        "vms[1].depends_on: 'app1' (priority 2) depends on 'db1', which powers on in priority "
        "group 4; drkit honours the dependency, so 'app1' powers on in priority group 4, after "
        "'db1'",
        "vms[2].depends_on: 'app2' (priority 2) depends on 'db1', which powers on in priority "
        "group 4; drkit honours the dependency, so 'app2' powers on in priority group 4, after "
        "'db1'"]
    assert effective_priorities(checked.plan) == {"db1": 4, "app1": 4, "app2": 4}


def test_a_dependency_chain_names_the_group_it_really_forces():
    """app2 (1) -> app1 (1) -> db1 (3): app1's own priority is 1, yet it starts in group 3, and
    that (not its priority) is why app2 starts in group 3; app1 is warned about too."""
    text = (SAMPLE.replace("  - name: db1\n    priority: 1", "  - name: db1\n    priority: 3")
            .replace("  - name: app1\n    priority: 2", "  - name: app1\n    priority: 1")
            .replace("  - name: app2\n    priority: 2\n    depends_on: [db1]",
                     "  - name: app2\n    priority: 1\n    depends_on: [app1]"))
    warnings = [str(w) for w in check_text(text, environ={}).warnings]
    assert ("vms[2].depends_on: 'app2' (priority 1) depends on 'app1', which powers on in "
            "priority group 3 (its own priority is 1); drkit honours the dependency, so 'app2' "
            "powers on in priority group 3, after 'app1'") in warnings
    assert len(warnings) == 2


def test_dependency_on_a_vm_left_off_warns():
    text = SAMPLE.replace("    priority: 1\n", "    priority: 1\n    startup: leave-off\n")
    warnings = [str(w) for w in check_text(text, environ={}).warnings]
    assert "vms[1].depends_on: 'app1' depends on 'db1', which is left powered off" in warnings


def test_network_without_test_network_warns():
    text = SAMPLE.replace("networks: {VM Network: DR Network}",
                          "networks: {VM Network: DR Network, Backup: DR Backup}")
    warnings = [str(w) for w in check_text(text, environ={}).warnings]
    assert warnings == ["inventory.test_networks: no test network for 'Backup': test "
                        "recoveries connect its VMs to 'DR Backup', the recovery network"]


class SiteAdapter:
    """One site as a vSphere adapter reports it, in the adapter's own records
    (orchestrator.vsphere.adapter), built from plain values."""

    def __init__(self, vms, networks, datastores, clusters):
        host = HostInfo("esx-1", "dc", clusters[0] if clusters else None, True, (),
                        tuple(datastores))
        self.snapshot = Inventory(
            ("dc",), tuple(clusters), (host,),
            tuple(VmInfo(n, "esx-1", "poweredOn", True, "green", None, None, None, tuple(dss),
                         tuple(nets)) for n, nets, dss in vms),
            tuple(DatastoreInfo(d, f"ds:///{d}", "VMFS", ("esx-1",)) for d in datastores),
            tuple(networks))

    def inventory(self) -> Inventory:
        return self.snapshot


def test_adapter_inventory_feeds_drift_checks():
    protected = SiteAdapter([("db1", ["VM Network"], ["ds-app"]),
                             ("app1", ["VM Network"], ["ds-app"])],
                            ["VM Network"], ["ds-app"], ["cluster-a"])
    recovery = SiteAdapter([], ["DR Network", "Test Bubble"], ["ph-app"], ["cluster-b"])
    live = AdapterInventory({"protected": protected, "recovery": recovery})
    assert live.vms("protected")["db1"].cluster == "cluster-a"
    assert live.capacity("recovery") is None and live.devices("protected") == frozenset()
    assert errors(SAMPLE, live) == [
        "vms[2].name: VM 'app2' not found at the protected site (did you mean 'app1'?)"]


def test_capacity_falls_back_to_the_plans_sizes():
    live = StaticInventory(site_snapshot(
        protected__vms={"db1": {}, "app1": {"cpus": 2, "memory_mb": 2048}, "app2": {}},
        recovery__capacity={"cpus": 5, "memory_mb": 65536}))
    assert errors(SAMPLE, live) == [  # db1: 4 vCPUs from the plan, app1: 2 live, app2: 0
        "vms: recovery capacity short: powering on 3 VMs needs 6 vCPUs and 10240 MiB, the "
        "recovery site has 5 vCPUs and 65536 MiB"]


def test_consistency_groups_are_checked_only_when_known():
    text = SAMPLE.replace("datastores: [ds-app]", "consistency_groups: [cg-db]")
    assert errors(text, StaticInventory(site_snapshot())) == []  # unknown: not checked
    live = StaticInventory(site_snapshot(protected__consistency_groups=["cg-web"]))
    assert errors(text, live) == [
        "protection_groups[0].consistency_groups: 'cg-db' not found at the protected site"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcdefg"), st.sampled_from("abcdefg")), max_size=14))
def test_a_dependency_cycle_is_the_one_networkx_finds_from_the_first_declared_node(edges):
    graph = nx.DiGraph(edges)
    try:
        found = [u for u, _ in nx.find_cycle(graph)]
    except nx.NetworkXNoCycle:
        assert _find_cycle(edges) == []
        return
    order = {n: i for i, n in enumerate(graph)}
    start = min(range(len(found)), key=lambda i: order[found[i]])
    assert _find_cycle(edges) == found[start:] + found[:start]
