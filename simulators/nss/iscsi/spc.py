"""SPC-4 primary commands: INQUIRY and its VPD pages, REPORT LUNS, MODE SENSE, REQUEST SENSE,
TEST UNIT READY, REPORT SUPPORTED OPERATION CODES.

The LUN's identity comes from the appliance: VPD 0x80 is its id, VPD 0x83 its NAA WWN exactly
as the REST API and the SRA report it, so a host that rescans finds the device the SRA named.
"""

from __future__ import annotations

import struct

from .errors import INVALID_FIELD_IN_CDB, illegal
from .scsi import BLOCK, COMMANDS, Request, command, lookup

VENDOR = b"DRKIT   "
PRODUCT = b"NSS-SIM LUN     "
REVISION = b"0001"
MAX_TRANSFER_BLOCKS = 16384  # 8 MiB
OPTIMAL_BLOCKS = 128  # 64 KiB: the appliance's copy-on-write chunk
MAX_UNMAP_BLOCKS = 1 << 20
MAX_UNMAP_DESCRIPTORS = 64
VERSION_DESCRIPTORS = (0x00A0, 0x0960, 0x0460, 0x04C0)  # SAM-5, iSCSI, SPC-4, SBC-3
VPD_PAGES = (0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2)


def alloc(data: bytes, length: int) -> bytes:
    return data[:length]


def u16(cdb: bytes, at: int) -> int:
    return int.from_bytes(cdb[at:at + 2], "big")


def u32(cdb: bytes, at: int) -> int:
    return int.from_bytes(cdb[at:at + 4], "big")


@command(0x00, 6)
def test_unit_ready(req: Request) -> bytes:
    return b""


@command(0x12, 6, lun_needed=False)
def inquiry(req: Request) -> bytes:
    evpd, page, length = req.cdb[1] & 1, req.cdb[2], u16(req.cdb, 3)
    if not evpd and page:
        raise illegal("INQUIRY: page code without EVPD")
    if not evpd:
        return alloc(standard_inquiry(req), length)
    if req.lun is None:
        raise illegal("INQUIRY: no logical unit at this LUN")
    builder = VPD.get(page)
    if builder is None:
        raise illegal(f"INQUIRY: VPD page 0x{page:02x} is not supported")
    body = builder(req)
    return alloc(bytes([0, page]) + len(body).to_bytes(2, "big") + body, length)


def standard_inquiry(req: Request) -> bytes:
    out = bytearray(96)
    out[0] = 0x00 if req.lun is not None else 0x7F  # block device / no LU here
    out[2], out[3], out[4] = 0x06, 0x12, 91  # SPC-4, HiSup + response format 2
    out[5] = 0x00
    out[7] = 0x02  # CmdQue
    out[8:16], out[16:32], out[32:36] = VENDOR, PRODUCT, REVISION
    for i, desc in enumerate(VERSION_DESCRIPTORS):
        out[58 + 2 * i:60 + 2 * i] = desc.to_bytes(2, "big")
    return bytes(out)


def vpd_supported(req: Request) -> bytes:
    return bytes(VPD_PAGES)


def vpd_serial(req: Request) -> bytes:
    assert req.lun is not None
    return req.lun.id.encode()


def vpd_identification(req: Request) -> bytes:
    """The NAA-6 WWN (binary), plus the target's name as a SCSI name string."""
    assert req.lun is not None
    naa = bytes.fromhex(req.lun.wwn)
    out = bytes([0x01, 0x03, 0x00, len(naa)]) + naa  # binary, LU association, NAA
    name = req.extra.get("target_name") or req.nexus.target_name
    padded = name.encode() + bytes(4 - len(name) % 4)
    out += bytes([0x53, 0xA8, 0x00, len(padded)]) + padded  # iSCSI, UTF-8, target, name
    return out


