"""Workflow DAGs (networkx) built from plans."""

from orchestrator.graph.workflows import build_workflow

__all__ = ["build_workflow"]
