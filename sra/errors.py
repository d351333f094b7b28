"""Every error and warning the SRA can answer, declared once in :data:`ERRORS` / :data:`WARNINGS`.

SRM only sees numbers: ``<Error code="N"/>``. The numbers are ours to choose; SRM learns their
meaning from ``queryErrorDefinitions``, which serves exactly the tables below, so a code can never
be answered without being declared.

The tree (``transient`` = retrying the same command later may succeed)::

    SraError                          base: code, message naming the ids involved
    ├── RequestError                  permanent: the request itself is wrong; nothing was changed
    │   ├── MalformedRequest     1001 not well-formed XML, or not a <Command>
    │   ├── ForbiddenMarkup      1002 DOCTYPE / entity declarations (XXE, billion laughs)
    │   ├── WrongNamespace       1003 root element in a foreign namespace
    │   ├── UnknownCommand       1004 <Name> not registered
    │   ├── MissingParameter     1005 a required element/attribute is absent or empty
    │   ├── InvalidParameter     1006 a value has the wrong form
    │   ├── UnknownLocale        1007 queryStrings for a locale we do not ship
    │   └── MissingConnection    1008 array command without <Connections>/<Address>/<Password>
    ├── IdentityError                 permanent: ids that do not name what they should
    │   ├── ArrayIdMismatch      2001 ArrayId is not this appliance
    │   ├── PeerArrayMismatch    2002 PeerArrayId is not paired with this appliance
    │   ├── UnknownDevice        2003 device id/key not known (or not replicated) here
    │   ├── UnknownGroup         2004 consistency group id/key not known here
    │   └── UnknownSync          2005 syncId does not name a sync job
    ├── ArrayError                    the appliance answered, or failed to
    │   ├── ArrayUnreachable     3001 transient: connection refused / timeout / 502-504 /
    │   │                             the command's deadline passed
    │   ├── ArrayAuthFailed      3002 permanent: 401/403, the token is wrong
    │   ├── ArrayRejected        3003 permanent: 4xx other than 401/403/404/409
    │   ├── ArrayNotFound        3004 permanent: 404 for an object we relied on
    │   ├── ArrayConflict        3005 transient: 409, the object is busy or in the wrong state
    │   ├── ArrayInternal        3006 transient: 500 from the appliance
    │   ├── JobFailed            3007 permanent: a long operation ended in state failed
    │   ├── PeerUnreachable      3008 transient: the appliance cannot reach its replication peer
    │   ├── QuiesceFailed        3009 transient: the Snapshot Agents could not quiesce (syncOnce)
    │   └── TlsUntrusted         3010 permanent: the appliance's certificate was not trusted
    ├── StateError                    permanent for this request: the device is in the wrong state
    │   ├── NotSource            4001 device is not the source of a replication
    │   ├── NotReplica           4002 device is not a replica (target)
    │   ├── NoRecoveryPoint      4003 the replica has no recovery point yet
    │   ├── NoInitiators         4004 an access group has no initiators to present to
    │   └── GroupSplit           4005 a member of a consistency group is named on its own
    └── InternalError        9001 a bug: details are in the log file, never in the response

Warnings (``<Warnings><Warning code="N"/></Warnings>`` next to a success):
    SyncAlreadyRunning 5001, NothingToRestore 5002, AlreadyDone 5003. (How consistent a recovery
    point is goes into the log and the point's ``Name``, never into a warning: a warning on every
    device would make SRM report every run as "completed with warnings".)

Which appliance answer becomes which error is decided in one place, :func:`sra.array.sra_error`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Definition:
    """One row of the table: what queryErrorDefinitions tells SRM about a code."""

    code: int
    name: str
    description: str
    fix_hint: str
    transient: bool = False


class SraError(Exception):
    """Base: every error the SRA answers carries a declared code and a message with the ids."""

    name = "InternalError"

    def __init__(self, message: str = "", *, details: dict | None = None) -> None:
        super().__init__(message or self.definition.description)
        self.message = message or self.definition.description
        self.details = details or {}

    @property
    def definition(self) -> Definition:
        return BY_NAME[self.name]

    @property
    def code(self) -> int:
        return self.definition.code

    @property
    def transient(self) -> bool:
        return self.definition.transient


class RequestError(SraError):
    """The request is wrong; nothing was changed."""


class IdentityError(SraError):
    """An id in the request names nothing we know, or the wrong array."""


class ArrayError(SraError):
    """The appliance refused, failed or could not be reached."""


class StateError(SraError):
    """A device or group is in a state that does not allow the operation."""


_ERRORS: list[tuple[type[SraError], int, str, str, bool]] = []


def _declare(base: type[SraError], name: str, code: int, description: str, fix_hint: str,
             transient: bool = False) -> type[SraError]:
    """Create the exception class ``name`` under ``base`` and register its table row."""
    cls = type(name, (base,), {"name": name, "__doc__": description})
    _ERRORS.append((cls, code, description, fix_hint, transient))
    return cls


MalformedRequest = _declare(
    RequestError, "MalformedRequest", 1001, "The request is not a well-formed SRA command.",
    "Check the XML that was sent to command.pl.")
ForbiddenMarkup = _declare(
    RequestError, "ForbiddenMarkup", 1002,
    "The request contains a DOCTYPE or entity declaration, which the SRA refuses.",
    "Send the command without DTDs or entities.")
WrongNamespace = _declare(
    RequestError, "WrongNamespace", 1003, "The request root is not in the SRA v2 namespace.",
    "Use xmlns=\"http://www.vmware.com/srm/sra/v2\".")
UnknownCommand = _declare(
    RequestError, "UnknownCommand", 1004, "The command name is not supported by this SRA.",
    "Run queryCapabilities to see the supported commands.")
MissingParameter = _declare(
    RequestError, "MissingParameter", 1005, "A required parameter is missing or empty.",
    "Add the parameter named in the log to the request.")
InvalidParameter = _declare(
    RequestError, "InvalidParameter", 1006, "A parameter has an invalid value.",
    "Correct the parameter named in the log.")
UnknownLocale = _declare(
    RequestError, "UnknownLocale", 1007, "The requested locale is not available.",
    "Ask for locale en.")
MissingConnection = _declare(
    RequestError, "MissingConnection", 1008,
    "The command needs an array connection (address and API token) but none was given.",
    "Configure the array manager with the appliance address and its API token as password.")
ArrayIdMismatch = _declare(
    IdentityError, "ArrayIdMismatch", 2001, "The ArrayId does not name the connected appliance.",
    "Rediscover arrays; the array manager may point at another appliance.")
PeerArrayMismatch = _declare(
    IdentityError, "PeerArrayMismatch", 2002,
    "The PeerArrayId is not paired with the connected appliance.",
    "Pair the appliances (peers) or rediscover arrays.")
UnknownDevice = _declare(
    IdentityError, "UnknownDevice", 2003, "The device is not a replicated device of this array.",
    "Rediscover devices.")
UnknownGroup = _declare(
    IdentityError, "UnknownGroup", 2004, "The consistency group is not known on this array.",
    "Rediscover devices.")
UnknownSync = _declare(
    IdentityError, "UnknownSync", 2005, "The sync id does not name a sync started by syncOnce.",
    "Run syncOnce again.")
ArrayUnreachable = _declare(
    ArrayError, "ArrayUnreachable", 3001, "The appliance could not be reached.",
    "Check the address, the network and that the appliance is running.", True)
ArrayAuthFailed = _declare(
    ArrayError, "ArrayAuthFailed", 3002, "The appliance rejected the credentials.",
    "Enter the appliance's API token as the password of the array manager.")
ArrayRejected = _declare(
    ArrayError, "ArrayRejected", 3003, "The appliance rejected the request.",
    "See the SRA log for the appliance's error code and message.")
ArrayNotFound = _declare(
    ArrayError, "ArrayNotFound", 3004, "An object the SRA needs no longer exists on the appliance.",
    "Rediscover devices.")
ArrayConflict = _declare(
    ArrayError, "ArrayConflict", 3005, "The object is busy or in the wrong state on the appliance.",
    "Wait for running operations to finish and retry.", True)
ArrayInternal = _declare(
    ArrayError, "ArrayInternal", 3006, "The appliance reported an internal error.",
    "Retry; if it persists, check the appliance logs.", True)
JobFailed = _declare(
    ArrayError, "JobFailed", 3007, "A long-running operation failed on the appliance.",
    "See the SRA log for the job id and its error.")
PeerUnreachable = _declare(
    ArrayError, "PeerUnreachable", 3008, "The appliance could not reach its replication peer.",
    "Check the other site's appliance and the link between the sites.", True)
QuiesceFailed = _declare(
    ArrayError, "QuiesceFailed", 3009,
    "The appliance could not quiesce the applications (Snapshot Agents) for the sync.",
    "Check the Snapshot Agents of the protected VMs, or sync without quiesce.", True)
TlsUntrusted = _declare(
    ArrayError, "TlsUntrusted", 3010, "The appliance's TLS certificate was not trusted.",
    "Give the appliance's CA (ca_file=) or its certificate fingerprint (fingerprint=) in the "
    "Address, or verify_tls=false.")
NotSource = _declare(
    StateError, "NotSource", 4001, "The device is not the source of a replication.",
    "Run the command at the protected site, or rediscover devices.")
NotReplica = _declare(
    StateError, "NotReplica", 4002, "The device is not a replica on this array.",
    "Run the command at the recovery site, or rediscover devices.")
NoRecoveryPoint = _declare(
    StateError, "NoRecoveryPoint", 4003, "The replica has no recovery point yet.",
    "Wait for the initial synchronization, or run syncOnce.")
NoInitiators = _declare(
    StateError, "NoInitiators", 4004, "An access group has no initiators.",
    "Add hosts with FC/iSCSI initiators to the recovery cluster.")
GroupSplit = _declare(
    StateError, "GroupSplit", 4005,
    "The device belongs to a consistency group, which is only handled as a whole.",
    "Protect and name the consistency group instead of its devices.")
InternalError = _declare(
    SraError, "InternalError", 9001, "The SRA hit an internal error.",
    "See the SRA log file for details.")

WARNINGS: tuple[Definition, ...] = (
    Definition(5001, "SyncAlreadyRunning", "A sync was already running; its handle is returned.",
               "No action needed."),
    Definition(5002, "NothingToRestore", "Replication was not split; nothing to restore.",
               "No action needed."),
    Definition(5003, "AlreadyDone", "The operation had already been done.", "No action needed."),
)

ERRORS: tuple[Definition, ...] = tuple(
    Definition(code, cls.name, description, hint, transient)
    for cls, code, description, hint, transient in _ERRORS
)
BY_NAME: dict[str, Definition] = {d.name: d for d in (*ERRORS, *WARNINGS)}
CLASSES: dict[str, type[SraError]] = {cls.name: cls for cls, *_ in _ERRORS}


def warning_code(name: str) -> int:
    """The declared code of warning ``name``."""
    return BY_NAME[name].code
