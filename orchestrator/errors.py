"""The orchestrator's errors.

Every error the orchestrator raises is an :class:`OrchestratorError` and is either transient
(worth retrying: the same call may succeed later) or permanent (retrying cannot help; the input or
the environment must change). Retry loops test ``isinstance(err, TransientError)`` and nothing
else. Messages name the object involved (VM, host, network, datastore, device WWN) and never
contain secrets.

::

    OrchestratorError
    ├── TransientError
    │   └── VSphereTransientError          vCenter busy, connection reset, task timed out
    │       └── DeviceNotFound             a device did not appear after rescans (names the WWN)
    └── PermanentError
        └── VSphereError                   base of permanent vSphere failures (names the object)
            ├── VSphereConnectionError     vCenter unreachable (names the URL)
            ├── VSphereAuthError           wrong credentials (names the user, never the password)
            ├── VSphereNotFound            a named object does not exist
            │   ├── VMNotFound
            │   ├── HostNotFound
            │   ├── NetworkNotFound
            │   └── DatastoreNotFound
            ├── VSphereInvalidState        e.g. powering on a VM that is on
            ├── VSphereAlreadyExists       e.g. registering a VM that is registered
            ├── VSphereTaskFailed          any other fault of a vCenter task or call
            ├── InvalidWwn                 (vsphere/protection.py) not a device WWN
            └── StandInError               (vsphere/standin.py) vcsim tar stand-in misuse
                └── NoDatastoreOnDevice    the device holds no datastore (a raw/RDM device)

``DeviceNotFound`` is transient while the caller is still willing to wait: the device may appear on
the next rescan. The adapter raises it once its own wait deadline passes.
"""

from __future__ import annotations


class OrchestratorError(Exception):
    """Base of every orchestrator error; ``transient`` mirrors the TransientError branch."""

    transient = False


class TransientError(OrchestratorError):
    """The same operation may succeed if retried later."""

    transient = True


class PermanentError(OrchestratorError):
    """Retrying cannot help; the input or the environment must change."""


class VSphereTransientError(TransientError):
    """A transient vSphere failure (busy, connection reset, timeout)."""

    def __init__(self, message: str, obj: str | None = None) -> None:
        super().__init__(message)
        self.obj = obj


class DeviceNotFound(VSphereTransientError):
    """A storage device (by WWN) is not visible to the host after rescanning."""

    def __init__(self, wwn: str, host: str, waited_s: float) -> None:
        super().__init__(
            f"device {wwn} did not appear on host {host!r} after {waited_s:.1f}s of rescans",
            obj=wwn,
        )
        self.wwn = wwn
        self.host = host


class VSphereError(PermanentError):
    """A permanent vSphere failure; ``obj`` names the object involved."""

    def __init__(self, message: str, obj: str | None = None) -> None:
        super().__init__(message)
        self.obj = obj


class VSphereConnectionError(VSphereError):
    """vCenter could not be reached."""


class VSphereAuthError(VSphereError):
    """vCenter refused the credentials."""


class VSphereNotFound(VSphereError):
    """A named vSphere object does not exist."""

    kind = "object"

    def __init__(self, name: str, where: str = "") -> None:
        place = f" in {where}" if where else ""
        super().__init__(f"{self.kind} {name!r} not found{place}", obj=name)
        self.name = name


class VMNotFound(VSphereNotFound):
    kind = "VM"


class HostNotFound(VSphereNotFound):
    kind = "host"


class NetworkNotFound(VSphereNotFound):
    kind = "network"


class DatastoreNotFound(VSphereNotFound):
    kind = "datastore"


class VSphereInvalidState(VSphereError):
    """The object is in the wrong state for the operation."""


class VSphereAlreadyExists(VSphereError):
    """The object to create or register already exists."""


class VSphereTaskFailed(VSphereError):
    """Any other vSphere fault."""
