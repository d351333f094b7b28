"""Errors of the iSCSI target.

Each kind of failure ends in exactly one answer on the wire; ``connection.py`` is the one place
that turns an error into that answer.

    IscsiError
    ├── ProtocolError          the initiator broke RFC 7143 (bad PDU, digest error): the
    │                          connection is dropped, as error recovery level 0 asks
    ├── LoginRefused           status class and detail of a Login Response that ends the login
    │   └── NegotiationError   a key's value is malformed or cannot be agreed
    └── ScsiError              a command's status other than GOOD, sent in a SCSI Response
        ├── CheckCondition     status 0x02 with fixed-format sense: key, ASC, ASCQ
        │   ├── IllegalRequest     key 0x5 (bad opcode, field, LBA range, LUN)
        │   ├── DataProtect        key 0x7 (write to a read-only LUN, replica or TimeView)
        │   ├── UnitAttention      key 0x6 (e.g. REPORTED LUNS DATA HAS CHANGED)
        │   ├── Miscompare         key 0xE (COMPARE AND WRITE found other bytes)
        │   ├── AbortedCommand     key 0xB (a data sequence error of the initiator)
        │   └── HardwareError      key 0x4 (the appliance failed: INTERNAL TARGET FAILURE)
        └── ReservationConflict    status 0x18, no sense data

All are permanent for the command that raised them; none is retried by the target.
"""

from __future__ import annotations


class IscsiError(Exception):
    """Base of every error of the iSCSI package."""


class ProtocolError(IscsiError):
    """The initiator sent something RFC 7143 forbids; the connection ends."""


class LoginRefused(IscsiError):
    """The login ends with this status (RFC 7143 11.13.5)."""

    def __init__(self, message: str, status_class: int = 2, status_detail: int = 0) -> None:
        super().__init__(message)
        self.status_class = status_class
        self.status_detail = status_detail


class NegotiationError(LoginRefused):
    """A login or text key could not be agreed (initiator error, missing parameter)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 2, 7)


class ScsiError(IscsiError):
    """A SCSI status other than GOOD."""

    status = 0x02

    def sense(self) -> bytes:
        return b""


class ReservationConflict(ScsiError):
    status = 0x18


class CheckCondition(ScsiError):
    """CHECK CONDITION with fixed-format sense data (SPC-4 4.5.3)."""

    key = 0x0

    def __init__(self, message: str, asc: int, ascq: int = 0, info: int | None = None) -> None:
        super().__init__(message)
        self.asc = asc
        self.ascq = ascq
        self.info = info

    def sense(self) -> bytes:
        out = bytearray(18)
        out[0] = 0x70 | (0x80 if self.info is not None else 0)
        out[2] = self.key
        if self.info is not None:
            out[3:7] = (self.info & 0xFFFFFFFF).to_bytes(4, "big")
        out[7] = 10
        out[12], out[13] = self.asc, self.ascq
        return bytes(out)


class IllegalRequest(CheckCondition):
    key = 0x5


class DataProtect(CheckCondition):
    key = 0x7


class UnitAttention(CheckCondition):
    key = 0x6


class Miscompare(CheckCondition):
    key = 0xE


class AbortedCommand(CheckCondition):
    key = 0xB


class HardwareError(CheckCondition):
    key = 0x4


# The additional sense codes this target raises (SPC-4 annex D), as (ASC, ASCQ).
INVALID_OPCODE = (0x20, 0x00)
LBA_OUT_OF_RANGE = (0x21, 0x00)
INVALID_FIELD_IN_CDB = (0x24, 0x00)
LUN_NOT_SUPPORTED = (0x25, 0x00)
INVALID_FIELD_IN_PARAMETERS = (0x26, 0x00)
PARAMETER_LIST_LENGTH_ERROR = (0x1A, 0x00)
WRITE_PROTECTED = (0x27, 0x00)
REPORTED_LUNS_CHANGED = (0x3F, 0x0E)
MISCOMPARE_DURING_VERIFY = (0x1D, 0x00)
INVALID_FIELD_IN_IU = (0x0E, 0x03)
DATA_PHASE_ERROR = (0x4B, 0x00)
INSUFFICIENT_REGISTRATION = (0x55, 0x04)
INTERNAL_TARGET_FAILURE = (0x44, 0x00)


def illegal(message: str, code: tuple[int, int] = INVALID_FIELD_IN_CDB) -> IllegalRequest:
    return IllegalRequest(message, *code)
