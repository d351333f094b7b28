"""Per-step details for the runbook: what exactly a step applies, and how a person checks it.

``describe()`` says what a step does in one line; the details here add the settings behind it
(members of a protection group, network mappings, IP settings, the command of a callout) and a
check a person can make by hand.
"""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.plan.model import IpSetting
from orchestrator.steps.base import Step

CHECKS = {
    "sync-storage": "the replication of the group reports in sync (no pending changes)",
    "prepare-failover": "the source devices are read-only",
    "failover": "the recovery devices are writable and presented to the recovery hosts",
    "test-failover-start": "writable snapshots of the devices are presented at the recovery "
                           "site; replication continues",
    "test-failover-stop": "the test snapshots are gone; replication is as before the test",
    "prepare-reverse-replication": "the old source devices are ready to become targets",
    "reverse-replication": "replication now runs from the new source to the old site",
    "rescan-mount": "the datastores of the group are mounted at the recovery hosts",
    "unmount": "the test datastores are unmounted and detached",
    "shutdown-vm": "the VM is powered off (guest shutdown)",
    "power-off-vm": "the VM is powered off",
    "prepare-vm-migration": "the VM is unregistered at the site being left",
    "unregister-vm": "the VM is no longer in the inventory",
    "register-vm": "the VM is registered, on the mapped networks, with its IP settings",
    "power-on-vm": "the VM is powered on",
    "wait-tools": "VMware Tools reports running (guest heartbeat)",
    "protect-vm": "the VM has a protection record (placeholder) at the site protected to",
}


def ip_text(ip: IpSetting) -> str:
    """``VM Network: 10.0.0.5/24, gateway 10.0.0.1, DNS 10.0.0.2`` (or DHCP)."""
    if ip.ip is None:
        return f"{ip.network}: DHCP"
    parts = [f"{ip.ip}/{ip.prefix}" if ip.prefix is not None else ip.ip]
    if ip.gateway:
        parts.append(f"gateway {ip.gateway}")
    if ip.dns:
        parts.append(f"DNS {', '.join(ip.dns)}")
    return f"{ip.network}: {', '.join(parts)}"


def _storage(step: Step) -> list[str]:
    group = step.spec
    out = [f"{group.kind.replace('_', ' ')}: {', '.join(group.members)}"]
    if step.args.get("source_step"):
        out.append(f"devices presented by {step.args['source_step']}")
    return out


def _register(step: Step) -> list[str]:
    nets = step.args.get("networks") or {}
    out = [f"network {a} → {b}" for a, b in sorted(nets.items())]
    ips = step.args.get("ip") or ()
    out += [f"IP {ip_text(ip)}" for ip in ips] or ["IP: keep the VM's recorded settings"]
    return out


def _callout(step: Step) -> list[str]:
    call = step.spec
    verb = "ask the operator" if call.kind == "prompt" else "run"
    out = [f"{verb}: {call.text}"]
    if call.continue_on_error:
        out.append("a failure does not stop the VM's recovery")
    return out


def _custom(step: Step) -> list[str]:
    spec = step.spec
    out = [f"{'message' if spec.type == 'prompt' else 'command'}: {spec.text}"]
    if spec.creates:
        out.append(f"done when {spec.creates} exists")
    if spec.idempotent:
        out.append("safe to run again")
    return out


def _vm(step: Step) -> list[str]:
    vm = step.spec
    out = [f"host {step.host}"] if step.host else []
    if step.type == "wait-tools":
        out.append(f"wait up to {step.timeout:g} s")
    if step.type == "power-on-vm" and vm.depends_on:
        out.append(f"needs {', '.join(vm.depends_on)} up first")
    return out


DETAILS: dict[str, Callable[[Step], list[str]]] = {
    "storage": _storage, "callout": _callout, "custom": _custom, "vm": _vm}


def step_details(step: Step) -> list[str]:
    """Settings behind ``step`` and, where there is one, the check to make by hand."""
    make = _register if step.type == "register-vm" else DETAILS.get(step.category)
    out = make(step) if make else []
    if step.type in CHECKS:
        out.append(f"check: {CHECKS[step.type]}")
    return out
