"""The six workflows as sequences of SRM phases, and :func:`build_workflow`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.gcpause import no_gc
from orchestrator.graph.build import Builder
from orchestrator.graph.dag import Dag
from orchestrator.graph.errors import GraphError
from orchestrator.plan.errors import Issue
from orchestrator.plan.live import LiveInventory
from orchestrator.plan.model import PHASES, WORKFLOWS, Plan
from orchestrator.plan.schema import Reader
from orchestrator.plan.validate import drift
from orchestrator.steps import storage, vsphere
from orchestrator.steps.base import STEP_TYPES

if TYPE_CHECKING:  # networkx loads only when a graph is wanted
    import networkx as nx


def recover(b: Builder, src: str, tgt: str) -> None:
    """planned / disaster (and failback's first half), in SRM's order: pre-sync, shut down
    (reverse priority), prepare for migration (unregister the VMs, then prepareFailover makes
    the sources read-only), final sync (nothing can change after it), failover, recover."""
    b.groups(storage.SyncStorage, "presync", src, "source")
    b.phase("presync")
    b.reverse_priority(vsphere.ShutdownVm, "shutdown", src, "source", "shutdown")
    b.per_vm(vsphere.PrepareVmMigration, "prepare-migration", src, b.plan.vms, "source")
    b.link_vms("shutdown", "prepare-migration")
    b.phase("prepare-migration-vms")
    b.groups(storage.Unmount, "unmount-source", src, "source")  # SRM unmounts the leaving site
    b.phase("source-unmounted")
    b.groups(storage.PrepareFailover, "prepare-failover", src, "source")
    b.phase("prepare-migration")
    b.groups(storage.SyncStorage, "sync", src, "source")
    b.link_groups("prepare-failover", "sync")
    b.phase("sync")
    b.groups(storage.Failover, "failover", tgt, "target")
    b.link_groups("sync", "failover")
    writable(b, tgt, "failover", src)


def writable(b: Builder, tgt: str, made_by: str, src: str, test: bool = False) -> None:
    """storage-writable → rescan and mount → register/reconfigure → power on by priority."""
    b.phase("storage-writable")
    for pg in b.plan.protection_groups:
        b.step(storage.RescanMount(f"mount:{pg.name}", site=tgt, side="target", spec=pg,
                                   timeout=b.opts.sra_timeout,
                                   source_step=f"{made_by}:{pg.name}"))
    b.link_groups(made_by, "mount")
    b.phase("storage-mounted")
    b.register(tgt, src, test)
    b.power_on(tgt)


def test(b: Builder) -> None:
    if b.opts.test_sync:
        b.groups(storage.SyncStorage, "sync", "protected", "source")
    b.phase("sync")
    b.groups(storage.TestFailoverStart, "test-failover-start", "recovery", "target")
    writable(b, "recovery", "test-failover-start", "protected", test=True)


def cleanup(b: Builder) -> None:
    b.reverse_priority(vsphere.PowerOffVm, "power-off", "recovery", None, "power-off")
    b.per_vm(vsphere.UnregisterVm, "unregister", "recovery", b.plan.vms)
    b.link_vms("power-off", "unregister")
    b.phase("unregister")
    b.groups(storage.Unmount, "unmount", "recovery")
    b.phase("storage-unmounted")
    b.groups(storage.TestFailoverStop, "test-failover-stop", "recovery")
    b.link_groups("unmount", "test-failover-stop")
    b.phase("storage-restored")


def reprotect(b: Builder, old: str, new: str) -> None:
    """Reverse replication so ``new`` (where the VMs now run) protects to ``old``."""
    for pg in b.plan.protection_groups:
        prep = b.add(storage.PrepareReverseReplication(
            f"prepare-reverse:{pg.name}", site=old, spec=pg, timeout=b.opts.sra_timeout))
        rev = b.add(storage.ReverseReplication(f"reverse:{pg.name}", site=new, spec=pg,
                                               timeout=b.opts.sra_timeout))
        b.chain([prep, rev])
    b.phase("storage-reversed")
    b.per_vm(vsphere.ProtectVm, "protect", old, b.plan.vms, inventory=b.plan.inventory)
    b.phase("protection-records")
    b.groups(storage.SyncStorage, "reprotect-sync", new)
    b.link_groups("reverse", "reprotect-sync")
    b.phase("reprotect-sync")


SEGMENTS = {
    "test": test,
    "cleanup": cleanup,
    "planned": lambda b: recover(b, "protected", "recovery"),
    "disaster": lambda b: recover(b, "protected", "recovery"),
    "reprotect": lambda b: reprotect(b, "protected", "recovery"),
    "failback": lambda b: (recover(b, "recovery", "protected"),
                           reprotect(b, "recovery", "protected")),
}


def build_workflow(plan: Plan, workflow: str, live: LiveInventory | None = None) -> nx.DiGraph:
    """The checked networkx DAG of ``workflow`` for ``plan``; GraphError names what is wrong."""
    dag = build_dag(plan, workflow, live)
    with no_gc():  # tens of thousands of nodes and edges, and no cycles
        return dag.graph()


def build_dag(plan: Plan, workflow: str, live: LiveInventory | None = None) -> Dag:
    """The checked DAG of ``workflow`` for ``plan`` as index arrays (what a dry run needs)."""
    b = Builder(plan, workflow)
    _check_refs(plan)
    if live is not None:
        _check_capacity(plan, live)
    with no_gc():  # tens of thousands of steps, and no cycles
        b.phase("start")
        SEGMENTS[workflow](b)
        b.phase("end")
        _attach_custom(b)
        return b.dag()


def workflow_issues(plan: Plan) -> list[Issue]:
    """Build every workflow once and report what only a built graph shows (e.g. a custom
    step whose dependencies cross phases into a cycle)."""
    issues = []
    with no_gc():  # each workflow's steps are freed before the next is built
        for workflow in WORKFLOWS:
            try:
                build_dag(plan, workflow)
            except GraphError as exc:
                issues.append(Issue(f"workflow {workflow}", str(exc)))
    return issues


def _attach_custom(b: Builder) -> None:
    phases = PHASES[b.workflow]
    mine = [s for s in b.plan.steps if b.workflow in s.workflows]
    for spec in mine:
        node = b.add(STEP_TYPES[spec.type](f"custom:{spec.name}", spec=spec,
                                           timeout=spec.timeout or b.opts.step_timeout))
        if spec.after not in phases:
            raise GraphError(f"steps[{spec.index}].after: unknown phase '{spec.after}'")
        b.edges.append((f"phase:{spec.after}", node))
        if spec.after != "end":
            b.edges.append((node, f"phase:{phases[phases.index(spec.after) + 1]}"))
    for spec in mine:
        for dep in spec.depends_on:
            if f"custom:{dep}" not in b.nodes:
                raise GraphError(f"steps[{spec.index}].depends_on: step '{dep}' does not run "
                                 f"in workflow '{b.workflow}'")
            b.edges.append((f"custom:{dep}", f"custom:{spec.name}"))


def _check_refs(plan: Plan) -> None:
    for vm in plan.vms:
        if vm.protection_group not in plan.group_by_name:
            raise GraphError(f"vms[{vm.index}].protection_group: unknown protection group "
                             f"'{vm.protection_group}'")
        for dep in vm.depends_on:
            if dep not in plan.vm_by_name:
                raise GraphError(f"vms[{vm.index}].depends_on: unknown VM '{dep}'")


def _check_capacity(plan: Plan, live: LiveInventory) -> None:
    reader = Reader()
    drift(plan, reader, live)
    short = [i for i in reader.issues if "capacity short" in i.message]
    if short:
        raise GraphError(str(short[0]))