def vpd_block_limits(req: Request) -> bytes:
    out = bytearray(60)
    # WSNZ stays clear: WRITE SAME of 0 blocks means "to the end of the LUN"
    out[1] = 255  # maximum COMPARE AND WRITE length
    struct.pack_into(">HII", out, 2, 1, MAX_TRANSFER_BLOCKS, OPTIMAL_BLOCKS)
    struct.pack_into(">III", out, 16, MAX_UNMAP_BLOCKS, MAX_UNMAP_DESCRIPTORS, 1)
    struct.pack_into(">Q", out, 32, MAX_UNMAP_BLOCKS)  # maximum WRITE SAME length
    return bytes(out)


def vpd_characteristics(req: Request) -> bytes:
    out = bytearray(60)
    out[0:2] = (1).to_bytes(2, "big")  # non-rotating medium
    return bytes(out)


def vpd_provisioning(req: Request) -> bytes:
    # threshold exponent 0; LBPU, LBPWS, LBPWS10, LBPRZ; thin provisioned
    return bytes([0, 0xE0 | 0x04, 0x02, 0])


VPD = {0x00: vpd_supported, 0x80: vpd_serial, 0x83: vpd_identification,
       0xB0: vpd_block_limits, 0xB1: vpd_characteristics, 0xB2: vpd_provisioning}


@command(0xA0, 12, lun_needed=False)
def report_luns(req: Request) -> bytes:
    if req.cdb[2] not in (0, 1, 2):
        raise illegal(f"REPORT LUNS: select report 0x{req.cdb[2]:02x} is not supported")
    if u32(req.cdb, 6) < 16:
        raise illegal("REPORT LUNS: allocation length below 16")
    req.nexus.clear_luns_changed()
    numbers = sorted(req.nexus.lun_map())
    body = b"".join(_lun_address(n) for n in numbers)
    return alloc(len(body).to_bytes(4, "big") + bytes(4) + body, u32(req.cdb, 6))


def _lun_address(number: int) -> bytes:
    if number < 256:
        return bytes([0, number]) + bytes(6)
    return bytes([0x40 | (number >> 8), number & 0xFF]) + bytes(6)


@command(0x03, 6, lun_needed=False)
def request_sense(req: Request) -> bytes:
    if req.cdb[1] & 1:
        raise illegal("REQUEST SENSE: descriptor format is not supported")
    out = bytearray(18)
    out[0], out[7] = 0x70, 10
    pending = req.nexus.take_unit_attention(req.lun_number) if req.lun else None
    if req.lun is None:
        out[2], out[12] = 0x05, 0x25
    elif pending is not None:
        out[2], out[12], out[13] = 0x06, pending[0], pending[1]
    return alloc(bytes(out), req.cdb[4])


# ------------------------------------------------------------------ MODE SENSE
def _caching_page() -> bytes:
    page = bytearray(20)
    page[0], page[1], page[2] = 0x08, 0x12, 0x04  # WCE: writes land in the kernel's cache
    return bytes(page)


def _control_page() -> bytes:
    page = bytearray(12)
    page[0], page[1] = 0x0A, 0x0A
    page[3] = 0x10  # QAM: unrestricted reordering
    page[8:10] = b"\xff\xff"  # busy timeout: unlimited
    return bytes(page)


def _exceptions_page() -> bytes:
    return bytes([0x1C, 0x0A]) + bytes(10)


MODE_PAGES = {0x08: _caching_page, 0x0A: _control_page, 0x1C: _exceptions_page}


def _mode_pages(page: int, subpage: int, pc: int) -> bytes:
    if subpage not in (0x00, 0xFF) or pc == 3:
        raise illegal("MODE SENSE: subpages and saved values are not supported")
    if page == 0x3F:
        pages = b"".join(fn() for fn in MODE_PAGES.values())
    elif page in MODE_PAGES:
        pages = MODE_PAGES[page]()
    else:
        raise illegal(f"MODE SENSE: page 0x{page:02x} is not supported")
    if pc == 1:  # changeable values: none are
        pages = b"".join(p[:2] + bytes(len(p) - 2) for p in _split(pages))
    return pages


