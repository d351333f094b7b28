"""``drkit protect PLAN``: capture each VM's protection record from the protected site.

What SRM keeps in placeholder VMs (CPU, memory, NICs and their networks, disks and RDM WWNs,
files on the datastore), drkit keeps in the plan's state, so the recovery site can rebuild the
VMs from replicated bytes. It also records which SRA devices and groups each protection
group means, so a disaster recovery can act with the protected site gone. Run it when VMs or
storage are added to a plan or reconfigured; reprotect captures the records again at the new
protected site.
"""

from __future__ import annotations

import click
from rich.console import Console

from orchestrator.plan.model import Plan


def protect_vms(plan: Plan) -> list[str]:
    from orchestrator.executor.cli import live_ports

    storage, vsphere = live_ports(plan)
    for pg in plan.protection_groups:  # remember which SRA ids each group means (disaster)
        storage["protected"].selections.get(pg)
    for vm in plan.vms:
        vsphere["recovery"].protect_vm(vm.name, plan.inventory)
    return [vm.name for vm in plan.vms]


@click.command()
@click.argument("plan_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--var", "variables", multiple=True, metavar="K=V", help="Plan variable.")
def protect(plan_path: str, variables: tuple[str, ...]) -> None:
    """Capture protection records of a plan's VMs from its protected site."""
    from orchestrator.plan.load import load_plan

    plan = load_plan(plan_path, dict(v.split("=", 1) for v in variables))
    names = protect_vms(plan)
    Console().print(f"protected {len(names)} VM(s) of plan '{plan.name}': {', '.join(names)}")
