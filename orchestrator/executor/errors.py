"""Errors of runs and their journals.

::

    OrchestratorError            (orchestrator.errors)
     └── PermanentError
          └── RunError           anything about a run as a whole (names the run id)
               ├── RunNotFound   no journal for a run id, or its plan is gone
               ├── RunBusy       another process is executing that run right now (names its pid)
               ├── RunChanged    the plan changed since the run started (resume refuses)
               └── TestActive    a test recovery of the plan is not cleaned up (SRM's rule)

Step failures are not run errors: they are journalled per step (``orchestrator.ports.errors``).
"""

from __future__ import annotations

from orchestrator.errors import PermanentError


class RunError(PermanentError):
    """Base of the errors about a run as a whole."""


class RunNotFound(RunError):
    """No journal exists for the given run id (or its plan file is gone)."""


class RunBusy(RunError):
    """The run is being executed by another process (it holds the journal's lock)."""


class RunChanged(RunError):
    """The plan file changed since the run started; resuming would run another plan."""


class TestActive(RunError):
    """A test recovery of the plan was not cleaned up: another test would run over it."""

    __test__ = False  # not a pytest test class
