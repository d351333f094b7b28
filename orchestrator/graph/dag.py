"""A workflow DAG as plain index arrays, and the networkx graph it stands for.

The dry run schedules from the arrays (cheap to build); the executor and the reports get the
:class:`networkx.DiGraph` from :meth:`Dag.graph`, built on demand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.plan.errors import GraphError
from orchestrator.steps.base import Step

if TYPE_CHECKING:  # networkx loads only when a graph is wanted
    import networkx as nx


@dataclass
class Dag:
    """One workflow's steps in dependency order: ``succ[i]`` holds the positions of step
    ``i``'s successors (each greater than ``i``). ``nodes`` are the builder's, in its order, and
    ``edges`` its distinct edges in the order first added, flat: ``u0, v0, u1, v1, …`` (node
    positions in ``nodes``; plain integers, which the cyclic GC need not visit), so that
    :meth:`graph` is the graph networkx builds from the builder's nodes and edges."""

    workflow: str
    steps: list[Step]
    succ: list[list[int]]
    nodes: dict[str, Step]
    edges: list[int]

    @property
    def order(self) -> list[str]:
        return [step.id for step in self.steps]

    def graph(self) -> nx.DiGraph:
        """The networkx DAG: node attribute ``step``, graph attributes ``order`` (a
        topological order) and ``workflow``."""
        import networkx as nx

        graph = nx.DiGraph(order=self.order, workflow=self.workflow)
        graph.add_nodes_from((node, {"step": step}) for node, step in self.nodes.items())
        ends = [*self.nodes]
        ends = [ends[i] for i in self.edges]
        graph.add_edges_from(zip(ends[::2], ends[1::2], strict=True))
        return graph


def make_dag(workflow: str, nodes: dict[str, Step], edges: list[tuple[str, str]]) -> Dag:
    """Check the edges (no dangling end, no cycle) and sort the steps in dependency order;
    GraphError names the first dangling edge or a cycle."""
    flat = edge_positions(nodes, edges)
    succ = successors(len(nodes), flat)
    order = topological_order(succ)
    if len(order) < len(succ):
        raise GraphError(f"dependency cycle: {cycle_names(nodes, edges)}")
    position = [0] * len(order)
    for pos, i in enumerate(order):
        position[i] = pos
    steps = list(nodes.values())
    return Dag(workflow, [steps[i] for i in order],
               [[position[j] for j in succ[i]] for i in order], nodes, flat)


def edge_positions(nodes: dict[str, Step], edges: list[tuple[str, str]]) -> list[int]:
    """Each distinct edge once, in the order first added, as node positions: ``u0, v0, u1, v1,
    …``; GraphError names the first edge with an end that is not a node."""
    index = {node: i for i, node in enumerate(nodes)}
    try:
        return [index[end] for edge in dict.fromkeys(edges) for end in edge]
    except KeyError:
        u, v = next((u, v) for u, v in edges if u not in index or v not in index)
        raise GraphError(f"dangling edge {u} → {v}") from None


def successors(n: int, flat: list[int]) -> list[list[int]]:
    """Per node its successors, in edge order (networkx's adjacency order)."""
    succ: list[list[int]] = [[] for _ in range(n)]
    for u, v in zip(flat[::2], flat[1::2], strict=True):
        succ[u].append(v)
    return succ


def topological_order(succ: list[list[int]]) -> list[int]:
    """Kahn's algorithm, first in first out: the order of :func:`networkx.topological_sort`
    (generation by generation, insertion order within one). Shorter than ``succ`` if there is
    a cycle."""
    indegree = [0] * len(succ)
    for targets in succ:
        for j in targets:
            indegree[j] += 1
    order = [i for i, d in enumerate(indegree) if not d]
    for i in order:  # grows while it is walked
        for j in succ[i]:
            indegree[j] -= 1
            if not indegree[j]:
                order.append(j)
    return order


def cycle_names(nodes: dict[str, Step], edges: list[tuple[str, str]]) -> str:
    """``a → b → … → a``: the cycle :func:`networkx.find_cycle` finds first."""
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
    found = nx.find_cycle(graph)
    return " → ".join([u for u, _ in found] + [found[0][0]])
