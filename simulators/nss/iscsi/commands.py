"""SCSI commands in flight on one connection: collecting their Data-Out, R2T bookkeeping.

A write's data arrives as immediate data, unsolicited Data-Out PDUs (when InitialR2T=No) and
solicited Data-Out answering our R2Ts. :class:`Task` gathers it into one buffer of the expected
length and notes sequence errors (a wrong DataSN or a buffer offset outside the transfer); a
task with such an error ends with CHECK CONDITION / ABORTED COMMAND rather than a write.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from .errors import ProtocolError
from .pdu import Pdu


def lun_number(field_bytes: bytes) -> int:
    """The LUN number of an 8-byte SAM LUN field (peripheral or flat addressing)."""
    method = field_bytes[0] >> 6
    if method == 0:
        return field_bytes[1]
    if method == 1:
        return ((field_bytes[0] & 0x3F) << 8) | field_bytes[1]
    return 0xFFFF  # addressing we do not offer: no such LUN


@dataclass
class Task:
    itt: int
    lun: int
    lun_field: bytes
    cdb: bytes
    edtl: int
    reading: bool
    writing: bool
    cmdsn: int
    buf: bytearray = field(default_factory=bytearray)
    received: int = 0
    next_datasn: int = 0
    sequence_error: bool = False
    ttt: int = 0xFFFFFFFF
    burst_end: int = 0
    arrived: asyncio.Event | None = None  # writes: set when a Data-Out sequence ends
    aborted: bool = False
    r2tsn: int = 0
    residual: int = 0  # > 0 underflow (less moved than expected), < 0 overflow

    def take(self, pdu: Pdu) -> None:
        """One Data-Out PDU of this task."""
        offset, datasn = pdu.u32(40), pdu.u32(36)
        if datasn != self.next_datasn:
            self.sequence_error = True
        self.next_datasn += 1
        end = offset + len(pdu.data)
        if end > self.edtl:
            raise ProtocolError(f"Data-Out for ITT 0x{self.itt:x} past its expected length")
        self.buf[offset:end] = pdu.data
        self.received += len(pdu.data)
        if pdu.flags & 0x80 and self.arrived is not None:
            self.arrived.set()

    def immediate(self, data: bytes) -> None:
        if len(data) > self.edtl:
            raise ProtocolError(f"immediate data for ITT 0x{self.itt:x} past its length")
        self.buf[:len(data)] = data
        self.received = len(data)
