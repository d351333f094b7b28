"""A workflow DAG as plain index arrays, and the networkx graph it stands for.

The dry run schedules from the arrays (cheap to build); the executor and the reports get the
:class:`networkx.DiGraph` from :meth:`Dag.graph`, built on demand.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.graph.errors import GraphError
from orchestrator.steps.base import Step

if TYPE_CHECKING:  # networkx loads only when a graph is wanted
    import networkx as nx


@dataclass
class Dag:
    """One workflow's DAG as the builder made it: ``nodes`` (steps by id) in the order added,
    ``edges`` as added (repeats included), flat: ``u0, v0, u1, v1, …`` as node positions, and
    ``sequence``, the node positions in dependency order (networkx's topological sort). Plain
    integers: the cyclic GC need not visit them."""

    workflow: str
    nodes: dict[str, Step]
    edges: list[int]
    sequence: list[int]

    @property
    def steps(self) -> list[Step]:
        """The steps in dependency order."""
        steps = list(self.nodes.values())
        return [steps[i] for i in self.sequence]

    @property
    def order(self) -> list[str]:
        ids = list(self.nodes)
        return [ids[i] for i in self.sequence]

    def successors(self) -> list[list[int]]:
        """Per step (by position in :attr:`steps`) its successors' positions, each greater."""
        position = [0] * len(self.sequence)
        for pos, i in enumerate(self.sequence):
            position[i] = pos
        ends = [position[i] for i in self.edges]
        return successors(len(position), ends)

    def graph(self) -> nx.DiGraph:
        """The networkx DAG: node attribute ``step``, graph attributes ``order`` (a
        topological order) and ``workflow``."""
        import networkx as nx

        graph = nx.DiGraph(order=self.order, workflow=self.workflow)
        graph.add_nodes_from((node, {"step": step}) for node, step in self.nodes.items())
        ids = list(self.nodes)
        ends = [ids[i] for i in self.edges]
        graph.add_edges_from(zip(ends[::2], ends[1::2], strict=True))
        return graph


def make_dag(workflow: str, nodes: dict[str, Step], edges: list[tuple[str, str]]) -> Dag:
    """Check the edges (no dangling end, no cycle) and sort the steps in dependency order;
    GraphError names the first dangling edge or a cycle."""
    flat = edge_positions(nodes, edges)
    sequence = topological_order(successors(len(nodes), flat))
    if len(sequence) < len(nodes):
        raise GraphError(f"dependency cycle: {cycle_names(nodes, edges)}")
    return Dag(workflow, nodes, flat, sequence)


def edge_positions(nodes: dict[str, Step], edges: list[tuple[str, str]]) -> list[int]:
    """The edges as node positions, flat: ``u0, v0, u1, v1, …``; GraphError names the first
    edge with an end that is not a node."""
    index = {node: i for i, node in enumerate(nodes)}
    try:
        return list(map(index.__getitem__, itertools.chain.from_iterable(edges)))
    except KeyError:
        u, v = next((u, v) for u, v in edges if u not in index or v not in index)
        raise GraphError(f"dangling edge {u} → {v}") from None


def successors(n: int, flat: list[int]) -> list[list[int]]:
    """Per node its successors, each once, in the order first added (networkx's adjacency
    order)."""
    succ: list[list[int]] = [[] for _ in range(n)]
    for u, v in zip(flat[::2], flat[1::2], strict=True):
        succ[u].append(v)
    for i, targets in enumerate(succ):
        if len(targets) > 1 and len(set(targets)) < len(targets):  # an edge added twice
            succ[i] = list(dict.fromkeys(targets))
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
