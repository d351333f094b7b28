"""Build one workflow's DAG from a plan, with SRM's step order as the backbone.

Phase barriers (``phase:<name>``, see :data:`orchestrator.plan.model.PHASES`) run in order;
each step sits between the barrier before it and the barrier of its phase. Power-on runs by
priority group 1…5 (each VM in its *effective* group: later if it depends on a VM of a later
group), VMs inside a group wait for the VMs they depend on, and callouts are nodes of their own.
Node attribute ``step`` holds the :class:`~orchestrator.steps.base.Step`; :meth:`Builder.dag`
returns the workflow as a :class:`~orchestrator.graph.dag.Dag`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from orchestrator.graph.dag import Dag, make_dag
from orchestrator.graph.errors import GraphError
from orchestrator.plan.model import PRIORITIES, WORKFLOWS, Callout, Plan, Vm
from orchestrator.plan.validate import effective_priorities
from orchestrator.steps import custom, vsphere
from orchestrator.steps.base import Phase, Step


def callout_class(call: Callout) -> type[Step]:
    return custom.CalloutPrompt if call.kind == "prompt" else custom.Callout


class Builder:
    """Accumulates one workflow's graph; ``phase()`` closes the steps added since the last."""

    def __init__(self, plan: Plan, workflow: str) -> None:
        if workflow not in WORKFLOWS:
            raise GraphError(f"unknown workflow '{workflow}' (one of {', '.join(WORKFLOWS)})")
        self.plan, self.workflow, self.opts = plan, workflow, plan.options
        self.nodes: dict[str, Step] = {}
        self.edges: list[tuple[str, str]] = []
        self.last: str | None = None
        self.open: list[str] = []
        self.eff = effective_priorities(plan)

    def add(self, step: Step) -> str:
        """Add ``step`` as a node; returns its id (which must be new)."""
        if step.id in self.nodes:
            raise GraphError(f"duplicate step id '{step.id}'")
        self.nodes[step.id] = step
        return step.id

    def dag(self) -> Dag:
        """The steps in dependency order; GraphError on a dangling edge or a cycle."""
        return make_dag(self.workflow, self.nodes, self.edges)

    def place(self, head: str, tail: str | None = None) -> None:
        """Put the chain ``head``…``tail`` into the current phase."""
        if self.last is not None:
            self.edges.append((self.last, head))
        self.open.append(tail or head)

    def step(self, step: Step) -> str:
        """Add ``step`` and put it into the current phase."""
        node = self.add(step)
        self.place(node)
        return node

    def phase(self, name: str) -> str:
        node = self.add(Phase(f"phase:{name}"))
        self.edges.extend((tail, node) for tail in self.open or [self.last] if tail)
        self.last, self.open = node, []
        return node

    def chain(self, nodes: list[str]) -> None:
        self.edges.extend(itertools.pairwise(nodes))
        self.place(nodes[0], nodes[-1])

    # -- segments ------------------------------------------------------------------------
    def groups(self, cls: type[Step], prefix: str, site: str, side: str | None = None,
               **kw) -> None:
        for pg in self.plan.protection_groups:
            self.step(cls(f"{prefix}:{pg.name}", site=site, side=side, spec=pg,
                          timeout=self.opts.sra_timeout, **kw))

    def vms_by_priority(self, reverse: bool = False) -> Iterable[tuple[int, list[Vm]]]:
        buckets: dict[int, list[Vm]] = {p: [] for p in PRIORITIES}
        for vm in self.plan.vms:
            buckets[self.eff[vm.name]].append(vm)
        order = sorted(buckets, reverse=reverse)
        return ((p, buckets[p]) for p in order)

    def per_vm(self, cls: type[Step], prefix: str, site: str, vms: Iterable[Vm],
               side: str | None = None, **kw) -> None:
        for vm in vms:
            self.step(cls(f"{prefix}:{vm.name}", site=site, side=side, vm=vm.name, spec=vm,
                          host=self.host(vm, site), timeout=self.opts.step_timeout, **kw))

    def host(self, vm: Vm, site: str) -> str | None:
        return vm.host if site == "recovery" else None

    def reverse_priority(self, cls: type[Step], prefix: str, site: str, side: str | None,
                         phase: str) -> None:
        for p, vms in self.vms_by_priority(reverse=True):
            self.per_vm(cls, prefix, site, vms, side)
            self.phase(f"{phase}-priority-{p}")
        self.phase(phase)

    def networks(self, source: str, test: bool = False) -> dict[str, str]:
        inv = self.plan.inventory
        nets = dict(inv.networks)
        if test:
            nets.update(inv.test_networks)
        return nets if source == "protected" else {v: k for k, v in nets.items()}

    def register(self, site: str, source: str, test: bool = False) -> None:
        """Register/reconfigure every VM at ``site``. The plan's IP customization is for the
        recovery site: failing back (``source`` = recovery) restores the recorded settings."""
        nets = self.networks(source, test)
        for vm in self.plan.vms:
            reg = self.step(vsphere.RegisterVm(
                f"register:{vm.name}", site=site, vm=vm.name, spec=vm, host=self.host(vm, site),
                timeout=self.opts.step_timeout, inventory=self.plan.inventory, networks=nets,
                ip=vm.ip if source == "protected" else ()))
            self.edges.append((f"mount:{vm.protection_group}", reg))
        self.phase("vms-registered")

    def power_on(self, site: str) -> None:
        """Power on by effective priority group. Dependency edges are added even across groups
        (where the barrier already orders them) so that a failed VM skips its dependents."""
        ends: dict[str, tuple[str, str]] = {}
        for p, vms in self.vms_by_priority():
            for vm in vms:
                if vm.startup == "power-on":
                    ends[vm.name] = self.vm_chain(vm, site)
                    self.edges.append((f"register:{vm.name}", ends[vm.name][0]))
            for vm in vms:
                for dep in vm.depends_on:
                    if dep in ends and vm.name in ends:
                        self.edges.append((ends[dep][1], ends[vm.name][0]))
            self.phase(f"priority-{p}")

    def link_vms(self, before: str, after: str) -> None:
        """Per-VM edge ``before:<vm>`` → ``after:<vm>`` (so a failure skips the VM's later
        steps even across phase barriers)."""
        self.edges.extend((f"{before}:{vm.name}", f"{after}:{vm.name}") for vm in self.plan.vms)

    def link_groups(self, before: str, after: str) -> None:
        self.edges.extend((f"{before}:{pg.name}", f"{after}:{pg.name}")
                          for pg in self.plan.protection_groups)

    def vm_chain(self, vm: Vm, site: str) -> tuple[str, str]:
        host, opts, nodes = self.host(vm, site), self.opts, []
        for i, call in enumerate(vm.pre_power_on):
            nodes.append(self.add(callout_class(call)(
                f"pre-callout:{vm.name}:{i}", site=site, vm=vm.name, spec=call,
                timeout=call.timeout, when="pre-power-on")))
        nodes.append(self.add(vsphere.PowerOnVm(f"power-on:{vm.name}", site=site, vm=vm.name,
                                                spec=vm, host=host, timeout=opts.step_timeout)))
        if vm.wait_for_tools:
            nodes.append(self.add(vsphere.WaitTools(
                f"wait-tools:{vm.name}", site=site, vm=vm.name, spec=vm, host=host,
                timeout=vm.tools_timeout or opts.tools_timeout)))
        for i, call in enumerate(vm.post_power_on):
            nodes.append(self.add(callout_class(call)(
                f"post-callout:{vm.name}:{i}", site=site, vm=vm.name, spec=call,
                timeout=call.timeout, when="post-power-on")))
        self.chain(nodes)
        return nodes[0], nodes[-1]
