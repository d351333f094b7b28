"""Cross-reference checks on a parsed plan, and drift checks against a :class:`LiveInventory`.

Everything is reported as :class:`Issue` (errors and warnings) so the caller sees all at once.
"""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.plan.live import LiveInventory
from orchestrator.plan.model import PHASES, Plan, Vm
from orchestrator.plan.schema import Reader, did_you_mean


def check(plan: Plan, reader: Reader, live: LiveInventory | None = None) -> None:
    """Run every semantic check on ``plan``; findings go to ``reader``."""
    _unique(reader, "vms", [(vm.index, vm.name) for vm in plan.vms], "VM")
    _unique(reader, "protection_groups", list(enumerate(g.name for g in plan.protection_groups)),
            "protection group")
    _unique(reader, "steps", [(s.index, s.name) for s in plan.steps], "step")
    _vm_refs(plan, reader)
    refs_ok = not any(i.severity == "error" and ".depends_on" in i.path for i in reader.issues)
    if refs_ok and _vm_cycles(plan, reader):
        _priority_conflicts(plan, reader)
    _mappings(plan, reader)
    _custom_steps(plan, reader)
    if live is not None:
        drift(plan, reader, live)


def effective_priorities(plan: Plan) -> dict[str, int]:
    """The power-on group each VM really starts in: its own priority, or later when it depends
    on a VM of a later group (drkit honours the dependency). Needs an acyclic plan."""
    vms = plan.vm_by_name
    eff: dict[str, int] = {}
    for vm in plan.vms:
        stack = [vm.name]
        while stack:  # iterative depth-first: dependencies before dependents
            name = stack[-1]
            todo = [d for d in vms[name].depends_on if d in vms and d not in eff]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            deps = [eff[d] for d in vms[name].depends_on if d in vms]
            eff[name] = max([vms[name].priority, *deps])
    return eff


def _unique(reader: Reader, section: str, names: Iterable[tuple[int, str]], what: str) -> None:
    seen: dict[str, int] = {}
    for index, name in names:
        if name in seen:
            reader.error(f"{section}[{index}].name",
                         f"duplicate {what} '{name}' (also {section}[{seen[name]}])")
        else:
            seen[name] = index


def _vm_refs(plan: Plan, reader: Reader) -> None:
    groups = plan.group_by_name
    for vm in plan.vms:
        path = f"vms[{vm.index}]"
        if vm.protection_group not in groups and vm.protection_group != "?":
            reader.error(f"{path}.protection_group", f"unknown protection group "
                         f"'{vm.protection_group}'{did_you_mean(vm.protection_group, groups)}")
        for dep in vm.depends_on:
            if dep == vm.name:
                reader.error(f"{path}.depends_on", f"VM '{dep}' depends on itself")
            elif dep not in plan.vm_by_name:
                reader.error(f"{path}.depends_on",
                             f"unknown VM '{dep}'{did_you_mean(dep, plan.vm_by_name)}")


def _vm_cycles(plan: Plan, reader: Reader) -> bool:
    """Report a dependency cycle; True when there is none."""
    cycle = _find_cycle([(vm.name, dep) for vm in plan.vms for dep in vm.depends_on])
    if cycle:  # one cycle is enough to act on; more may follow once it is fixed
        first = plan.vm_by_name[cycle[0]]
        names = " → ".join([*cycle, cycle[0]])
        reader.error(f"vms[{first.index}].depends_on", f"dependency cycle: {names}")
    return not cycle


def _find_cycle(edges: list[tuple[str, str]]) -> list[str]:
    """One cycle as its node names (``[]`` if none), starting from its first-declared node:
    the one :func:`networkx.find_cycle` finds first."""
    if _acyclic(edges):
        return []
    import networkx as nx  # only to name the cycle

    graph = nx.DiGraph(edges)
    nodes = [u for u, _ in nx.find_cycle(graph)]
    order = {n: i for i, n in enumerate(graph)}
    start = min(range(len(nodes)), key=lambda i: order[nodes[i]])
    return nodes[start:] + nodes[:start]


def _acyclic(edges: list[tuple[str, str]]) -> bool:
    """Kahn's algorithm: True if every node can be taken once its predecessors are."""
    succ: dict[str, list[str]] = {}
    indegree: dict[str, int] = {}
    for u, v in edges:
        succ.setdefault(u, []).append(v)
        indegree[u] = indegree.get(u, 0)
        indegree[v] = indegree.get(v, 0) + 1
    free = [n for n, d in indegree.items() if not d]
    for node in free:  # grows while it is walked
        for nxt in succ.get(node, ()):
            indegree[nxt] -= 1
            if not indegree[nxt]:
                free.append(nxt)
    return len(free) == len(indegree)


def _later_group(vm: Vm, dep: Vm, eff: dict[str, int]) -> str:
    """Why ``vm`` starts later than its priority says: ``dep`` starts in a later group."""
    why = "" if eff[dep.name] == dep.priority else f" (its own priority is {dep.priority})"
    return (f"'{vm.name}' (priority {vm.priority}) depends on '{dep.name}', which powers on in "
            f"priority group {eff[dep.name]}{why}; drkit honours the dependency, so "
            f"'{vm.name}' powers on in priority group {eff[vm.name]}, after '{dep.name}'")


def _priority_conflicts(plan: Plan, reader: Reader) -> None:
    eff = effective_priorities(plan)
    for vm in plan.vms:
        for dep_name in vm.depends_on:
            dep = plan.vm_by_name[dep_name]
            if eff[dep_name] > vm.priority:
                reader.warn(f"vms[{vm.index}].depends_on", _later_group(vm, dep, eff))
            if dep.startup == "leave-off":
                reader.warn(f"vms[{vm.index}].depends_on",
                            f"'{vm.name}' depends on '{dep.name}', which is left powered off")


