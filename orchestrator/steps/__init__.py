"""Step classes (one per ``type``) and the ports they act through."""

from orchestrator.steps import custom, storage, vsphere  # noqa: F401  (registers step types)
from orchestrator.steps.base import STEP_TYPES, OnFailure, RunContext, Status, Step

__all__ = ["STEP_TYPES", "OnFailure", "RunContext", "Status", "Step"]
