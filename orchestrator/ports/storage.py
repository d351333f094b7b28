"""The storage port: the SRA verbs as SRM calls them, for one site. Nearly all docstring: this
is the contract (see :mod:`orchestrator.ports`).

One port instance serves one site. Every method may raise any
:class:`orchestrator.errors.OrchestratorError`; adapters translate their own faults in one place and
raise :class:`~orchestrator.ports.errors.TransientStepError` for faults worth retrying. **Every
method must be safe to call again with the same arguments** (drkit re-runs a step that was
interrupted before its completion was journalled): a repeated call returns the existing result
instead of acting twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from orchestrator.plan.model import ProtectionGroup


@dataclass(frozen=True)
class DeviceIdentity:
    """A device as recovery hosts will see it (``key`` is the SRA's opaque device/group key)."""

    key: str
    wwn: str | None = None
    recovery_point: str | None = None  # UTC ISO 8601
    consistency: str | None = None  # of the recovery point: "app", "crash" or None (unknown)

    def to_json(self) -> dict:
        return {"key": self.key, "wwn": self.wwn, "recovery_point": self.recovery_point,
                "consistency": self.consistency}

    @classmethod
    def from_json(cls, data: Mapping) -> DeviceIdentity:
        return cls(data["key"], data.get("wwn"), data.get("recovery_point"),
                   data.get("consistency"))


@dataclass(frozen=True)
class SyncStatus:
    complete: bool
    progress: int = 0  # 0 to 100


class StoragePort(Protocol):
    """The SRA verbs as SRM calls them, for one site. A group is a protection group (its
    datastores, devices or consistency groups); the adapter maps it to SRA ids/keys."""

    def discover(self) -> Sequence[DeviceIdentity]:
        """discoverArrays + discoverDevices: the replicated devices this site sees."""
        ...

    def discover_groups(self) -> Sequence[str]:
        """discoverDevices: the consistency groups this site replicates, each by every name a
        plan may use for it (the SRA's group key, the array's group id, its name)."""
        ...

    def sync_once(self, group: ProtectionGroup, app_consistent: bool = False) -> str:
        """syncOnce (runs at the source): start one replication cycle; returns a sync handle.
        A sync already running returns its handle. ``app_consistent``: quiesce the
        applications (Snapshot Agent) for the cycle's snapshot."""
        ...

    def query_sync_status(self, group: ProtectionGroup, handle: str) -> SyncStatus:
        """querySyncStatus for a handle from :meth:`sync_once`."""
        ...

    def test_failover_start(self, group: ProtectionGroup) -> Sequence[DeviceIdentity]:
        """testFailoverStart (recovery site): writable snapshots presented to the recovery hosts.
        Called again, returns the snapshots already made."""
        ...

    def test_failover_stop(self, group: ProtectionGroup) -> None:
        """testFailoverStop: remove the test snapshots; nothing to remove is success."""
        ...

    def prepare_failover(self, group: ProtectionGroup) -> None:
        """prepareFailover (protected site): make the sources read-only."""
        ...

    def failover(self, group: ProtectionGroup) -> Sequence[DeviceIdentity]:
        """failover (recovery site): promote replicas read-write at their latest recovery point
        and present them."""
        ...

    def prepare_reverse_replication(self, group: ProtectionGroup) -> None:
        """prepareReverseReplication (old primary): demote local copies to replication targets."""
        ...

    def reverse_replication(self, group: ProtectionGroup) -> None:
        """reverseReplication (new primary): replicate back towards the old primary."""
        ...
