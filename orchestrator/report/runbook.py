"""The living runbook's context: everything a person would follow by hand, from the plan, its
workflow DAGs and their dry runs (and, when given, the live inventory). Pure: no I/O.

The context is plain dicts, lists and strings, so the templates hold no logic beyond loops.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from orchestrator.executor.journal import utcnow
from orchestrator.plan.errors import Issue
from orchestrator.plan.live import LiveInventory
from orchestrator.plan.model import WORKFLOWS, Callout, CustomStep, Plan, Vm
from orchestrator.plan.validate import effective_priorities
from orchestrator.report import phases
from orchestrator.report import timeline as tl
from orchestrator.report.redact import mask_vars
from orchestrator.report.steps import ip_text, step_details
from orchestrator.schedule import DryRun, Slot, dry_run
from orchestrator.timing import TimingModel

RULES = {"stop": "stops the run", "block": "skips what depends on it",
         "ignore": "is noted; the run goes on"}
WORKFLOW_TITLES = {"test": "Test recovery", "cleanup": "Clean up after a test",
                   "planned": "Planned migration", "disaster": "Disaster recovery",
                   "reprotect": "Reprotect", "failback": "Failback"}


def callout_dict(call: Callout, when: str) -> dict[str, Any]:
    return {"when": when, "kind": call.kind, "text": call.text, "timeout": call.timeout,
            "continue_on_error": call.continue_on_error}


def vm_dict(plan: Plan, vm: Vm, eff: Mapping[str, int],
            live: LiveInventory | None) -> dict[str, Any]:
    dependents = [v.name for v in plan.vms if vm.name in v.depends_on]
    calls = [callout_dict(c, "pre-power-on") for c in vm.pre_power_on]
    calls += [callout_dict(c, "post-power-on") for c in vm.post_power_on]
    return {"name": vm.name, "group": vm.protection_group, "priority": vm.priority,
            "effective_priority": eff[vm.name], "depends_on": list(vm.depends_on),
            "dependents": dependents, "startup": vm.startup, "wait_for_tools": vm.wait_for_tools,
            "tools_timeout": vm.tools_timeout or plan.options.tools_timeout, "host": vm.host,
            "cpus": vm.cpus, "memory_mb": vm.memory_mb, "ip": [ip_text(i) for i in vm.ip],
            "callouts": calls, "live": _live_vm(vm.name, live)}


def _live_vm(name: str, live: LiveInventory | None) -> dict[str, Any] | None:
    if live is None:
        return None
    found = live.vms("protected").get(name)
    if found is None:
        return {"found": False}
    return {"found": True, "networks": list(found.networks),
            "datastores": list(found.datastores), "cluster": found.cluster}


def site_dicts(plan: Plan) -> list[dict[str, Any]]:
    out = []
    for role, site in sorted(plan.sites.items()):
        conn = site.sra.connection
        out.append({"role": role, "name": site.name, "vcenter": site.vcenter.url,
                    "vcenter_credentials": site.vcenter.credentials.describe(),
                    "insecure": site.vcenter.insecure, "sra_command": " ".join(site.sra.command),
                    "sra_addresses": sorted(conn.addresses.items()),
                    "sra_credentials": conn.credentials.describe(),
                    "array_id": site.sra.array_id, "peer_array_id": site.sra.peer_array_id})
    return out


def inventory_rows(plan: Plan) -> list[dict[str, Any]]:
    inv = plan.inventory
    kinds = ("networks", "test_networks", "clusters", "resource_pools", "folders",
             "placeholder_datastores")
    return [{"kind": k.replace("_", " "), "pairs": sorted(getattr(inv, k).items())}
            for k in kinds]


def custom_dict(step: CustomStep) -> dict[str, Any]:
    return {"name": step.name, "type": step.type, "text": step.text,
            "workflows": list(step.workflows), "after": step.after,
            "depends_on": list(step.depends_on), "timeout": step.timeout,
            "creates": step.creates, "idempotent": step.idempotent,
            "continue_on_error": step.continue_on_error}


MAX_BARS = 120  # a longer workflow's timeline shows one bar per wave instead of per step


def after_phase(step_id: str, result: DryRun,
                shown: Mapping[str, str | None]) -> dict[str, str] | None:
    """The phase (with steps) that ``step_id`` waits for through a phase barrier, if any."""
    barriers = [p.removeprefix("phase:") for p in result.graph.predecessors(step_id)
                if p.startswith("phase:")]
    name = shown.get(barriers[0]) if barriers else None
    return {"name": name, "title": phases.title(name)} if name else None


def step_dict(n: int, slot: Slot, result: DryRun, plan: Plan, eff: Mapping[str, int],
              critical: set[str], shown: Mapping[str, str | None]) -> dict[str, Any]:
    step = slot.step
    after = [p for p in result.graph.predecessors(step.id) if not p.startswith("phase:")]
    rule = str(step.on_failure(result.workflow, plan.options))
    site = plan.sites.get(step.site) if step.site else None
    return {"n": n, "id": step.id, "type": step.type, "category": step.category,
            "description": step.describe(), "site": step.site,
            "site_name": site.name if site else None, "side": step.side, "vm": step.vm,
            "host": step.host, "priority": eff.get(step.vm) if step.vm else None,
            "wave": slot.wave, "start": slot.start, "seconds": slot.end - slot.start,
            "after": after, "after_phase": after_phase(step.id, result, shown),
            "timeout": step.timeout, "on_failure": rule,
            "on_failure_text": RULES[rule], "critical": step.id in critical,
            "details": step_details(step)}


def chart(result: DryRun, critical: set[str]) -> dict[str, Any]:
    """The dry run as a gantt: one bar per step (per wave past :data:`MAX_BARS` steps), the
    critical path in its own colour, on a time axis up to the predicted RTO."""
    axis = tl.axis(result.predicted_rto)
    if len(result.slots) <= MAX_BARS:
        items = [{"id": s.step.id, "offset": s.start, "seconds": s.end - s.start,
                  "status": "critical" if s.step.id in critical else "planned"}
                 for s in result.slots]
    else:
        items = [{"id": f"wave {i} ({len(w)} steps)", "offset": w[0].start,
                  "seconds": max(s.end for s in w) - w[0].start,
                  "status": "critical" if any(s.step.id in critical for s in w) else "planned"}
                 for i, w in enumerate(result.waves)]
    return {**axis, "bars": tl.bars(items, axis["scale"]), "per_wave": len(items) != len(
        result.slots)}


def workflow_dict(plan: Plan, result: DryRun, timing: TimingModel,
                  eff: Mapping[str, int]) -> dict[str, Any]:
    order = result.graph.graph["order"]
    owner = phases.phase_of(result.graph, order)
    shown = phases.shown_phases(order, set(owner.values()))
    critical = set(result.critical_path)
    steps = [step_dict(i + 1, s, result, plan, eff, critical, shown)
             for i, s in enumerate(result.slots)]
    by_phase: dict[str, list[dict[str, Any]]] = {}
    for step in steps:
        by_phase.setdefault(owner[step["id"]], []).append(step)
    sections = [{"name": p, "title": phases.title(p), "steps": by_phase[p]}
                for p in phases.phase_order(order) if p in by_phase]
    types = sorted({s.step.type for s in result.slots})
    return {"name": result.workflow, "title": WORKFLOW_TITLES[result.workflow],
            "predicted_rto": result.predicted_rto, "critical_seconds": result.critical_seconds,
            "critical_path": result.critical_path, "step_count": len(steps),
            "wave_count": len(result.waves), "phases": sections,
            "places": tl.decimals([*(s.start for s in result.slots), result.predicted_rto]),
            "waves": [{"index": i, "start": w[0].start, "count": len(w),
                       "summary": result.wave_summary(w)} for i, w in enumerate(result.waves)],
            "chart": chart(result, critical),
            "timing": [{"type": t, "seconds": timing.seconds(t), "source": timing.source(t)}
                       for t in types]}


def preflight(plan: Plan, workflows: Sequence[str]) -> list[str]:
    """What to confirm before starting any of ``workflows``."""
    out = [f"the plan validates against the live sites: drkit plan validate {plan.source} "
           f"--inventory SNAPSHOT"]
    for role, site in sorted(plan.sites.items()):
        out.append(f"{role} site {site.name}: vCenter {site.vcenter.url} answers with the "
                   f"credentials at {site.vcenter.credentials.describe()}")
        sra = site.sra
        out.append(f"{role} site {site.name}: the SRA ({' '.join(sra.command)}) reaches its "
                   f"array with the credentials at {sra.connection.credentials.describe()}")
    placeholders = sorted(plan.inventory.placeholder_datastores.values())
    if placeholders:
        out.append(f"placeholder datastores exist at the recovery site: {', '.join(placeholders)}")
    if "test" in workflows and plan.inventory.test_networks:
        nets = ", ".join(sorted(set(plan.inventory.test_networks.values())))
        out.append(f"test networks are isolated from production: {nets}")
    cpus = sum(vm.cpus or 0 for vm in plan.vms)
    memory = sum(vm.memory_mb or 0 for vm in plan.vms)
    if cpus or memory:
        out.append(f"the recovery site has room for at least {cpus} vCPUs and {memory} MB of "
                   f"memory (VMs whose size the plan gives)")
    return out


def runbook_context(plan: Plan, workflows: Sequence[str] = WORKFLOWS,
                    timing: TimingModel | None = None, live: LiveInventory | None = None,
                    issues: Iterable[Issue] = (),
                    variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything the runbook templates show, for ``workflows`` of ``plan``."""
    timing = timing or TimingModel()
    eff = effective_priorities(plan)
    runs = [dry_run(plan, w, timing) for w in workflows]  # drift: see ``issues``
    vms = sorted(plan.vms, key=lambda v: (eff[v.name], v.index))
    return {"plan": {"name": plan.name, "description": plan.description,
                     "source": plan.source, "vars": mask_vars(variables or {})},
            "generated_at": utcnow(), "live": live is not None,
            "issues": [{"severity": i.severity, "path": i.path, "message": i.message}
                       for i in issues],
            "sites": site_dicts(plan), "inventory": inventory_rows(plan),
            "groups": [{"name": g.name, "kind": g.kind.replace("_", " "),
                        "members": list(g.members)} for g in plan.protection_groups],
            "vms": [vm_dict(plan, vm, eff, live) for vm in vms],
            "custom_steps": [custom_dict(s) for s in plan.steps],
            "preflight": preflight(plan, workflows),
            "options": sorted(asdict(plan.options).items()),
            "workflows": [workflow_dict(plan, r, timing, eff) for r in runs]}
