"""The index-array DAG: networkx's topological order and cycle, and the same networkx graph
as a bulk build from the builder's nodes and edges (hypothesis for random graphs)."""

from __future__ import annotations

import re
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.graph import build_workflow
from orchestrator.graph.dag import make_dag
from orchestrator.graph.errors import GraphError
from orchestrator.graph.workflows import build_dag
from orchestrator.plan.load import load_plan
from orchestrator.plan.model import WORKFLOWS
from orchestrator.steps.base import Phase

SAMPLE = Path(__file__).resolve().parents[2] / "plans" / "sample-app.yaml"


def nx_graph(nodes: dict, edges: list) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from((node, {"step": step}) for node, step in nodes.items())
    graph.add_edges_from(edges)
    return graph


@st.composite
def graphs(draw, acyclic: bool = True):
    n = draw(st.integers(1, 25))
    names = [f"n{i}" for i in draw(st.permutations(range(n)))]
    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))
    edges = [(names[u], names[v]) for u, v in draw(st.lists(pairs, max_size=60))
             if not acyclic or u < v]  # repeated edges included
    return {name: Phase(name) for name in names}, edges


def same_graph(graph: nx.DiGraph, reference: nx.DiGraph) -> bool:
    """Same nodes, edges and neighbours, in the same orders, and the same attributes."""
    return (list(graph.nodes(data=True)) == list(reference.nodes(data=True))
            and list(graph.edges) == list(reference.edges)
            and all(list(graph.predecessors(n)) == list(reference.predecessors(n))
                    for n in graph))


@settings(max_examples=200, deadline=None)
@given(graphs())
def test_order_is_networkx_topological_sort(graph):
    nodes, edges = graph
    dag, reference = make_dag("test", nodes, edges), nx_graph(nodes, edges)
    assert dag.order == list(nx.topological_sort(reference))
    assert same_graph(dag.graph(), reference)
    assert dag.graph().graph == {"order": dag.order, "workflow": "test"}
    position = {node: i for i, node in enumerate(dag.order)}
    assert sorted((dag.order[i], dag.order[j]) for i, targets in enumerate(dag.successors())
                  for j in targets) == sorted(set(edges))
    assert all(position[u] < position[v] for u, v in edges)


@settings(max_examples=200, deadline=None)
@given(graphs(acyclic=False))
def test_a_cycle_is_the_one_networkx_finds(graph):
    nodes, edges = graph
    reference = nx_graph(nodes, edges)
    if nx.is_directed_acyclic_graph(reference):
        assert make_dag("test", nodes, edges).order == list(nx.topological_sort(reference))
        return
    cycle = nx.find_cycle(reference)
    names = " → ".join([u for u, _ in cycle] + [cycle[0][0]])
    with pytest.raises(GraphError, match=f"^dependency cycle: {re.escape(names)}$"):
        make_dag("test", nodes, edges)


def test_first_dangling_edge_is_named():
    nodes = {"a": Phase("a"), "b": Phase("b")}
    with pytest.raises(GraphError, match=r"^dangling edge a → x$"):
        make_dag("test", nodes, [("a", "b"), ("a", "x"), ("y", "b")])


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_a_workflow_graph_holds_the_dag_steps_in_topological_order(workflow):
    plan = load_plan(SAMPLE, environ={})
    dag = build_dag(plan, workflow)
    graph = dag.graph()
    assert graph.graph == {"order": list(nx.topological_sort(graph)), "workflow": workflow}
    assert [graph.nodes[n]["step"] for n in graph.graph["order"]] == dag.steps
    assert list(build_workflow(plan, workflow).edges) == list(graph.edges)