def _split(pages: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(pages):
        out.append(pages[i:i + 2 + pages[i + 1]])
        i += 2 + pages[i + 1]
    return out


def _device_specific(req: Request) -> int:
    assert req.lun is not None
    return (0x80 if req.lun.access != "read-write" else 0) | 0x10  # WP, DPOFUA


def _block_descriptor(req: Request) -> bytes:
    return min(req.blocks, 0xFFFFFFFF).to_bytes(4, "big") + (BLOCK).to_bytes(4, "big")


@command(0x1A, 6)
def mode_sense6(req: Request) -> bytes:
    dbd, pc, page = req.cdb[1] & 0x08, req.cdb[2] >> 6, req.cdb[2] & 0x3F
    pages = _mode_pages(page, req.cdb[3], pc)
    desc = b"" if dbd else _block_descriptor(req)
    header = bytes([3 + len(desc) + len(pages), 0, _device_specific(req), len(desc)])
    return alloc(header + desc + pages, req.cdb[4])


@command(0x5A, 10)
def mode_sense10(req: Request) -> bytes:
    dbd, pc, page = req.cdb[1] & 0x08, req.cdb[2] >> 6, req.cdb[2] & 0x3F
    pages = _mode_pages(page, req.cdb[3], pc)
    desc = b"" if dbd else _block_descriptor(req)
    header = struct.pack(">HBBHH", 6 + len(desc) + len(pages), 0, _device_specific(req), 0,
                         len(desc))
    return alloc(header + desc + pages, u16(req.cdb, 7))


# ------------------------------------------------------- REPORT SUPPORTED OPCODES
TIMEOUTS = bytes([0x00, 0x0A]) + bytes(10)


@command(0xA3, 12, lun_needed=False, service_action=0x0C)
def report_supported_opcodes(req: Request) -> bytes:
    option, rctd = req.cdb[2] & 0x07, bool(req.cdb[2] & 0x80)
    length = u32(req.cdb, 6)
    if option == 0:
        return alloc(_all_commands(rctd), length)
    if option not in (1, 2):
        raise illegal(f"REPORT SUPPORTED OPERATION CODES: option {option} is not supported")
    return alloc(_one_command(req.cdb[3], u16(req.cdb, 4), option, rctd), length)


def _all_commands(rctd: bool) -> bytes:
    body = bytearray()
    for (opcode, sa), spec in sorted(COMMANDS.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        flags = (0x01 if sa is not None else 0) | (0x02 if rctd else 0)
        body += struct.pack(">BBHBBH", opcode, 0, sa or 0, 0, flags, spec.cdb_len)
        if rctd:
            body += TIMEOUTS
    return len(body).to_bytes(4, "big") + bytes(body)


def _one_command(opcode: int, sa: int, option: int, rctd: bool) -> bytes:
    has_sa = any(op == opcode and s is not None for op, s in COMMANDS)
    if (option == 1) == has_sa and any(op == opcode for op, _ in COMMANDS):
        raise illegal("REPORT SUPPORTED OPERATION CODES: reporting option does not match "
                      "whether the command has service actions", INVALID_FIELD_IN_CDB)
    spec = lookup(bytes([opcode, sa & 0x1F])) if option == 2 else COMMANDS.get((opcode, None))
    if spec is None:
        return bytes([0, 0x01 | (0x80 if rctd else 0), 0, 0])
    usage = bytes([opcode]) + b"\xff" * (spec.cdb_len - 2) + b"\x00"
    if spec.service_action is not None:
        usage = usage[:1] + bytes([spec.service_action]) + usage[2:]
    head = bytes([0, 0x03 | (0x80 if rctd else 0)]) + len(usage).to_bytes(2, "big")
    return head + usage + (TIMEOUTS if rctd else b"")
