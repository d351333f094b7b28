"""Workflow DAGs: SRM's backbone order, priorities, dependencies, callouts, build-time checks."""

from __future__ import annotations

import itertools
from pathlib import Path

import networkx as nx
import pytest

from orchestrator.graph import build_workflow
from orchestrator.graph.errors import GraphError
from orchestrator.plan.live import StaticInventory
from orchestrator.plan.load import check_text, load_plan
from orchestrator.plan.model import WORKFLOWS

SAMPLE = Path(__file__).resolve().parents[2] / "plans" / "sample-app.yaml"


@pytest.fixture(scope="module")
def plan():
    return load_plan(SAMPLE, environ={})


def before(graph: nx.DiGraph, first: str, then: str) -> bool:
    return nx.has_path(graph, first, then)


def types(graph: nx.DiGraph) -> set[str]:
    return {d["step"].type for _, d in graph.nodes(data=True)}


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_every_workflow_builds_an_acyclic_graph_of_steps(plan, workflow):
    graph = build_workflow(plan, workflow)
    assert nx.is_directed_acyclic_graph(graph)
    assert graph.graph["order"][0] == "phase:start"
    assert all("step" in data for _, data in graph.nodes(data=True))


def test_planned_follows_srm_order(plan):
    g = build_workflow(plan, "planned")
    chain = ["presync:app-pg", "shutdown:db1", "prepare-migration:db1",
             "prepare-failover:app-pg", "sync:app-pg", "failover:app-pg", "mount:app-pg",
             "register:db1",
             "power-on:db1", "wait-tools:db1", "post-callout:db1:0"]
    assert all(before(g, a, b) for a, b in itertools.pairwise(chain))
    # protected VMs shut down in reverse priority: app (2) before db (1)
    assert before(g, "shutdown:app1", "shutdown:db1")
    assert g.nodes["failover:app-pg"]["step"].site == "recovery"
    assert g.nodes["prepare-failover:app-pg"]["step"].side == "source"


def test_power_on_by_priority_with_dependencies_and_callouts(plan):
    g = build_workflow(plan, "test")
    assert before(g, "post-callout:db1:0", "pre-callout:app1:0")
    assert before(g, "pre-callout:app1:0", "power-on:app1")
    assert before(g, "wait-tools:db1", "power-on:app2")
    assert not before(g, "power-on:app1", "power-on:app2")  # same group: in parallel
    assert g.has_edge("post-callout:db1:0", "pre-callout:app1:0")  # the dependency itself
    assert {"test-failover-start", "sync-storage"} <= types(g)
    assert not {"failover", "shutdown-vm"} & types(g)
    assert g.nodes["register:db1"]["step"].args["networks"] == {"VM Network": "Test Bubble"}


def test_dependency_across_priority_groups_is_honoured():
    text = SAMPLE.read_text().replace("  - name: app1\n    priority: 2",
                                      "  - name: app1\n    priority: 1")
    text = text.replace("  - name: db1\n    priority: 1", "  - name: db1\n    priority: 3")
    g = build_workflow(check_text(text, environ={}).plan, "planned")
    assert before(g, "phase:priority-2", "power-on:db1")
    assert before(g, "post-callout:db1:0", "power-on:app1")  # app1 (priority 1) waits for db1


def test_test_sync_option_and_cleanup_and_reprotect(plan):
    text = SAMPLE.read_text().replace("test_sync: true", "test_sync: false")
    no_sync = build_workflow(check_text(text, environ={}).plan, "test")
    assert "sync-storage" not in types(no_sync)
    cleanup = build_workflow(plan, "cleanup")
    assert before(cleanup, "power-off:app1", "power-off:db1")
    assert before(cleanup, "unregister:db1", "unmount:app-pg")
    assert before(cleanup, "unmount:app-pg", "test-failover-stop:app-pg")
    reprotect = build_workflow(plan, "reprotect")
    assert reprotect.nodes["prepare-reverse:app-pg"]["step"].site == "protected"
    assert reprotect.nodes["reverse:app-pg"]["step"].site == "recovery"
    assert before(reprotect, "reverse:app-pg", "protect:db1")


def test_failback_runs_planned_in_reverse_then_reprotect(plan):
    g = build_workflow(plan, "failback")
    assert g.nodes["shutdown:db1"]["step"].site == "recovery"
    assert g.nodes["failover:app-pg"]["step"].site == "protected"
    assert g.nodes["register:db1"]["step"].args["networks"] == {"DR Network": "VM Network"}
    assert before(g, "post-callout:app2:0", "prepare-reverse:app-pg")
    assert g.nodes["reverse:app-pg"]["step"].site == "protected"


def test_custom_steps_attach_to_phases(plan):
    g = build_workflow(plan, "planned")
    assert g.has_edge("phase:start", "custom:announce")
    assert g.has_edge("custom:announce", "phase:presync")
    assert "custom:announce" not in build_workflow(plan, "cleanup")


def test_custom_step_cycle_through_phases_is_a_graph_error():
    text = SAMPLE.read_text().replace("""    after: start
    idempotent: true
""", """    after: start
    depends_on: [late]
  - {name: late, type: command, command: "true", after: end, workflows: [test]}
""").replace("workflows: [test, planned, disaster]", "workflows: [test]")
    plan = check_text(text, environ={}).plan
    with pytest.raises(GraphError, match=r"dependency cycle: .*custom:late"):
        build_workflow(plan, "test")


def test_custom_step_depending_on_a_step_of_another_workflow_is_dangling():
    text = SAMPLE.read_text().replace("""    idempotent: true
""", """    idempotent: true
    depends_on: [only-cleanup]
  - {name: only-cleanup, type: command, command: "true", workflows: [cleanup]}
""")
    plan = check_text(text, environ={}).plan
    with pytest.raises(GraphError, match=r"steps\[0\].depends_on: step 'only-cleanup' does "
                                         r"not run in workflow 'test'"):
        build_workflow(plan, "test")


def test_capacity_is_checked_at_build_time_when_known(plan):
    vm = {"cpus": 8, "memory_mb": 1024}
    live = StaticInventory({"protected": {"vms": {"db1": vm, "app1": vm, "app2": vm}},
                            "recovery": {"capacity": {"cpus": 16, "memory_mb": 8192}}})
    with pytest.raises(GraphError, match="recovery capacity short"):
        build_workflow(plan, "planned", live)


def test_unknown_workflow(plan):
    with pytest.raises(GraphError, match="unknown workflow 'migrate'"):
        build_workflow(plan, "migrate")


def test_ip_customization_applies_at_the_recovery_site_only(plan):
    assert build_workflow(plan, "planned").nodes["register:db1"]["step"].args["ip"] == \
        plan.vm_by_name["db1"].ip
    assert build_workflow(plan, "failback").nodes["register:db1"]["step"].args["ip"] == ()
