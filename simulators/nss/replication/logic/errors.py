"""Errors of the replication engine: MicroScan diff, the delta wire format and the planner.

A branch of the appliance's error tree (``errors.NssError``): a stable ``code``, a ``message``
naming the ids and fields involved (never key material), ``details``, an HTTP ``status`` for
the REST layer, and ``transient`` saying whether retrying the same operation may succeed.

    ReplicationError                      code, message, details, status, transient
    ├── TransientReplicationError         transient: retry with backoff
    │   └── PeerTransferError             the transfer to/from the peer broke off (reset, timeout)
    └── PermanentReplicationError         retrying changes nothing until input or state changes
        ├── DiffInputError (400)          bad chunk index/size/order, sector misalignment
        ├── PairKeyError (400)            a pair key that is not 32 bytes
        ├── PolicyError (400)             a replication policy field out of range (names it)
        ├── DeltaError (422)              a delta that must not be applied; the replica is unchanged
        │   ├── DeltaFormatError          not a drkit delta, truncated, bad extents, bad header
        │   ├── DeltaTooLargeError        a message over MAX_PART_PAYLOAD: split it first
        │   ├── DeltaAuthError            AES-GCM authentication failed: tampered or wrong key
        │   │   └── DeltaMisdirectedError authentic, but for another replication
        │   └── DeltaSequenceError (409)  authentic, but not the sequence/part expected
        │       ├── DeltaReplayError      already applied (sequence below expected): drop it
        │       └── DeltaGapError         from the future: an earlier delta is missing
        └── PlanConflictError (409)       the planner found no safe plan; ``conflict`` says why
            ├── NoCommonRecoveryPointError
            └── DivergedError

``is_transient(exc)`` is the one place that classifies an exception for the retry policy.
"""

from __future__ import annotations

from typing import Any

from ...errors import NssError


class ReplicationError(NssError):
    """Base of every replication-engine error: an appliance error (code, message, details,
    status, transient) with replication's own defaults."""

    status = 500
    code = "replication-error"
    transient = False


class TransientReplicationError(ReplicationError):
    status = 503
    code = "replication-transient"
    transient = True


class PeerTransferError(TransientReplicationError):
    code = "peer-transfer-failed"


class PermanentReplicationError(ReplicationError):
    code = "replication-permanent"


class DiffInputError(PermanentReplicationError):
    status = 400
    code = "diff-input-invalid"


class PairKeyError(PermanentReplicationError):
    status = 400
    code = "pair-key-invalid"


class PolicyError(PermanentReplicationError):
    status = 400
    code = "policy-invalid"


class DeltaError(PermanentReplicationError):
    status = 422
    code = "delta-rejected"


class DeltaFormatError(DeltaError):
    code = "delta-format"


class DeltaTooLargeError(DeltaError):
    code = "delta-too-large"


class DeltaAuthError(DeltaError):
    code = "delta-auth-failed"


class DeltaMisdirectedError(DeltaAuthError):
    code = "delta-misdirected"


class DeltaSequenceError(DeltaError):
    status = 409
    code = "delta-out-of-sequence"


class DeltaReplayError(DeltaSequenceError):
    code = "delta-replayed"


class DeltaGapError(DeltaSequenceError):
    code = "delta-gap"


class PlanConflictError(PermanentReplicationError):
    """Raised by ``planner.plan_or_raise``; ``conflict`` is the planner's conflict record."""

    status = 409
    code = "replication-conflict"

    def __init__(self, message: str, *, conflict: object, **details: Any) -> None:
        super().__init__(message, **details)
        self.conflict = conflict


class NoCommonRecoveryPointError(PlanConflictError):
    code = "no-common-recovery-point"


class DivergedError(PlanConflictError):
    code = "replication-diverged"


def is_transient(exc: BaseException) -> bool:
    """True when retrying the failed operation may succeed (with backoff).

    Appliance errors carry the answer (``PeerUnreachable`` is transient); connection-level OS
    errors (refused, reset, timeout) are transient; everything else is permanent.
    """
    if isinstance(exc, NssError):
        return exc.transient
    return isinstance(exc, ConnectionError | TimeoutError)
