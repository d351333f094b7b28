"""Which phase each step belongs to, and what people call the phases."""

from __future__ import annotations

import networkx as nx

AFTER_END = "after-end"
TITLES = {
    "start": "Start",
    "presync": "Pre-synchronize storage",
    "shutdown": "Shut down protected VMs",
    "prepare-migration-vms": "Prepare protected VMs for migration",
    "prepare-migration": "Prepare protected storage for migration",
    "sync": "Synchronize storage",
    "storage-writable": "Make recovery storage writable",
    "storage-mounted": "Rescan storage and mount datastores",
    "source-unmounted": "Unmount datastores at the site being left",
    "vms-registered": "Register and reconfigure VMs (networks, IP customization)",
    "power-off": "Power off test VMs",
    "unregister": "Unregister test VMs",
    "storage-unmounted": "Unmount test datastores",
    "storage-restored": "Discard test storage (testFailoverStop)",
    "storage-reversed": "Reverse replication",
    "protection-records": "Create protection records",
    "reprotect-sync": "Synchronize storage in the new direction",
    "end": "End",
    AFTER_END: "After the workflow",
}
_PREFIX_TITLES = {"priority": "Power on VMs", "shutdown": "Shut down protected VMs",
                  "power-off": "Power off test VMs"}


def title(phase: str) -> str:
    """A phase's human title (``shutdown-priority-3`` → "Shut down protected VMs: priority 3")."""
    if phase in TITLES:
        return TITLES[phase]
    head, sep, number = phase.rpartition("priority-")
    if sep and number.isdigit():
        base = _PREFIX_TITLES.get(head.rstrip("-") or "priority", head.rstrip("-"))
        return f"{base}: priority {number}"
    return phase.replace("-", " ").capitalize()


def phase_of(graph: nx.DiGraph, order: list[str]) -> dict[str, str]:
    """Step id → the name of the phase barrier that closes it (a direct successor barrier if
    any, else the earliest one its successors lead to; :data:`AFTER_END` when none does)."""
    rank = {n: i for i, n in enumerate(order)}
    found: dict[str, str] = {}
    for node in reversed(order):
        if node.startswith("phase:"):
            found[node] = node
            continue
        succ = list(graph.successors(node))
        direct = [s for s in succ if s.startswith("phase:")]
        candidates = direct or [found[s] for s in succ if found[s] != AFTER_END]
        found[node] = min(candidates, key=rank.__getitem__, default=AFTER_END)
    return {n: p.removeprefix("phase:") for n, p in found.items() if not n.startswith("phase:")}


def phase_order(order: list[str]) -> list[str]:
    """Phase names in the order the workflow passes them, then :data:`AFTER_END`."""
    return [n.removeprefix("phase:") for n in order if n.startswith("phase:")] + [AFTER_END]


def shown_phases(order: list[str], filled: set[str]) -> dict[str, str | None]:
    """Each phase → the phase a step placed after it really waits for, as the runbook shows it:
    the phase itself when it has steps, else the nearest earlier phase that has (a barrier
    closes every phase before it); None when no earlier phase has steps (the step is among the
    first). So no step points to an empty phase."""
    out: dict[str, str | None] = {}
    last: str | None = None
    for name in phase_order(order):
        last = name if name in filled else last
        out[name] = last
    return out
