"""Errors of the NSS appliance simulator.

Every error a client can cause or observe has a stable ``code`` (part of the REST contract) and
the HTTP status the REST layer answers with. The REST layer maps them in exactly one place
(``api/errors.py``); domain code raises these and knows nothing about HTTP.

    NssError                          code, message, details, status
    ├── InvalidRequest (400)          bad field values, alignment, ranges
    │   ├── MisalignedIO              offset/length not multiples of 512
    │   └── OutOfRange                I/O past the end of the device
    ├── PeerCertificateMismatch (400) the peer's TLS certificate is not the confirmed one
    ├── PairingRefused (4xx)          the peer refused a handshake: its status passed through
    ├── Unauthorized (401)
    ├── NotFound (404)                unknown id of any kind
    ├── Conflict (409)                the request is valid but the state forbids it
    │   ├── AlreadyExists             duplicate name / initiator
    │   ├── ReadOnlyDevice            write to a read-only device
    │   ├── InUse                     delete of an object others depend on
    │   ├── LimitReached              e.g. the 256th snapshot of a LUN
    │   └── NoQuiesceAgent            quiesce with policy "fail" and no agent for the LUNs
    ├── PayloadTooLarge (413)
    ├── ApplianceFault (500/503)      our own failure; ``transient`` says whether a retry may help
    │   ├── PeerUnreachable (503)     transient: the replication peer did not answer
    │   ├── SealError                 a sealed secret does not open with the key (sealing.py)
    │   └── QuiesceFailed (503)       transient: an agent did not freeze in time (agents.py)
    ├── PeerRefused (502)             the peer answered an error outside pairing (peers.py)
    └── ReplicationError              MicroScan, wire format, planner (replication/logic/errors.py)

PeerCertificateMismatch, PairingRefused and PeerRefused live in ``replication/peers.py``;
``api/errors.py`` also answers 400 ``unstorable-value`` for numbers past 64 bits and text with
lone surrogates.

Permanent errors are everything but ``ApplianceFault(transient=True)``: retrying them changes
nothing until the request or the state changes.
"""

from __future__ import annotations

from typing import Any


class NssError(Exception):
    """Base of every appliance error: a stable code, a message naming the ids involved."""

    status = 500
    code = "appliance-fault"
    transient = False

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidRequest(NssError):
    status = 400
    code = "invalid-request"


class MisalignedIO(InvalidRequest):
    code = "misaligned-io"


class OutOfRange(InvalidRequest):
    code = "out-of-range"


class Unauthorized(NssError):
    status = 401
    code = "unauthorized"


class NotFound(NssError):
    status = 404
    code = "not-found"


class Conflict(NssError):
    status = 409
    code = "conflict"


class AlreadyExists(Conflict):
    code = "already-exists"


class ReadOnlyDevice(Conflict):
    code = "read-only-device"


class InUse(Conflict):
    code = "in-use"


class LimitReached(Conflict):
    code = "limit-reached"


class NoQuiesceAgent(Conflict):
    """A failed precondition the client can fix (register an agent), not an outage."""

    code = "no-quiesce-agent"


class PayloadTooLarge(NssError):
    status = 413
    code = "payload-too-large"


class ApplianceFault(NssError):
    status = 500
    code = "appliance-fault"


class PeerUnreachable(ApplianceFault):
    status = 503
    code = "peer-unreachable"
    transient = True


def not_found(kind: str, ident: str) -> NotFound:
    """The one way to say an id is unknown: ``lun 'lun-1a2b' not found``."""
    return NotFound(f"{kind} {ident!r} not found", code=f"{kind.replace(' ', '-')}-not-found",
                    id=ident)
