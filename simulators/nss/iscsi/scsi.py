"""The SCSI command dispatcher: one CDB in, data and status out (SAM-5 task semantics).

Handlers are plain functions registered per operation code (``@command``) in ``spc.py``,
``sbc.py`` and ``reservations.py``; each takes a :class:`Request` and returns the Data-In
bytes (the whole SCSI transfer; the connection trims it to the iSCSI expected length) or raises
a :class:`~.errors.ScsiError`. Before a handler runs, the dispatcher resolves the LUN number
through the nexus' masking view, reports a pending unit attention, and checks reservations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import NotFound, NssError, OutOfRange, ReadOnlyDevice
from ..model import Lun
from .errors import (
    INTERNAL_TARGET_FAILURE,
    INVALID_FIELD_IN_CDB,
    INVALID_OPCODE,
    LBA_OUT_OF_RANGE,
    LUN_NOT_SUPPORTED,
    WRITE_PROTECTED,
    DataProtect,
    HardwareError,
    IllegalRequest,
    UnitAttention,
)

if TYPE_CHECKING:
    from ..appliance import Appliance
    from .lunmap import Nexus
    from .reservation_state import Reservations

BLOCK = 512
Handler = Callable[["Request"], bytes]


@dataclass(frozen=True)
class Spec:
    """What REPORT SUPPORTED OPERATION CODES says about a command, and its access kind."""

    handler: Handler
    cdb_len: int
    access: str  # "read", "write" or "none" (reservation checks)
    lun_needed: bool = True
    service_action: int | None = None
    name: str = ""


COMMANDS: dict[tuple[int, int | None], Spec] = {}
UA_EXEMPT = {0x12, 0xA0, 0x03}  # INQUIRY, REPORT LUNS, REQUEST SENSE


def command(opcode: int, cdb_len: int, access: str = "none", *, lun_needed: bool = True,
            service_action: int | None = None) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        COMMANDS[(opcode, service_action)] = Spec(fn, cdb_len, access, lun_needed,
                                                  service_action, fn.__name__)
        return fn
    return register


def lookup(cdb: bytes) -> Spec | None:
    spec = COMMANDS.get((cdb[0], None))
    if spec is None and len(cdb) > 1:
        spec = COMMANDS.get((cdb[0], cdb[1] & 0x1F))
    return spec


@dataclass
class Request:
    app: Appliance
    reservations: Reservations
    nexus: Nexus
    lun_number: int
    lun: Lun | None
    cdb: bytes
    data: bytes = b""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def blocks(self) -> int:
        assert self.lun is not None
        return self.lun.size_bytes // BLOCK

    def check_range(self, lba: int, count: int) -> None:
        if lba + count > self.blocks:
            raise IllegalRequest(f"LBA {lba}+{count} is past the end ({self.blocks} blocks)",
                                 *LBA_OUT_OF_RANGE)

    def read(self, lba: int, count: int) -> bytes:
        """The LUN's bytes through the appliance's own read (TimeViews, replicas alike)."""
        lun = self.lun  # read from the store for this very command
        assert lun is not None
        return _domain(lambda: self.app.data.read(lun, lba * BLOCK, count * BLOCK))

    def write(self, lba: int, data: bytes) -> None:
        """The appliance's write: copy-on-write, dirty tracking, access checks."""
        assert self.lun is not None
        lun_id = self.lun.id
        _domain(lambda: self.app.data.write(lun_id, lba * BLOCK, data))

    def check_writable(self) -> None:
        assert self.lun is not None
        if self.lun.access != "read-write":
            raise DataProtect(f"lun {self.lun.id} is {self.lun.access} ({self.lun.role})",
                              *WRITE_PROTECTED)


def _domain(fn: Callable[[], Any]) -> Any:
    """Appliance errors seen by a SCSI command become SCSI sense."""
    try:
        return fn()
    except ReadOnlyDevice as exc:
        raise DataProtect(exc.message, *WRITE_PROTECTED) from exc
    except OutOfRange as exc:
        raise IllegalRequest(exc.message, *LBA_OUT_OF_RANGE) from exc
    except NotFound as exc:  # the LUN went away since this command started
        raise IllegalRequest(exc.message, *LUN_NOT_SUPPORTED) from exc
    except NssError as exc:
        raise HardwareError(exc.message, *INTERNAL_TARGET_FAILURE) from exc


def execute(app: Appliance, reservations: Reservations, nexus: Nexus, lun_number: int,
            cdb: bytes, data: bytes = b"") -> bytes:
    """Run one command; returns Data-In bytes or raises ScsiError."""
    spec = lookup(cdb)
    if spec is None:
        if any(op == cdb[0] for op, _ in COMMANDS):
            raise IllegalRequest(f"service action 0x{cdb[1] & 0x1F:02x} of operation code "
                                 f"0x{cdb[0]:02x} is not supported", *INVALID_FIELD_IN_CDB)
        raise IllegalRequest(f"operation code 0x{cdb[0]:02x} is not supported", *INVALID_OPCODE)
    lun_id = nexus.lun_map().get(lun_number)
    lun = None if lun_id is None else nexus.masking.records.get(lun_id)
    if lun is None and spec.lun_needed:
        raise IllegalRequest(f"LUN {lun_number} is not presented to {nexus.initiator}",
                             *LUN_NOT_SUPPORTED)
    if lun is not None and cdb[0] not in UA_EXEMPT:
        pending = nexus.take_unit_attention(lun_number)
        if pending is not None:
            raise UnitAttention("unit attention", *pending)
    if lun is not None:
        reservations.check(lun.id, nexus.key, spec.access, cdb[0])
    req = Request(app, reservations, nexus, lun_number, lun, cdb, data)
    return spec.handler(req)