def _mappings(plan: Plan, reader: Reader) -> None:
    nets = plan.inventory.networks
    for source, target in nets.items():
        if source not in plan.inventory.test_networks:
            reader.warn("inventory.test_networks", f"no test network for '{source}': test "
                        f"recoveries connect its VMs to '{target}', the recovery network")
    for vm in plan.vms:
        for i, ip in enumerate(vm.ip):
            if ip.network not in nets:
                reader.error(f"vms[{vm.index}].ip_customization[{i}].network",
                             f"no recovery mapping for network '{ip.network}' in "
                             f"inventory.networks")


def _custom_steps(plan: Plan, reader: Reader) -> None:
    names = {s.name for s in plan.steps}
    for step in plan.steps:
        path = f"steps[{step.index}]"
        for wf in step.workflows:
            if wf in PHASES and step.after not in PHASES[wf]:
                reader.error(f"{path}.after", f"unknown phase '{step.after}' for workflow "
                             f"'{wf}'{did_you_mean(step.after, PHASES[wf])}")
                break
        for dep in step.depends_on:
            if dep not in names:
                reader.error(f"{path}.depends_on", f"unknown step '{dep}'"
                                                   f"{did_you_mean(dep, names)}")
    cycle = _find_cycle([(s.name, d) for s in plan.steps for d in s.depends_on if d in names])
    if cycle:
        first = next(s for s in plan.steps if s.name == cycle[0])
        reader.error(f"steps[{first.index}].depends_on",
                     f"dependency cycle: {' → '.join([*cycle, cycle[0]])}")


def drift(plan: Plan, reader: Reader, live: LiveInventory) -> None:
    """Compare the plan with the live sites: missing objects, incomplete mappings, capacity."""
    live_vms = live.vms("protected")
    for vm in plan.vms:
        if vm.name not in live_vms:
            reader.error(f"vms[{vm.index}].name", f"VM '{vm.name}' not found at the protected "
                                                  f"site{did_you_mean(vm.name, live_vms)}")
            continue
        _vm_drift(plan, reader, vm, live_vms[vm.name])
    _group_drift(plan, reader, live)
    _mapping_drift(plan, reader, live)
    _capacity(plan, reader, live)


def _vm_drift(plan: Plan, reader: Reader, vm: Vm, live_vm) -> None:
    inv = plan.inventory
    for net in live_vm.networks:
        if net not in inv.networks:
            reader.error(f"vms[{vm.index}]", f"VM '{vm.name}' uses network '{net}', which has "
                                             f"no mapping in inventory.networks")
    if live_vm.cluster and live_vm.cluster not in inv.clusters:
        reader.error(f"vms[{vm.index}]", f"VM '{vm.name}' is in cluster '{live_vm.cluster}', "
                                         f"which has no mapping in inventory.clusters")
    replicated = _replicated_datastores(plan)
    for ds in live_vm.datastores if replicated is not None else ():
        if ds not in replicated:
            reader.error(f"vms[{vm.index}]", f"VM '{vm.name}' is on datastore '{ds}', which no "
                                             f"protection group replicates")


def _replicated_datastores(plan: Plan) -> set[str] | None:
    """The datastores the protection groups replicate; None when a group is given by device
    or consistency group (which datastores those hold is not known here)."""
    if any(g.kind != "datastores" for g in plan.protection_groups):
        return None
    return {m for g in plan.protection_groups for m in g.members}


def _group_drift(plan: Plan, reader: Reader, live: LiveInventory) -> None:
    known = {"datastores": live.datastores("protected"), "devices": live.devices("protected"),
             "consistency_groups": live.consistency_groups("protected")}
    for i, group in enumerate(plan.protection_groups):
        present = known[group.kind]
        for member in group.members if present is not None else ():
            if member not in present:
                reader.error(f"protection_groups[{i}].{group.kind}",
                             f"'{member}' not found at the protected site")


def _mapping_drift(plan: Plan, reader: Reader, live: LiveInventory) -> None:
    inv = plan.inventory
    checks = (("networks", inv.networks, live.networks),
              ("test_networks", inv.test_networks, live.networks),
              ("clusters", inv.clusters, live.clusters),
              ("placeholder_datastores", inv.placeholder_datastores, live.datastores))
    for section, mapping, known in checks:
        present = known("recovery")
        for source, target in mapping.items():
            if target not in present:
                reader.error(f"inventory.{section}.{source}",
                             f"'{target}' not found at the recovery site")


def _capacity(plan: Plan, reader: Reader, live: LiveInventory) -> None:
    """Recovery capacity against the VMs to power on: live sizes first, else the plan's
    ``cpus``/``memory_mb``; a size known to neither counts as zero."""
    cap = live.capacity("recovery")
    if cap is None:
        return
    live_vms = live.vms("protected")
    on = [vm for vm in plan.vms if vm.startup == "power-on"]
    cpus = mem = 0
    for vm in on:
        seen = live_vms.get(vm.name)
        cpus += (seen and seen.cpus) or vm.cpus or 0
        mem += (seen and seen.memory_mb) or vm.memory_mb or 0
    if cpus > cap.cpus or mem > cap.memory_mb:
        reader.error("vms", f"recovery capacity short: powering on {len(on)} VMs needs {cpus} "
                            f"vCPUs and {mem} MiB, the recovery site has {cap.cpus} vCPUs and "
                            f"{cap.memory_mb} MiB")
