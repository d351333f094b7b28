"""Errors of acting on the world through a port, and of the steps that do so.

Raised by the port implementations (``orchestrator.srm``, ``orchestrator.vsphere.port``), by the
steps (``orchestrator.steps``) and by the executor that runs them. The tree (``T`` = transient:
retrying the same call may succeed; everything else is permanent)::

    OrchestratorError                  (orchestrator.errors)
     ├── PermanentError
     │    ├── PortsNotWired            a real run needs a port (storage/vSphere) nobody supplied
     │    └── StepError                a step failed while running (names the step)
     │         ├── StepTimeout         the step overran its timeout
     │         └── OutcomeUnknown      interrupted mid-step; the step cannot check itself
     └── TransientError             T
          └── TransientStepError    T  a step failure worth retrying (network blip, busy array)

The executor retries (tenacity) only errors with ``transient`` true — ``TransientError`` from
any package (e.g. the vSphere adapter's) and ``TransientStepError`` — and nothing else.
Messages name the ids involved (step id, VM name, device) and never carry secrets.
"""

from __future__ import annotations

from orchestrator.errors import PermanentError, TransientError


class PortsNotWired(PermanentError):
    """A real run needs ports that were not supplied; names them and the steps needing them."""


class StepError(PermanentError):
    """A step failed; ``step_id`` names it."""

    def __init__(self, step_id: str, message: str) -> None:
        self.step_id = step_id
        super().__init__(f"{step_id}: {message}")


class StepTimeout(StepError):
    """The step ran longer than its timeout."""


class OutcomeUnknown(StepError):
    """A step was interrupted after recording intent and cannot tell whether it acted."""


class TransientStepError(TransientError):
    """A step failure worth retrying (network blip, busy array); ``step_id`` names the step."""

    def __init__(self, step_id: str, message: str) -> None:
        self.step_id = step_id
        super().__init__(f"{step_id}: {message}")
