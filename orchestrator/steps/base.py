"""Steps: one class per ``type``, each with ``run(ctx)``, ``describe()``, a failure rule and a
status. Classes register themselves in :data:`STEP_TYPES` with :func:`step_type`.

Statuses: pending → running → ok | failed; a step whose prerequisite failed (and whose failure
blocks dependents) becomes skipped-dependency-failed without running.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from orchestrator.plan.model import Options, Plan
from orchestrator.ports.errors import PortsNotWired
from orchestrator.ports.storage import StoragePort
from orchestrator.ports.vsphere import VspherePort


class Status(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped-dependency-failed"


class OnFailure(enum.StrEnum):
    STOP = "stop"  # fatal: the run stops starting steps
    BLOCK = "block"  # dependents are skipped, the rest goes on
    IGNORE = "ignore"  # dependents run as if the step had succeeded


Prompter = Callable[[str, float], bool]


@dataclass
class RunContext:
    """What a running step may use. Ports are per site role (``"protected"``/``"recovery"``)."""

    plan: Plan
    workflow: str
    run_id: str = "dry"
    storage: Mapping[str, StoragePort] = field(default_factory=dict)
    vsphere: Mapping[str, VspherePort] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)  # step id → journalled output
    prompt: Prompter | None = None
    workdir: Path = field(default_factory=Path.cwd)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    poll_interval: float = 2.0

    def storage_at(self, site: str) -> StoragePort:
        if site not in self.storage:
            raise PortsNotWired(f"no storage port (SRA) for the {site} site")
        return self.storage[site]

    def vsphere_at(self, site: str) -> VspherePort:
        if site not in self.vsphere:
            raise PortsNotWired(f"no vSphere port for the {site} site")
        return self.vsphere[site]


STEP_TYPES: dict[str, type[Step]] = {}


def step_type(cls: type[Step]) -> type[Step]:
    """Class decorator: register ``cls`` under ``cls.type``."""
    STEP_TYPES[cls.type] = cls
    return cls


class Step:
    """One node of a workflow DAG.

    ``site`` is the site role the step acts on; ``side`` is ``"source"`` (the site being left),
    ``"target"`` or ``None``; ``spec`` is the plan record behind the step (a Vm, a
    ProtectionGroup, a Callout, a CustomStep) and ``args`` anything else the builder computed.
    """

    type: ClassVar[str] = "step"
    category: ClassVar[str] = "vm"  # phase | storage | vm | callout | custom
    needs: ClassVar[frozenset[str]] = frozenset()  # ports: "storage", "vsphere"

    __slots__ = ("args", "host", "id", "side", "site", "spec", "status", "timeout", "vm")

    def __init__(self, id: str, *, site: str | None = None, side: str | None = None,
                 vm: str | None = None, host: str | None = None, spec: Any = None,
                 timeout: float | None = None, **args: Any) -> None:
        self.id, self.site, self.side, self.vm, self.host = id, site, side, vm, host
        self.spec, self.timeout, self.args = spec, timeout, args
        self.status = Status.PENDING

    def run(self, ctx: RunContext) -> Any:
        """Act; return a JSON-able output (journalled; later steps read it in ctx.outputs)."""
        raise NotImplementedError

    def already_done(self, ctx: RunContext) -> bool:
        """Check before acting: True if the effect is already in place (used on resume)."""
        return False

    @property
    def idempotent(self) -> bool:
        """Safe to run again after an interruption (ports promise this for their verbs)."""
        return True

    def describe(self) -> str:
        return self.id

    def on_failure(self, workflow: str, options: Options) -> OnFailure:
        """The workflow's error policy for this step."""
        if self.side == "source":
            return OnFailure.IGNORE if workflow == "disaster" else OnFailure.STOP
        if self.category == "storage":
            return OnFailure.STOP
        if getattr(self.spec, "continue_on_error", False):
            return OnFailure.IGNORE
        return OnFailure.STOP if options.error_policy == "stop" else OnFailure.BLOCK

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {self.status}>"


@step_type
class Phase(Step):
    """A barrier between SRM's recovery phases; does nothing."""

    type = "phase"
    category = "phase"
    __slots__ = ()

    def run(self, ctx: RunContext) -> None:
        return None

    def describe(self) -> str:
        return f"phase {self.id.partition(':')[2]} reached"
