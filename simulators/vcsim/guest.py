"""Guest emulation for vcsim: VMware Tools come up after a simulated boot.

vcsim never reports VMware Tools running by itself. This emulator polls one vcsim (every VM's
power state, boot time and Tools state through one property-collector call) and, through vcsim's
ExtraConfig ``SET.<property path>`` keys, sets Tools running and the heartbeat green once a
powered-on VM has been up for its boot delay, and back to not-running/gray when it powers off.

A VM's boot delay is its ExtraConfig ``drkit.guest.bootDelay`` (seconds) when set, else the
emulator's default. Run beside a site (site.py does) as::

    DRKIT_VCSIM_PASSWORD=... python -m simulators.vcsim.guest --url URL --user USER
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import time
from dataclasses import dataclass

from pyVmomi import vim, vmodl

from orchestrator.vsphere import inventory as inv

BOOT_DELAY_KEY = "drkit.guest.bootDelay"
RUNNING = {
    "guest.toolsRunningStatus": "guestToolsRunning", "guest.toolsStatus": "toolsOk",
    "guest.guestState": "running", "guestHeartbeatStatus": "green",
    "summary.guest.toolsRunningStatus": "guestToolsRunning", "summary.guest.toolsStatus": "toolsOk",
    "summary.quickStats.guestHeartbeatStatus": "green",
}
STOPPED = {
    "guest.toolsRunningStatus": "guestToolsNotRunning", "guest.toolsStatus": "toolsNotRunning",
    "guest.guestState": "notRunning", "guestHeartbeatStatus": "gray",
    "summary.guest.toolsRunningStatus": "guestToolsNotRunning",
    "summary.guest.toolsStatus": "toolsNotRunning",
    "summary.quickStats.guestHeartbeatStatus": "gray",
}
PROPS = ["name", "runtime.powerState", "summary.runtime.bootTime", "guest.toolsRunningStatus"]


@dataclass(frozen=True)
class VmState:
    ref: vim.VirtualMachine
    name: str
    powered_on: bool
    boot_time: dt.datetime | None
    tools_running: bool
    boot_delay: float | None


def tools_settings(values: dict[str, str]) -> list[vim.option.OptionValue]:
    return [vim.option.OptionValue(key=f"SET.{k}", value=v) for k, v in values.items()]


def desired(vm: VmState, now: dt.datetime, default_delay: float) -> dict[str, str] | None:
    """What to set on this VM now, or None when it is already right. Pure."""
    if not vm.powered_on:
        return STOPPED if vm.tools_running else None
    if vm.tools_running or vm.boot_time is None:
        return None
    delay = default_delay if vm.boot_delay is None else vm.boot_delay
    up = (now - vm.boot_time).total_seconds()
    return RUNNING if up >= delay else None


class Emulator:
    """One vcsim's guests. Each pass reads four small properties of every VM; a VM's boot delay
    (its ExtraConfig, set when the VM is created) is read once, when it is first needed, and
    kept by VM reference (a VM registered again gets a new one)."""

    def __init__(self, si: vim.ServiceInstance, default_delay: float) -> None:
        self.content = si.RetrieveContent()
        self.default_delay = default_delay
        self.delays: dict[str, float | None] = {}

    def step(self) -> int:
        """Bring every VM's Tools state up to date once; returns how many VMs changed."""
        now = dt.datetime.now(dt.UTC)
        changed = 0
        for vm in self.read_vms():
            values = desired(vm, now, self.default_delay)
            if values is None:
                continue
            with contextlib.suppress(vmodl.fault.ManagedObjectNotFound, vim.fault.VimFault):
                vm.ref.ReconfigVM_Task(vim.vm.ConfigSpec(extraConfig=tools_settings(values)))
                changed += 1
        return changed

    def read_vms(self) -> list[VmState]:
        found = inv.collect(self.content, vim.VirtualMachine, PROPS)
        for ref, props in found:
            if _booting(props) and ref._moId not in self.delays:
                self._learn_delay(ref)
        return [_state(ref, props, self.delays.get(ref._moId)) for ref, props in found]

    def _learn_delay(self, ref: vim.VirtualMachine) -> None:
        got = inv.object_props(self.content, ref, ["config.extraConfig"])
        if got is None:  # gone: nothing to learn
            return
        extra = {o.key: o.value for o in got.get("config.extraConfig") or []}
        delay = extra.get(BOOT_DELAY_KEY)
        self.delays[ref._moId] = float(delay) if delay not in (None, "") else None


def _booting(props: dict) -> bool:
    return (props.get("runtime.powerState") == "poweredOn"
            and props.get("guest.toolsRunningStatus") != "guestToolsRunning")


def _state(ref: vim.VirtualMachine, props: dict, boot_delay: float | None) -> VmState:
    return VmState(
        ref=ref, name=props.get("name", "?"),
        powered_on=props.get("runtime.powerState") == "poweredOn",
        boot_time=props.get("summary.runtime.bootTime"),  # vcsim sets only this one
        tools_running=props.get("guest.toolsRunningStatus") == "guestToolsRunning",
        boot_delay=boot_delay,
    )


def run(url: str, user: str, password: str, default_delay: float, interval: float) -> None:
    from orchestrator.vsphere.connection import connect

    emulator = Emulator(connect(url, user, password), default_delay)
    while True:
        emulator.step()
        time.sleep(interval)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--boot-delay", type=float, default=1.0)
    parser.add_argument("--interval", type=float, default=0.2)
    args = parser.parse_args()
    run(args.url, args.user, os.environ.get("DRKIT_VCSIM_PASSWORD", ""), args.boot_delay,
        args.interval)


if __name__ == "__main__":
    main()
