"""The SRA's side of the appliance: a client built from the request's Connection, whose every
failure arrives as an :mod:`sra.errors` error.

The HTTP work (timeouts, retries, address failover, escaping, TLS, masking) is the shared
:class:`sra.nss_client.NssClient`'s. What is the SRA's own is here: the options of the Connection
(:mod:`sra.options`), the command's total deadline, the StatusFile heartbeat on every attempt,
and :func:`sra_error`, the one place where an appliance answer becomes an SRA error code.

Imported lazily (only array verbs need it) so that query verbs start fast.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sra import errors
from sra.nss_client import NssApiError, NssClient, RetryPolicy
from sra.options import scrub, target
from sra.xmlio import Connection

# Appliance error codes (NSS-API.md error bodies) with a meaning of their own.
BY_CODE: dict[str, type[errors.SraError]] = {
    "unreachable": errors.ArrayUnreachable, "timeout": errors.ArrayUnreachable,
    "deadline": errors.ArrayUnreachable, "tls-failed": errors.ArrayUnreachable,
    "tls-untrusted": errors.TlsUntrusted,
    "invalid-id": errors.InvalidParameter, "invalid-request": errors.ArrayRejected,
    "unauthorized": errors.ArrayAuthFailed, "not-found": errors.ArrayNotFound,
    "conflict": errors.ArrayConflict, "already-exists": errors.ArrayConflict,
    "in-use": errors.ArrayConflict, "read-only-device": errors.ArrayConflict,
    "replication-conflict": errors.ArrayConflict, "quiesce-failed": errors.QuiesceFailed,
    "peer-unreachable": errors.PeerUnreachable, "peer-transfer-failed": errors.PeerUnreachable,
    "peer-refused": errors.ArrayRejected, "no-common-recovery-point": errors.NoRecoveryPoint,
    "job-failed": errors.JobFailed, "job-timeout": errors.ArrayUnreachable,
    "appliance-fault": errors.ArrayInternal, "replication-transient": errors.ArrayInternal,
}
BY_STATUS: dict[int, type[errors.SraError]] = {
    401: errors.ArrayAuthFailed, 403: errors.ArrayAuthFailed, 404: errors.ArrayNotFound,
    409: errors.ArrayConflict, 502: errors.ArrayUnreachable, 503: errors.ArrayUnreachable,
    504: errors.ArrayUnreachable,
}


def sra_error(call: str, exc: NssApiError) -> errors.SraError:
    """The one place an appliance failure becomes an SRA error: by the appliance's error code
    first, by HTTP status only when the code says nothing (a proxy's 502, say)."""
    cls = BY_CODE.get(exc.code) or BY_STATUS.get(exc.status) or (
        errors.ArrayInternal if exc.status >= 500 else errors.ArrayRejected)
    where = f"HTTP {exc.status} " if exc.status else ""
    return cls(f"{call}: {where}{exc.code}: {exc.message}".strip(),
               details={"status": exc.status, "code": exc.code, "details": exc.details})


def job_error(job: dict[str, Any]) -> errors.SraError:
    """A job that ended ``failed``: its error code decides, as for any appliance answer."""
    err = job.get("error") if isinstance(job.get("error"), dict) else {}
    return sra_error(f"job {job.get('id')}", NssApiError(
        200, str(err.get("code") or "job-failed"), str(err.get("message") or "failed")))


class ArrayClient:
    """The shared client's endpoints, each raising :mod:`sra.errors` instead of NssApiError."""

    def __init__(self, client: NssClient, log: logging.Logger) -> None:
        self.client, self.log = client, log

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                answer = method(*args, **kwargs)
            except NssApiError as exc:
                self.log.debug("%s%r failed: %s", name, args, exc)
                raise sra_error(name, exc) from None
            self.log.debug("%s%r done", name, args)
            return answer

        return call


def client_for(conn: Connection, log: logging.Logger, started: float,
               heartbeat: Callable[[], None] | None = None) -> ArrayClient:
    """The client for a request's Connection (Address(es) with options, Password = token); its
    requests stop at ``started`` + the deadline option."""
    where = target(conn)
    opts = where.options
    log.info("connection %r: %s as %r (%s)", conn.id, ", ".join(scrub(a) for a in conn.addresses),
             conn.username, opts)
    if not opts.verify_tls:
        log.warning("TLS certificates are not verified (verify_tls=false)%s",
                    "; the pinned fingerprint is checked" if opts.fingerprint else "")
    client = NssClient(list(where.urls), where.token, opts.timeout,
                       connect_timeout=min(5.0, opts.timeout),
                       retry=RetryPolicy(attempts=opts.retries), verify=opts.verify,
                       fingerprint=opts.fingerprint, deadline=started + opts.deadline,
                       on_attempt=heartbeat)
    return ArrayClient(client, log)
