"""SBC-3 block commands: READ/WRITE/VERIFY 10/12/16, WRITE SAME, UNMAP, COMPARE AND WRITE,
READ CAPACITY, SYNCHRONIZE CACHE.

Every byte goes through the appliance's data path (``Request.read``/``Request.write``), so
copy-on-write for snapshots, dirty tracking for replication and TimeView overlays apply to
iSCSI exactly as to REST. Large ranges move in pieces of at most ``PIECE`` bytes.
"""

from __future__ import annotations

import struct

from .errors import (
    MISCOMPARE_DURING_VERIFY,
    PARAMETER_LIST_LENGTH_ERROR,
    Miscompare,
    illegal,
)
from .scsi import BLOCK, Request, command

PIECE = 4 * 2**20
ZEROS = bytes(PIECE)


def _lba_len(cdb: bytes) -> tuple[int, int]:
    """(LBA, transfer length) of a 10-, 12- or 16-byte read/write CDB."""
    if len(cdb) >= 16 and cdb[0] >> 5 == 4:
        return struct.unpack_from(">QI", cdb, 2)
    if cdb[0] >> 5 == 5:
        return struct.unpack_from(">II", cdb, 2)
    lba, count = struct.unpack_from(">IxH", cdb, 2)
    return lba, count


def _no_protection(req: Request) -> None:
    if req.cdb[1] & 0xE0:
        raise illegal("protection information is not supported (RDPROTECT/WRPROTECT)")


@command(0x28, 10, "read")
@command(0xA8, 12, "read")
@command(0x88, 16, "read")
def read(req: Request) -> bytes:
    _no_protection(req)
    lba, count = _lba_len(req.cdb)
    req.check_range(lba, count)
    return req.read(lba, count) if count else b""


