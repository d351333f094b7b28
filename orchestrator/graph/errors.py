"""Errors of building a workflow's DAG.

::

    OrchestratorError            (orchestrator.errors)
     └── PermanentError
          └── PlanError          (orchestrator.plan.errors)
               └── GraphError    the DAG cannot be built (cycle, dangling ref, short capacity)

A graph error is a fault of the plan (its dependencies, its sizes), so it is a ``PlanError``:
every command that reports plan errors reports it the same way.
"""

from __future__ import annotations

from orchestrator.plan.errors import PlanError


class GraphError(PlanError):
    """The workflow DAG is inconsistent (cycle, dangling reference, short capacity)."""
