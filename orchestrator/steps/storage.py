"""Storage steps: the SRA verbs, one protection group per step, through a StoragePort."""

from __future__ import annotations

import time
from collections.abc import Sequence

from orchestrator.ports.errors import StepError, StepTimeout
from orchestrator.ports.storage import DeviceIdentity
from orchestrator.steps.base import RunContext, Step, step_type


class StorageStep(Step):
    category = "storage"
    needs = frozenset({"storage"})
    __slots__ = ()
    verb = ""

    def describe(self) -> str:
        return f"{self.verb} for protection group {self.spec.name} at the {self.site} site"

    def presented(self, ctx: RunContext, devices: Sequence[DeviceIdentity]) -> dict:
        """The step's output; with ``require_app_consistent`` a recovery point that is not
        application-consistent fails the step (before any VM is registered on it)."""
        if ctx.plan.options.require_app_consistent:
            for dev in devices:
                if dev.consistency != "app":
                    kind = (f"only {dev.consistency}-consistent" if dev.consistency
                            else "of unknown consistency")
                    raise StepError(self.id, f"device {dev.key}: recovery point "
                                    f"{dev.recovery_point or '?'} is {kind} and the plan "
                                    f"requires application-consistent recovery points")
        return {"devices": [d.to_json() for d in devices]}


@step_type
class SyncStorage(StorageStep):
    """syncOnce, then querySyncStatus until complete."""

    type = "sync-storage"
    verb = "syncOnce"
    __slots__ = ()

    def run(self, ctx: RunContext) -> dict:
        port = ctx.storage_at(self.site)
        handle = port.sync_once(self.spec, ctx.plan.options.require_app_consistent)
        deadline = time.monotonic() + (self.timeout or ctx.plan.options.sra_timeout)
        while not (status := port.query_sync_status(self.spec, handle)).complete:
            if time.monotonic() > deadline:
                raise StepTimeout(self.id, f"sync {handle} still at {status.progress}%")
            time.sleep(ctx.poll_interval)
        return {"handle": handle}


@step_type
class PrepareFailover(StorageStep):
    type = "prepare-failover"
    verb = "prepareFailover"
    __slots__ = ()

    def run(self, ctx: RunContext) -> None:
        ctx.storage_at(self.site).prepare_failover(self.spec)


@step_type
class Failover(StorageStep):
    type = "failover"
    verb = "failover"
    __slots__ = ()

    def run(self, ctx: RunContext) -> dict:
        return self.presented(ctx, ctx.storage_at(self.site).failover(self.spec))


@step_type
class TestFailoverStart(StorageStep):
    type = "test-failover-start"
    verb = "testFailoverStart"
    __slots__ = ()

    def run(self, ctx: RunContext) -> dict:
        return self.presented(ctx, ctx.storage_at(self.site).test_failover_start(self.spec))


@step_type
class TestFailoverStop(StorageStep):
    type = "test-failover-stop"
    verb = "testFailoverStop"
    __slots__ = ()

    def run(self, ctx: RunContext) -> None:
        ctx.storage_at(self.site).test_failover_stop(self.spec)


@step_type
class PrepareReverseReplication(StorageStep):
    type = "prepare-reverse-replication"
    verb = "prepareReverseReplication"
    __slots__ = ()

    def run(self, ctx: RunContext) -> None:
        ctx.storage_at(self.site).prepare_reverse_replication(self.spec)


@step_type
class ReverseReplication(StorageStep):
    type = "reverse-replication"
    verb = "reverseReplication"
    __slots__ = ()

    def run(self, ctx: RunContext) -> None:
        ctx.storage_at(self.site).reverse_replication(self.spec)


@step_type
class RescanMount(StorageStep):
    """Rescan and mount the devices the writable step (``args['source_step']``) presented."""

    type = "rescan-mount"
    needs = frozenset({"vsphere"})
    __slots__ = ()

    def run(self, ctx: RunContext) -> dict:
        produced = ctx.outputs.get(self.args["source_step"]) or {}
        devices = [DeviceIdentity.from_json(d) for d in produced.get("devices", ())]
        mounted = ctx.vsphere_at(self.site).rescan_and_mount(self.spec, devices)
        return {"datastores": list(mounted)}

    def describe(self) -> str:
        return f"rescan storage and mount protection group {self.spec.name} at the {self.site} site"


@step_type
class Unmount(StorageStep):
    type = "unmount"
    needs = frozenset({"vsphere"})
    __slots__ = ()

    def run(self, ctx: RunContext) -> None:
        ctx.vsphere_at(self.site).unmount(self.spec)

    def describe(self) -> str:
        return f"unmount protection group {self.spec.name} at the {self.site} site"
