"""Errors of the Snapshot Agent, the reference application and its checker.

::

    AgentError                      base; every error carries a stable ``code``
    ├── TransientAgentError         retrying later may succeed
    │   ├── QuiesceTimeout          the application could not freeze within the budget
    │   ├── AgentBusy               another quiesce is still being set up
    │   └── DeviceIOError           a block device read/write failed (appliance down, I/O error)
    └── PermanentAgentError         retrying the same call cannot succeed
        ├── InvalidField            bad input: names the offending field, nothing changed
        ├── Unauthorized            wrong or missing bearer token (the token is never echoed)
        ├── StoreFrozen             a transaction was refused because the store is frozen
        ├── FormatError             the devices do not hold a store (bad magic/superblock)
        ├── RegistrationError       the appliance refused the agent registration
        └── TrialFailoverFailed     the SRA failed a trial's test failover (or tested another RP)

The HTTP service maps these to statuses in one place (``service._status_for``).
"""

from __future__ import annotations

from typing import Any


class AgentError(Exception):
    """Base of all agent errors: a stable ``code``, a message and JSON-able ``details``."""

    code = "agent-error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class TransientAgentError(AgentError):
    code = "transient"


class PermanentAgentError(AgentError):
    code = "permanent"


class QuiesceTimeout(TransientAgentError):
    code = "quiesce-timeout"


class AgentBusy(TransientAgentError):
    code = "agent-busy"


class DeviceIOError(TransientAgentError):
    code = "device-io-error"


class InvalidField(PermanentAgentError):
    code = "invalid-field"

    def __init__(self, field: str, problem: str, **details: Any) -> None:
        super().__init__(f"{field}: {problem}", field=field, **details)


class Unauthorized(PermanentAgentError):
    code = "unauthorized"


class StoreFrozen(PermanentAgentError):
    code = "store-frozen"


class FormatError(PermanentAgentError):
    code = "format-error"


class RegistrationError(PermanentAgentError):
    code = "registration-failed"


class TrialFailoverFailed(PermanentAgentError):
    code = "test-failover-failed"