@command(0x2A, 10, "write")
@command(0xAA, 12, "write")
@command(0x8A, 16, "write")
@command(0x2E, 10, "write")
@command(0xAE, 12, "write")
@command(0x8E, 16, "write")
def write(req: Request) -> bytes:
    _no_protection(req)
    lba, count = _lba_len(req.cdb)
    req.check_range(lba, count)
    req.check_writable()
    data = req.data if len(req.data) == count * BLOCK else req.data[:count * BLOCK]
    tail = len(data) % BLOCK
    if tail:  # iSCSI sent less than the CDB asked (a residual): keep the block's other bytes
        whole = len(data) - tail
        data = data[:whole] + data[whole:] + req.read(lba + whole // BLOCK, 1)[tail:]
    if data:
        req.write(lba, data)
    return b""


@command(0x2F, 10, "read")
@command(0xAF, 12, "read")
@command(0x8F, 16, "read")
def verify(req: Request) -> bytes:
    _no_protection(req)
    lba, count = _lba_len(req.cdb)
    req.check_range(lba, count)
    if (req.cdb[1] >> 1) & 0x03 == 1 and count:
        _compare(req.read(lba, count), req.data[:count * BLOCK])
    return b""


def _compare(have: bytes, want: bytes) -> None:
    if have == want:
        return
    first = next(i for i, (a, b) in enumerate(zip(have, want, strict=False)) if a != b)
    raise Miscompare(f"miscompare at byte {first}", *MISCOMPARE_DURING_VERIFY, info=first)


@command(0x89, 16, "write")
def compare_and_write(req: Request) -> bytes:
    _no_protection(req)
    lba, count = struct.unpack_from(">Q", req.cdb, 2)[0], req.cdb[13]
    req.check_range(lba, count)
    size = count * BLOCK
    if len(req.data) != 2 * size:
        raise illegal(f"COMPARE AND WRITE: {len(req.data)} bytes sent, {2 * size} expected")
    if count == 0:
        return b""
    req.check_writable()
    with req.app.ctx.io_lock:  # compare and write are one atomic step for other writers
        _compare(req.read(lba, count), req.data[:size])
        req.write(lba, req.data[size:])
    return b""


@command(0x41, 10, "write")
@command(0x93, 16, "write")
def write_same(req: Request) -> bytes:
    _no_protection(req)
    flags = req.cdb[1]
    if req.cdb[0] == 0x41:
        lba, count = struct.unpack_from(">IxH", req.cdb, 2)
    else:
        lba, count = struct.unpack_from(">QI", req.cdb, 2)
    if flags & 0x10:
        raise illegal("WRITE SAME: ANCHOR is not supported")
    if count == 0:
        count = max(req.blocks - lba, 0)
    req.check_range(lba, count)
    req.check_writable()
    ndob = req.cdb[0] == 0x93 and flags & 0x01
    block = bytes(BLOCK) if ndob else req.data[:BLOCK]
    if len(block) != BLOCK:
        raise illegal("WRITE SAME: one block of data expected", PARAMETER_LIST_LENGTH_ERROR)
    if flags & 0x08:  # UNMAP: the blocks are deallocated, and read back as zeros (LBPRZ)
        block = bytes(BLOCK)
    _fill(req, lba, count, block)
    return b""


def _fill(req: Request, lba: int, count: int, block: bytes) -> None:
    per_piece = PIECE // BLOCK
    zeros = not any(block)
    pattern = ZEROS if zeros else block * per_piece
    while count:
        n = min(count, per_piece)
        piece = pattern[:n * BLOCK]
        if not (zeros and req.read(lba, n) == piece):  # zeros over zeros: nothing to allocate
            req.write(lba, piece)
        lba, count = lba + n, count - n


@command(0x42, 10, "write")
def unmap(req: Request) -> bytes:
    if req.cdb[1] & 0x01:
        raise illegal("UNMAP: ANCHOR is not supported")
    data = req.data
    if not data:
        return b""
    if len(data) < 8:
        raise illegal("UNMAP: parameter list shorter than its header", PARAMETER_LIST_LENGTH_ERROR)
    desc_len = struct.unpack_from(">H", data, 2)[0]
    if desc_len % 16 or 8 + desc_len > len(data):
        raise illegal("UNMAP: block descriptor data length is wrong",
                      PARAMETER_LIST_LENGTH_ERROR)
    ranges = [struct.unpack_from(">QI", data, 8 + i) for i in range(0, desc_len, 16)]
    for lba, count in ranges:
        req.check_range(lba, count)
    if ranges:
        req.check_writable()
    for lba, count in ranges:
        if count:
            _fill(req, lba, count, bytes(BLOCK))
    return b""


@command(0x25, 10)
def read_capacity10(req: Request) -> bytes:
    last = min(req.blocks - 1, 0xFFFFFFFF)
    return struct.pack(">II", last, BLOCK)


@command(0x9E, 16, service_action=0x10)
def read_capacity16(req: Request) -> bytes:
    out = bytearray(32)
    struct.pack_into(">QI", out, 0, req.blocks - 1, BLOCK)
    out[14] = 0xC0  # LBPME (thin), LBPRZ (unmapped blocks read as zeros)
    return bytes(out[:struct.unpack_from(">I", req.cdb, 10)[0]])


@command(0x35, 10)
@command(0x91, 16)
def synchronize_cache(req: Request) -> bytes:
    """Every acknowledged write is already in the kernel (and on disk with ``--fsync``)."""
    lba, count = _lba_len(req.cdb) if req.cdb[0] == 0x35 else struct.unpack_from(
        ">QI", req.cdb, 2)
    req.check_range(lba, count)
    return b""


@command(0x1B, 6)
def start_stop_unit(req: Request) -> bytes:
    return b""



@command(0x9E, 16, service_action=0x12)
def get_lba_status(req: Request) -> bytes:
    """Every block reports as mapped: a safe answer that never claims zeros it did not check."""
    lba, length = struct.unpack_from(">QI", req.cdb, 2)
    req.check_range(lba, 1)
    count = min(req.blocks - lba, 0xFFFFFFFF)
    desc = struct.pack(">QIB3x", lba, count, 0)
    return (struct.pack(">I4x", 4 + len(desc)) + desc)[:length]
