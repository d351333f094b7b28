"""Errors of plan loading, DAG building and execution.

The tree (``T`` = transient: retrying the same call may succeed; everything else is permanent)::

    OrchestratorError                 (orchestrator.errors, owned by the vSphere side)
     ├── PermanentError
     │    └── PlanError               anything about a plan, its graph or its run
     │         ├── PlanRenderError    Jinja2 rendering failed (undefined variable, syntax)
     │         ├── PlanInvalid        schema/semantic errors; carries every Issue, not just one
     │         ├── GraphError         the DAG cannot be built (cycle, dangling ref, capacity)
     │         ├── PortsNotWired      a real run needs a port (storage/vSphere) nobody supplied
     │         ├── RunNotFound        no journal for a run id
     │         ├── RunBusy            another process is executing that run right now
     │         └── StepError          a step failed while running
     │              ├── StepTimeout   the step overran its timeout
     │              └── OutcomeUnknown  interrupted mid-step; the step cannot check itself
     └── TransientError             T
          └── TransientStepError    T  a step failure worth retrying

The executor retries (tenacity) only errors with ``transient`` true — ``TransientError`` from
any package (e.g. the vSphere adapter's) and ``TransientStepError`` — and nothing else.

Messages name the ids involved (plan path, step id, VM name) and never carry secrets.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.errors import PermanentError, TransientError


@dataclass(frozen=True)
class Issue:
    """One finding about a plan: ``path`` is where (``vms[3].depends_on``), ``message`` what."""

    path: str
    message: str
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class PlanError(PermanentError):
    """Base of every plan, graph and run error."""


class PlanRenderError(PlanError):
    """The plan's Jinja2 template could not be rendered."""


class PlanInvalid(PlanError):
    """The plan has errors; ``issues`` holds all of them (warnings included)."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        errors = [str(i) for i in issues if i.severity == "error"]
        super().__init__("\n".join(errors) or "invalid plan")


class GraphError(PlanError):
    """The workflow DAG is inconsistent (cycle, dangling reference, short capacity)."""


class PortsNotWired(PlanError):
    """A real run needs ports that were not supplied; names them and the steps needing them."""


class RunNotFound(PlanError):
    """No journal exists for the given run id."""


class RunBusy(PlanError):
    """The run is being executed by another process (it holds the journal's lock)."""


class StepError(PlanError):
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

