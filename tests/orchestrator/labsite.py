"""An in-memory two-site lab implementing StoragePort and VspherePort (real classes, used by
the executor tests). State changes are real and checkable; faults can be injected per call."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from orchestrator.plan.model import Inventory, IpSetting, ProtectionGroup
from orchestrator.ports.errors import StepError, TransientStepError
from orchestrator.ports.storage import DeviceIdentity, SyncStatus


@dataclass
class Lab:
    """Shared state of both sites: where each group's storage is writable, which VMs are
    registered (and powered) where, and a log of every call ``(site, verb, subject)``."""

    writable: dict[str, str] = field(default_factory=dict)  # group → site role
    vms: dict[str, dict[str, str]] = field(default_factory=lambda: {"protected": {},
                                                                    "recovery": {}})
    log: list[tuple[str, str, str]] = field(default_factory=list)
    faults: dict[tuple[str, str, str], list[Exception]] = field(default_factory=dict)
    calls: Counter = field(default_factory=Counter)
    quiesced: dict[str, bool] = field(default_factory=dict)  # group → last sync quiesced
    delay: float = 0.0  # seconds each call takes (to observe concurrency)
    hosts: dict[str, str] = field(default_factory=dict)  # VM → host, for the peak per host
    active: Counter = field(default_factory=Counter)
    peak: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, site: str, verb: str, subject: str) -> None:
        """Log a call; raise the next injected fault for it, if any."""
        keys = [site] + ([self.hosts[subject]] if subject in self.hosts else [])
        with self.lock:
            self.log.append((site, verb, subject))
            self.calls[(site, verb, subject)] += 1
            queue = self.faults.get((site, verb, subject))
            if queue:
                raise queue.pop(0)
            for key in keys:
                self.active[key] += 1
                self.peak[key] = max(self.peak[key], self.active[key])
        time.sleep(self.delay)
        with self.lock:
            for key in keys:
                self.active[key] -= 1

    def fail(self, site: str, verb: str, subject: str, times: int = 1,
             transient: bool = False) -> None:
        cls = TransientStepError if transient else StepError
        self.faults[(site, verb, subject)] = [cls(subject, f"injected {verb} fault")
                                              for _ in range(times)]


class LabStorage:
    def __init__(self, lab: Lab, site: str) -> None:
        self.lab, self.site = lab, site

    def discover(self):
        return [DeviceIdentity(g) for g, s in self.lab.writable.items() if s == self.site]

    def discover_groups(self):
        return []

    def sync_once(self, group: ProtectionGroup, app_consistent: bool = False) -> str:
        self.lab.call(self.site, "syncOnce", group.name)
        self.lab.quiesced[group.name] = app_consistent
        return f"sync-{group.name}"

    def query_sync_status(self, group: ProtectionGroup, handle: str) -> SyncStatus:
        return SyncStatus(True, 100)

    def test_failover_start(self, group: ProtectionGroup):
        self.lab.call(self.site, "testFailoverStart", group.name)
        return [DeviceIdentity(f"snap-{m}", f"wwn-{m}") for m in group.members]

    def test_failover_stop(self, group: ProtectionGroup) -> None:
        self.lab.call(self.site, "testFailoverStop", group.name)

    def prepare_failover(self, group: ProtectionGroup) -> None:
        self.lab.call(self.site, "prepareFailover", group.name)

    def failover(self, group: ProtectionGroup):
        self.lab.call(self.site, "failover", group.name)
        self.lab.writable[group.name] = self.site
        consistency = "app" if self.lab.quiesced.get(group.name) else "crash"
        return [DeviceIdentity(m, f"wwn-{m}", "2026-01-01T00:00:00Z", consistency)
                for m in group.members]

    def prepare_reverse_replication(self, group: ProtectionGroup) -> None:
        self.lab.call(self.site, "prepareReverseReplication", group.name)

    def reverse_replication(self, group: ProtectionGroup) -> None:
        self.lab.call(self.site, "reverseReplication", group.name)


class LabVsphere:
    def __init__(self, lab: Lab, site: str) -> None:
        self.lab, self.site = lab, site
        self.mounted: dict[str, list[str]] = {}

    @property
    def here(self) -> dict[str, str]:
        return self.lab.vms[self.site]

    def vm_state(self, vm: str) -> str | None:
        return self.here.get(vm)

    def shutdown_vm(self, vm: str, timeout: float) -> None:
        self.lab.call(self.site, "shutdown", vm)
        self.here[vm] = "poweredOff"

    def power_off_vm(self, vm: str) -> None:
        self.lab.call(self.site, "powerOff", vm)
        self.here[vm] = "poweredOff"

    def unregister_vm(self, vm: str) -> None:
        self.lab.call(self.site, "unregister", vm)
        self.here.pop(vm, None)

    def rescan_and_mount(self, group: ProtectionGroup, devices) -> list[str]:
        self.lab.call(self.site, "mount", group.name)
        assert devices, f"nothing presented for {group.name}"
        self.mounted[group.name] = [d.wwn for d in devices]
        return [f"ds-{d.key}" for d in devices]

    def unmount(self, group: ProtectionGroup) -> None:
        self.lab.call(self.site, "unmount", group.name)
        self.mounted.pop(group.name, None)

    def register_vm(self, vm: str, inventory: Inventory, networks) -> None:
        self.lab.call(self.site, "register", vm)
        self.here[vm] = "poweredOff"

    def reconfigure_vm(self, vm: str, networks, ip: tuple[IpSetting, ...]) -> None:
        self.lab.call(self.site, "reconfigure", vm)

    def power_on_vm(self, vm: str) -> None:
        self.lab.call(self.site, "powerOn", vm)
        self.here[vm] = "poweredOn"

    def wait_for_tools(self, vm: str, timeout: float) -> None:
        self.lab.call(self.site, "waitTools", vm)

    def protect_vm(self, vm: str, inventory: Inventory) -> None:
        self.lab.call(self.site, "protect", vm)


def ports(lab: Lab) -> tuple[dict, dict]:
    roles = ("protected", "recovery")
    return ({r: LabStorage(lab, r) for r in roles}, {r: LabVsphere(lab, r) for r in roles})
