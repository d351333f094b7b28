"""The one place where pyvmomi faults and socket errors become drkit errors.

Every call into vCenter goes through :func:`vsphere_call` (a context manager naming the object the
call is about), so messages say *which* VM, host, datastore or network failed. Transient faults
(busy, connection reset, timeouts) become :class:`VSphereTransientError`, and only those are
retried, by :data:`retry_transient`.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import tenacity
from pyVmomi import vim, vmodl

from orchestrator.errors import (
    OrchestratorError,
    VSphereAlreadyExists,
    VSphereAuthError,
    VSphereConnectionError,
    VSphereError,
    VSphereInvalidState,
    VSphereNotFound,
    VSphereTaskFailed,
    VSphereTransientError,
)

TRANSIENT_FAULTS: tuple[type[BaseException], ...] = (
    vim.fault.TaskInProgress,
    vim.fault.ConcurrentAccess,
    vim.fault.Timedout,
    vmodl.fault.HostCommunication,
    vmodl.fault.SystemError,
    vmodl.fault.RequestCanceled,
)
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError, socket.timeout, TimeoutError, http.client.HTTPException, ssl.SSLError,
)


def fault_message(fault: BaseException) -> str:
    """The fault's own message, without pyvmomi's multi-line dump."""
    msg = getattr(fault, "msg", None) or getattr(fault, "localizedMessage", None)
    return msg or type(fault).__name__.rsplit(".", 1)[-1]


def translate(exc: BaseException, obj: str) -> OrchestratorError:
    """Map one exception raised while working on ``obj`` to a drkit error."""
    if isinstance(exc, OrchestratorError):
        return exc
    name = type(exc).__name__.rsplit(".", 1)[-1]
    if isinstance(exc, TRANSIENT_FAULTS):
        return VSphereTransientError(f"{obj}: vCenter busy ({name}): {fault_message(exc)}", obj)
    if isinstance(exc, NETWORK_ERRORS):
        return VSphereTransientError(f"{obj}: connection to vCenter failed: {exc}", obj)
    if isinstance(exc, vim.fault.NotAuthenticated | vim.fault.InvalidLogin):
        return VSphereAuthError(f"{obj}: vCenter session not authenticated ({name})", obj)
    if isinstance(exc, vmodl.fault.ManagedObjectNotFound | vim.fault.NotFound):
        return VSphereNotFound(obj, "vCenter (it was removed or never existed)")
    if isinstance(exc, vim.fault.FileNotFound):
        return VSphereNotFound(exc.file or "file", f"the datastores of {obj}")
    if isinstance(exc, vim.fault.InvalidPowerState | vim.fault.InvalidState
                  | vim.fault.CustomizationPending | vim.fault.ToolsUnavailable):
        return VSphereInvalidState(f"{obj}: invalid state ({name}): {fault_message(exc)}", obj)
    if isinstance(exc, vim.fault.AlreadyExists | vim.fault.DuplicateName
                  | vim.fault.FileAlreadyExists):
        return VSphereAlreadyExists(f"{obj}: already exists ({name})", obj)
    if isinstance(exc, vmodl.MethodFault):
        return VSphereTaskFailed(f"{obj}: {name}: {fault_message(exc)}", obj)
    return VSphereError(f"{obj}: unexpected {name}: {exc}", obj)


@contextmanager
def vsphere_call(obj: str) -> Iterator[None]:
    """Translate whatever the body raises into a drkit error about ``obj``."""
    try:
        yield
    except OrchestratorError:
        raise
    except (vmodl.MethodFault, *NETWORK_ERRORS) as exc:
        raise translate(exc, obj) from exc


def connection_error(url: str, exc: BaseException) -> VSphereConnectionError:
    return VSphereConnectionError(f"vCenter {url} unreachable: {exc}", url)


retry_transient = tenacity.retry(
    retry=tenacity.retry_if_exception_type(VSphereTransientError),
    stop=tenacity.stop_after_attempt(4),
    wait=tenacity.wait_exponential(multiplier=0.2, max=3),
    reraise=True,
)
"""Decorator: retry a call up to 4 times while it raises transient vSphere errors."""
