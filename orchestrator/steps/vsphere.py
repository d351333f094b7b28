"""VM steps through a VspherePort. Each checks the VM's state before acting, so re-running one
after an interruption never acts twice."""

from __future__ import annotations

from orchestrator.steps.base import RunContext, Step, step_type


class VmStep(Step):
    category = "vm"
    needs = frozenset({"vsphere"})
    __slots__ = ()
    action = ""

    def describe(self) -> str:
        return f"{self.action} VM {self.vm} at the {self.site} site"

    def state(self, ctx: RunContext) -> str | None:
        return ctx.vsphere_at(self.site).vm_state(self.vm)


@step_type
class ShutdownVm(VmStep):
    type = "shutdown-vm"
    action = "shut down"
    __slots__ = ()

    def already_done(self, ctx: RunContext) -> bool:
        return self.state(ctx) in (None, "poweredOff")

    def run(self, ctx: RunContext) -> None:
        if not self.already_done(ctx):
            ctx.vsphere_at(self.site).shutdown_vm(self.vm, self.timeout or 300.0)


@step_type
class PowerOffVm(VmStep):
    type = "power-off-vm"
    action = "power off"
    __slots__ = ()

    def already_done(self, ctx: RunContext) -> bool:
        return self.state(ctx) in (None, "poweredOff")

    def run(self, ctx: RunContext) -> None:
        if not self.already_done(ctx):
            ctx.vsphere_at(self.site).power_off_vm(self.vm)


@step_type
class UnregisterVm(VmStep):
    """Also SRM's "prepare protected VMs for migration" (type prepare-vm-migration)."""

    type = "unregister-vm"
    action = "unregister"
    __slots__ = ()

    def already_done(self, ctx: RunContext) -> bool:
        return self.state(ctx) is None

    def run(self, ctx: RunContext) -> None:
        if not self.already_done(ctx):
            ctx.vsphere_at(self.site).unregister_vm(self.vm)


@step_type
class PrepareVmMigration(UnregisterVm):
    type = "prepare-vm-migration"
    action = "prepare for migration (unregister)"
    __slots__ = ()


@step_type
class RegisterVm(VmStep):
    """SRM's register/reconfigure: register the VM unless it already is, then re-apply its
    configuration, map its networks (``args['networks']``) and stage re-IP (idempotent)."""

    type = "register-vm"
    action = "register and reconfigure (networks, IP customization)"
    __slots__ = ()

    def run(self, ctx: RunContext) -> None:
        port = ctx.vsphere_at(self.site)
        if port.vm_state(self.vm) is None:
            port.register_vm(self.vm, self.args["inventory"], self.args["networks"])
        port.reconfigure_vm(self.vm, self.args["networks"], self.args["ip"])


@step_type
class PowerOnVm(VmStep):
    type = "power-on-vm"
    action = "power on"
    __slots__ = ()

    def already_done(self, ctx: RunContext) -> bool:
        return self.state(ctx) == "poweredOn"

    def run(self, ctx: RunContext) -> None:
        if not self.already_done(ctx):
            ctx.vsphere_at(self.site).power_on_vm(self.vm)


@step_type
class WaitTools(VmStep):
    type = "wait-tools"
    action = "wait for VMware Tools on"
    __slots__ = ()

    def run(self, ctx: RunContext) -> None:
        ctx.vsphere_at(self.site).wait_for_tools(self.vm, self.timeout or 300.0)


@step_type
class ProtectVm(VmStep):
    """Reprotect: the VM's protection record/placeholder at the site now being protected to."""

    type = "protect-vm"
    action = "create protection record for"
    __slots__ = ()

    def run(self, ctx: RunContext) -> None:
        ctx.vsphere_at(self.site).protect_vm(self.vm, self.args["inventory"])
