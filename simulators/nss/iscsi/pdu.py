"""iSCSI PDUs (RFC 7143 section 11): the 48-byte Basic Header Segment, data, digests.

A :class:`Pdu` is a mutable BHS plus its data segment. Readers take fields by offset with
``struct``; builders fill a fresh BHS. Digests are CRC32C over the header (and AHS) and over the
padded data, each sent after its segment when negotiated.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field

import crc32c

from .errors import ProtocolError

BHS_LEN = 48
NO_TAG = 0xFFFFFFFF

# Initiator opcodes.
NOP_OUT, SCSI_CMD, TMF_REQ, LOGIN_REQ, TEXT_REQ, DATA_OUT, LOGOUT_REQ, SNACK = (
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x10)
# Target opcodes.
NOP_IN, SCSI_RSP, TMF_RSP, LOGIN_RSP, TEXT_RSP, DATA_IN, LOGOUT_RSP, R2T, ASYNC, REJECT = (
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x31, 0x32, 0x3F)

FINAL = 0x80
_U32 = struct.Struct(">I")


def digest(data: bytes | memoryview) -> bytes:
    """The CRC32C digest as sent on the wire (little-endian, RFC 7143 13.1)."""
    return crc32c.crc32c(data).to_bytes(4, "little")


def pad4(n: int) -> int:
    return (-n) % 4


@dataclass
class Pdu:
    bhs: bytearray
    data: bytes = b""
    ahs: bytes = field(default=b"")

    @property
    def opcode(self) -> int:
        return self.bhs[0] & 0x3F

    @property
    def immediate(self) -> bool:
        return bool(self.bhs[0] & 0x40)

    @property
    def flags(self) -> int:
        return self.bhs[1]

    @property
    def lun_field(self) -> bytes:
        return bytes(self.bhs[8:16])

    def u32(self, offset: int) -> int:
        return _U32.unpack_from(self.bhs, offset)[0]

    def u16(self, offset: int) -> int:
        return int.from_bytes(self.bhs[offset:offset + 2], "big")

    @property
    def itt(self) -> int:
        return self.u32(16)

    @property
    def cmdsn(self) -> int:
        return self.u32(24)

    @property
    def exp_statsn(self) -> int:
        return self.u32(28)


def new_bhs(opcode: int, flags: int = FINAL) -> bytearray:
    bhs = bytearray(BHS_LEN)
    bhs[0], bhs[1] = opcode, flags
    return bhs


def put32(bhs: bytearray, offset: int, value: int) -> None:
    _U32.pack_into(bhs, offset, value & 0xFFFFFFFF)


def encode(bhs: bytearray, data: bytes | memoryview = b"", *, header_digest: bool = False,
           data_digest: bool = False) -> list[bytes | memoryview]:
    """The pieces to write for one PDU (data left unjoined: no copy of large payloads)."""
    n = len(data)
    bhs[4] = 0
    bhs[5:8] = n.to_bytes(3, "big")
    parts: list[bytes | memoryview] = [bytes(bhs)]
    if header_digest:
        parts.append(digest(parts[0]))
    if n:
        parts.append(data)
        pad = pad4(n)
        if pad:
            parts.append(bytes(pad))
        if data_digest:
            parts.append(digest(bytes(data) + bytes(pad)))
    return parts


async def read_pdu(reader: asyncio.StreamReader, *, header_digest: bool = False,
                   data_digest: bool = False, max_data: int = 16 * 2**20) -> Pdu:
    """Read one PDU; raises ``asyncio.IncompleteReadError`` at EOF, ProtocolError if bad."""
    bhs = bytearray(await reader.readexactly(BHS_LEN))
    ahs_len = bhs[4] * 4
    data_len = int.from_bytes(bhs[5:8], "big")
    if data_len > max_data:
        raise ProtocolError(f"data segment of {data_len} bytes exceeds {max_data}")
    ahs = await reader.readexactly(ahs_len) if ahs_len else b""
    if header_digest:
        got = await reader.readexactly(4)
        if got != digest(bytes(bhs) + ahs):
            raise ProtocolError("header digest mismatch")
    data = b""
    if data_len:
        raw = await reader.readexactly(data_len + pad4(data_len))
        if data_digest:
            got = await reader.readexactly(4)
            if got != digest(raw):
                raise ProtocolError("data digest mismatch")
        data = raw[:data_len] if pad4(data_len) else raw
    return Pdu(bhs, data, ahs)
