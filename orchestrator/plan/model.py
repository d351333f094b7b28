"""Plain, frozen records a plan loads into. No I/O and no validation logic here.

Credentials are references only (an environment variable name or a file path): a plan never
holds a password, and ``CredentialRef.describe()`` is the only way a reference is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

WORKFLOWS = ("test", "cleanup", "planned", "disaster", "reprotect", "failback")
SITE_ROLES = ("protected", "recovery")
PRIORITIES = (1, 2, 3, 4, 5)

_POWER_ON = tuple(f"priority-{p}" for p in PRIORITIES)
_RECOVER = ("presync", "shutdown", "prepare-migration", "sync", "storage-writable",
            "storage-mounted", "vms-registered", *_POWER_ON)
_REPROTECT = ("storage-reversed", "protection-records", "reprotect-sync")
PHASES: dict[str, tuple[str, ...]] = {
    "test": ("start", "sync", "storage-writable", "storage-mounted", "vms-registered",
             *_POWER_ON, "end"),
    "cleanup": ("start", "power-off", "unregister", "storage-unmounted", "storage-restored",
                "end"),
    "planned": ("start", *_RECOVER, "end"),
    "disaster": ("start", *_RECOVER, "end"),
    "reprotect": ("start", *_REPROTECT, "end"),
    "failback": ("start", *_RECOVER, *_REPROTECT, "end"),
}
"""Each workflow's phase barriers in order; custom steps attach with ``after: <phase>``."""


@dataclass(frozen=True)
class CredentialRef:
    """Where a secret lives: ``env`` (variable name) or ``file`` (path); ``username`` is inline."""

    username: str | None = None
    env: str | None = None
    file: str | None = None

    def describe(self) -> str:
        where = f"env:{self.env}" if self.env else f"file:{self.file}"
        return f"{self.username}@{where}" if self.username else where


@dataclass(frozen=True)
class VCenter:
    url: str
    credentials: CredentialRef
    insecure: bool = False


@dataclass(frozen=True)
class SraConnection:
    addresses: dict[str, str]
    credentials: CredentialRef
    opaques: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Sra:
    command: tuple[str, ...]
    connection: SraConnection
    array_id: str | None = None
    peer_array_id: str | None = None


@dataclass(frozen=True)
class Site:
    role: str
    name: str
    vcenter: VCenter
    sra: Sra


@dataclass(frozen=True)
class Inventory:
    """Protected-site name → recovery-site name, per kind of object."""

    networks: dict[str, str] = field(default_factory=dict)
    test_networks: dict[str, str] = field(default_factory=dict)
    clusters: dict[str, str] = field(default_factory=dict)
    resource_pools: dict[str, str] = field(default_factory=dict)
    folders: dict[str, str] = field(default_factory=dict)
    placeholder_datastores: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProtectionGroup:
    """Replicated storage that moves as one: ``kind`` is datastores, devices or
    consistency_groups and ``members`` names them."""

    name: str
    kind: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class IpSetting:
    network: str
    ip: str | None = None  # None: DHCP
    prefix: int | None = None
    gateway: str | None = None
    dns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Callout:
    """A command run by drkit, or a prompt a person must acknowledge."""

    kind: str  # "command" or "prompt"
    text: str  # the command line or the prompt message
    timeout: float
    continue_on_error: bool = False


@dataclass(frozen=True)
class Vm:
    name: str
    protection_group: str
    priority: int = 3
    depends_on: tuple[str, ...] = ()
    startup: str = "power-on"  # or "leave-off"
    wait_for_tools: bool = True
    tools_timeout: float | None = None
    host: str | None = None
    cpus: int | None = None
    memory_mb: int | None = None
    ip: tuple[IpSetting, ...] = ()
    pre_power_on: tuple[Callout, ...] = ()
    post_power_on: tuple[Callout, ...] = ()
    index: int = 0  # position in the plan's vms list, for error paths


@dataclass(frozen=True)
class CustomStep:
    name: str
    type: str  # "command" or "prompt"
    text: str
    workflows: tuple[str, ...]
    after: str = "end"
    depends_on: tuple[str, ...] = ()
    timeout: float | None = None
    creates: str | None = None
    idempotent: bool = False
    continue_on_error: bool = False
    index: int = 0


@dataclass(frozen=True)
class Options:
    per_site: int = 32
    per_host: int = 8
    step_timeout: float = 600.0
    tools_timeout: float = 300.0
    sra_timeout: float = 300.0
    error_policy: str = "continue"  # VM failures: "continue" (skip dependents) or "stop"
    require_app_consistent: bool = False
    test_sync: bool = True
    retries: int = 3


@dataclass(frozen=True)
class Plan:
    name: str
    sites: dict[str, Site]
    inventory: Inventory
    protection_groups: tuple[ProtectionGroup, ...]
    vms: tuple[Vm, ...]
    steps: tuple[CustomStep, ...] = ()
    options: Options = field(default_factory=Options)
    description: str = ""
    source: str = "<plan>"

    @cached_property
    def vm_by_name(self) -> dict[str, Vm]:
        return {vm.name: vm for vm in self.vms}

    @cached_property
    def group_by_name(self) -> dict[str, ProtectionGroup]:
        return {pg.name: pg for pg in self.protection_groups}
