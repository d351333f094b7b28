"""How many Data-Out bytes a CDB itself asks for (SBC-3/SPC-4), to compare with iSCSI's
expected data transfer length; ``None`` where the CDB does not say (COMPARE AND WRITE checks
its own length: a mismatch there is an invalid field in the CDB)."""

from __future__ import annotations

BLOCK = 512
WRITES = {0x2A: 10, 0xAA: 12, 0x8A: 16, 0x2E: 10, 0xAE: 12, 0x8E: 16}
VERIFIES = {0x2F: 10, 0xAF: 12, 0x8F: 16}


def _count(cdb: bytes, size: int) -> int:
    if size == 10:
        return int.from_bytes(cdb[7:9], "big")
    if size == 12:
        return int.from_bytes(cdb[6:10], "big")
    return int.from_bytes(cdb[10:14], "big")


def data_out_length(cdb: bytes) -> int | None:
    op = cdb[0]
    if op in WRITES:
        return _count(cdb, WRITES[op]) * BLOCK
    if op in VERIFIES:
        return _count(cdb, VERIFIES[op]) * BLOCK if (cdb[1] >> 1) & 3 == 1 else 0
    if op == 0x93 and cdb[1] & 0x01:
        return 0
    if op in (0x41, 0x93):
        return BLOCK
    if op == 0x42:
        return int.from_bytes(cdb[7:9], "big")
    if op == 0x5F:
        return int.from_bytes(cdb[5:9], "big")
    return None
