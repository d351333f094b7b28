"""On-disk format of the reference store: pure encode/decode, no I/O.

Two devices of one consistency group::

    device A (data)                          device B (write-ahead log)
    sector 0     data superblock             sector 0     WAL superblock + checkpoint LSN
    sector 1..   account records, one        sector 1..   a ring of ``wal_slots`` slots of 3 KiB;
                 fixed-size multi-sector     the record with LSN L lives in slot L % wal_slots
                 record per account          and is 1-3 KiB long (2-6 sectors)

Every multi-sector record ends with an 8-byte BLAKE2b checksum over everything before it, and every
sector of a record carries the record's (id, LSN) stamp, so a record written partly old, partly new
(a *torn* write) never verifies. The WAL superblock fits in one sector, so it is always written
atomically. The LSN doubles as the transaction id. All integers are little-endian.

Data record (``record_bytes``, 1-3 KiB)::

    "ACCT" | account u32 | balance i64 | last_lsn u64 | n_parties u8 | 3 pad | parties 3 x u32
    | filler (account, lsn) stamp ... | checksum 8

``parties`` are the accounts touched by transaction ``last_lsn``: the checker uses them to find
transactions that reached some of their accounts but not all (half applied).

WAL record (length 1-3 KiB, a multiple of 512)::

    "WREC" | length u32 | lsn u64 | n_updates u8 | 7 pad | updates n x (account u32, balance i64,
    delta i64) | filler (lsn, length) stamp ... | checksum 8
"""

from __future__ import annotations

import hashlib
import struct
import uuid
from dataclasses import dataclass

from simulators.agent.errors import FormatError, InvalidField

SECTOR = 512
WAL_SLOT_BYTES = 3 * 1024
MAX_PARTIES = 3
CHECKSUM_BYTES = 8

DATA_MAGIC = b"DRKDATA1"
WAL_MAGIC = b"DRKWAL01"
ACCT_MAGIC = b"ACCT"
WREC_MAGIC = b"WREC"

_DATA_SB = struct.Struct("<8sHIIq16s")  # magic, version, record_bytes, n_accounts, total, store id
_WAL_SB = struct.Struct("<8sHIIQ16s")  # magic, version, slot_bytes, wal_slots, checkpoint, store id
_ACCT_HEAD = struct.Struct("<4sIqQB3x3I")
_WREC_HEAD = struct.Struct("<4sIQB7x")
_UPDATE = struct.Struct("<Iqq")
VERSION = 1


def checksum(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=CHECKSUM_BYTES).digest()


def _seal(body: bytes) -> bytes:
    return body + checksum(body)


def _verified(raw: bytes) -> bool:
    return checksum(raw[:-CHECKSUM_BYTES]) == raw[-CHECKSUM_BYTES:]


