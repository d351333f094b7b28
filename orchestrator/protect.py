"""Protection: capture each VM's protection record from the protected site.

What SRM keeps in placeholder VMs (CPU, memory, NICs and their networks, disks and RDM WWNs,
files on the datastore), drkit keeps in the plan's state, so the recovery site can rebuild the
VMs from replicated bytes. It also records which SRA devices and groups each protection
group means, so a disaster recovery can act with the protected site gone. Run it when VMs or
storage are added to a plan or reconfigured; reprotect captures the records again at the new
protected site.
"""

from __future__ import annotations

from orchestrator.plan.model import Plan
from orchestrator.wiring import live_ports


def protect_vms(plan: Plan) -> list[str]:
    storage, vsphere = live_ports(plan)
    for vm in plan.vms:  # the vCenters first: the records are what a recovery rebuilds VMs from
        vsphere["recovery"].protect_vm(vm.name, plan.inventory)
    for pg in plan.protection_groups:  # remember which SRA ids each group means (disaster)
        storage["protected"].selections.refresh(pg)
    return [vm.name for vm in plan.vms]
