"""Errors of reading a plan: rendering, schema and semantic checks.

::

    OrchestratorError                 (orchestrator.errors)
     └── PermanentError
          └── PlanError               anything wrong with a plan (names the file or plan path)
               ├── PlanRenderError    Jinja2 rendering failed (undefined variable, syntax)
               ├── PlanInvalid        schema/semantic errors; carries every Issue, not just one
               ├── CredentialError    (orchestrator.wiring) a credential reference cannot be read
               └── GraphError         (orchestrator.graph.errors) the DAG cannot be built

Errors of runs live beside the executor (``orchestrator.executor.errors``), errors of steps and
ports beside the ports (``orchestrator.ports.errors``). Messages name the ids involved (plan
path, VM name) and never carry secrets.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.errors import PermanentError


@dataclass(frozen=True)
class Issue:
    """One finding about a plan: ``path`` is where (``vms[3].depends_on``), ``message`` what."""

    path: str
    message: str
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class PlanError(PermanentError):
    """Base of every error about a plan (its text, its records, its graph)."""


class PlanRenderError(PlanError):
    """The plan's Jinja2 template could not be rendered."""


class PlanInvalid(PlanError):
    """The plan has errors; ``issues`` holds all of them (warnings included)."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        errors = [str(i) for i in issues if i.severity == "error"]
        super().__init__("\n".join(errors) or "invalid plan")