def _stamp_fill(length: int, a: int, b: int) -> bytes:
    return (struct.pack("<QQ", a, b) * (length // 16 + 1))[:length]


@dataclass(frozen=True)
class Geometry:
    """Sizes of one store; written into both superblocks and checked on open."""

    n_accounts: int = 64
    record_bytes: int = 2048
    wal_slots: int = 128
    total: int = 64 * 1000
    store_id: bytes = b"\0" * 16

    def __post_init__(self) -> None:
        if not 1024 <= self.record_bytes <= 3072 or self.record_bytes % SECTOR:
            raise InvalidField("record_bytes", "must be 1024..3072 and a multiple of 512")
        if self.n_accounts < 2:
            raise InvalidField("n_accounts", "must be at least 2")
        if self.wal_slots < 4:
            raise InvalidField("wal_slots", "must be at least 4")

    @staticmethod
    def new(n_accounts: int = 64, record_bytes: int = 2048, wal_slots: int = 128,
            initial_balance: int = 1000) -> Geometry:
        return Geometry(n_accounts, record_bytes, wal_slots, n_accounts * initial_balance,
                        uuid.uuid4().bytes)

    def record_offset(self, account: int) -> int:
        return SECTOR + account * self.record_bytes

    def slot_offset(self, lsn: int) -> int:
        return SECTOR + (lsn % self.wal_slots) * WAL_SLOT_BYTES

    @property
    def data_bytes(self) -> int:
        return SECTOR + self.n_accounts * self.record_bytes

    @property
    def wal_bytes(self) -> int:
        return SECTOR + self.wal_slots * WAL_SLOT_BYTES


def encode_data_superblock(g: Geometry) -> bytes:
    body = _DATA_SB.pack(DATA_MAGIC, VERSION, g.record_bytes, g.n_accounts, g.total, g.store_id)
    return _seal(body.ljust(SECTOR - CHECKSUM_BYTES, b"\0"))


def encode_wal_superblock(g: Geometry, checkpoint_lsn: int) -> bytes:
    body = _WAL_SB.pack(WAL_MAGIC, VERSION, WAL_SLOT_BYTES, g.wal_slots, checkpoint_lsn, g.store_id)
    return _seal(body.ljust(SECTOR - CHECKSUM_BYTES, b"\0"))


def decode_superblocks(data_sector: bytes, wal_sector: bytes) -> tuple[Geometry, int]:
    """Return the geometry and the checkpoint LSN; FormatError if the pair is not one store."""
    if data_sector[:8] != DATA_MAGIC or not _verified(data_sector[:SECTOR]):
        raise FormatError("data device: no valid store superblock at sector 0")
    if wal_sector[:8] != WAL_MAGIC or not _verified(wal_sector[:SECTOR]):
        raise FormatError("wal device: no valid WAL superblock at sector 0")
    _, _, record_bytes, n_accounts, total, sid = _DATA_SB.unpack_from(data_sector)
    _, _, slot_bytes, wal_slots, ckpt, wal_sid = _WAL_SB.unpack_from(wal_sector)
    if sid != wal_sid:
        raise FormatError("data and wal devices belong to different stores",
                          data_store=sid.hex(), wal_store=wal_sid.hex())
    if slot_bytes != WAL_SLOT_BYTES:
        raise FormatError(f"wal device: unsupported slot size {slot_bytes}")
    return Geometry(n_accounts, record_bytes, wal_slots, total, sid), ckpt


@dataclass(frozen=True)
class Account:
    account: int
    balance: int
    last_lsn: int
    parties: tuple[int, ...] = ()


def encode_account(a: Account, record_bytes: int) -> bytes:
    parties = [*a.parties, 0, 0, 0][:MAX_PARTIES]
    head = _ACCT_HEAD.pack(ACCT_MAGIC, a.account, a.balance, a.last_lsn, len(a.parties), *parties)
    fill = _stamp_fill(record_bytes - len(head) - CHECKSUM_BYTES, a.account, a.last_lsn)
    return _seal(head + fill)


def decode_account(raw: bytes) -> Account | None:
    """The account in ``raw``, or None when the record is torn or not a record at all."""
    if raw[:4] != ACCT_MAGIC or not _verified(raw):
        return None
    _, acct, balance, lsn, n, *parties = _ACCT_HEAD.unpack_from(raw)
    return Account(acct, balance, lsn, tuple(parties[:n]))


@dataclass(frozen=True)
class Update:
    account: int
    balance: int  # after-image: the balance once the transaction is applied
    delta: int


@dataclass(frozen=True)
class WalRecord:
    lsn: int
    updates: tuple[Update, ...]
    length: int = 1024

    @property
    def parties(self) -> tuple[int, ...]:
        return tuple(u.account for u in self.updates)


def encode_wal_record(r: WalRecord) -> bytes:
    if not 1024 <= r.length <= WAL_SLOT_BYTES or r.length % SECTOR:
        raise InvalidField("length", "WAL record length must be 1024..3072, a multiple of 512")
    head = _WREC_HEAD.pack(WREC_MAGIC, r.length, r.lsn, len(r.updates))
    body = head + b"".join(_UPDATE.pack(u.account, u.balance, u.delta) for u in r.updates)
    return _seal(body + _stamp_fill(r.length - len(body) - CHECKSUM_BYTES, r.lsn, r.length))


EMPTY = "empty"
TORN = "torn"


def decode_wal_slot(raw: bytes) -> WalRecord | str:
    """One 3 KiB slot: a record, ``EMPTY`` if never written, ``TORN`` if it fails to verify."""
    if raw[:4] != WREC_MAGIC:
        return EMPTY if not any(raw) else TORN
    _, length, lsn, n = _WREC_HEAD.unpack_from(raw)
    if not 1024 <= length <= len(raw) or length % SECTOR or not _verified(raw[:length]):
        return TORN
    base = _WREC_HEAD.size
    updates = tuple(Update(*_UPDATE.unpack_from(raw, base + i * _UPDATE.size)) for i in range(n))
    return WalRecord(lsn, updates, length)
