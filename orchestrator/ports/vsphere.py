"""The vSphere port: what recovery steps need from one site's vCenter. Nearly all docstring: this
is the contract (see :mod:`orchestrator.ports`). Every method is safe to call again with the same
arguments (a re-run step must not act twice).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from orchestrator.plan.model import Inventory, IpSetting, ProtectionGroup
from orchestrator.ports.storage import DeviceIdentity


class VspherePort(Protocol):
    """What steps need from one site's vCenter. ``vm`` is the VM's name in the plan.
    :class:`orchestrator.vsphere.port.VsphereSitePort` implements it over a vSphere adapter."""

    def vm_state(self, vm: str) -> str | None:
        """``"poweredOn"``, ``"poweredOff"``, ``"suspended"``, or ``None`` if not registered."""
        ...

    def shutdown_vm(self, vm: str, timeout: float) -> None:
        """Guest shutdown; power off if the guest has not stopped within ``timeout``."""
        ...

    def power_off_vm(self, vm: str) -> None: ...

    def unregister_vm(self, vm: str) -> None: ...

    def rescan_and_mount(self, group: ProtectionGroup,
                         devices: Sequence[DeviceIdentity]) -> Sequence[str]:
        """Rescan HBAs, resignature/mount the datastores on ``devices``; returns their names."""
        ...

    def unmount(self, group: ProtectionGroup) -> None:
        """Unmount and detach what :meth:`rescan_and_mount` mounted for ``group``."""
        ...

    def register_vm(self, vm: str, inventory: Inventory, networks: Mapping[str, str]) -> None:
        """Register the recovered VM from its protection record, placed through the plan's
        inventory mappings, its NICs connected through ``networks`` (protected network →
        network at this site; test networks in a test recovery)."""
        ...

    def reconfigure_vm(self, vm: str, networks: Mapping[str, str],
                       ip: Sequence[IpSetting]) -> None:
        """Make sure NICs are connected through ``networks`` and stage IP customization
        (applied at next power-on). Called after every :meth:`register_vm`."""
        ...

    def power_on_vm(self, vm: str) -> None: ...

    def wait_for_tools(self, vm: str, timeout: float) -> None:
        """Return once VMware Tools report running; raise StepTimeout after ``timeout``."""
        ...

    def protect_vm(self, vm: str, inventory: Inventory) -> None:
        """Create the VM's protection record/placeholder at this (the new recovery) site."""
        ...
