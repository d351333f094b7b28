"""The delta wire format: MicroScan extents, zstd-compressed, sealed with AES-256-GCM.

One message (a *part*; a delta is one or more parts with the same sequence number)::

    "DRKD" | version u8 | header_len u32 LE | header (canonical JSON, UTF-8)
    | nonce (12 random bytes) | AES-GCM(body) incl. 16-byte tag

Everything before the nonce is the AES-GCM associated data, so the header (replication id,
sequence, recovery points, device size, kind, part numbering and the body's sizes) is
authenticated: a delta replayed into another replication or sequence fails. The decoder trusts
nothing it has not authenticated: only the framing is parsed before decryption.

An extent record is ``kind u8 | offset_sectors u64 | length_sectors u32`` (13 bytes, little
endian); the data of the non-ZERO extents follows all records, in the same order. Sealed body:
``index_len u32 | zstd(records) | zstd(data)``, or the data as it is when zstd would not make
it smaller (random or encrypted content: the header's ``body.stored``; the receiver then
writes straight from the decrypted body, with no copy). With ``dictionary`` set in the header,
the data is compressed against the base content of the 4 KiB blocks around the part's extents
(``dictionary_ranges``), which both sides hold (the sender's base snapshot, the replica's
snapshot of the base point): rewritten and shifted content then costs a reference, not bytes.
The receiver rebuilds that dictionary from the records before it opens the data.
Extents are sorted and do not overlap. A part carries at most ``MAX_PART_PAYLOAD`` bytes of
records. A device's delta is a stream of parts numbered from 0 (``parts.pack`` cuts them);
each says up to which byte offset the delta is complete (``covers_to``: every change below it
is in this part or an earlier one), and the device's final part says ``last``. A receiver that
acknowledged part *n* lets the sender resume at part *n+1*, scanning from ``covers_to`` on,
after a cut or a restart of either side.

Versions: an appliance opens every version in ``VERSIONS`` and seals the newest its peer opens
(``negotiate``; the replica lists its versions in the answer that opens a cycle), so the two
appliances of a pair can be upgraded one at a time. Version 2 is version 3 without
``body.stored``: its data is always compressed. A peer that lists no versions speaks 2.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import zstandard

from .aead import NONCE_BYTES, TAG_BYTES, check_key, open_sealed, seal
from .errors import (
    DeltaFormatError,
    DeltaGapError,
    DeltaMisdirectedError,
    DeltaReplayError,
    DeltaTooLargeError,
    DiffInputError,
)
from .microscan import SECTOR, Extent, Kind

MAGIC = b"DRKD"
VERSION = 3
VERSIONS = (2, 3)  # opened; sealed: the newest the peer opens too
_UNLISTED = 2  # what a peer that does not list its versions speaks
MAX_HEADER = 16 << 10
MAX_PART_PAYLOAD = 64 << 20
_FRAME = struct.Struct("<4sBI")
_RECORD = struct.Struct("<BQI")
_ZSTD_LEVEL = 3
_INDEX_LEN = struct.Struct("<I")
DICT_BLOCK = 4096
DICT_MAX = 8 << 20
_FEW = 32  # extents' data compressed and sealed piece by piece up to this many


class DeltaKind(StrEnum):
    INITIAL = "initial"
    INCREMENTAL = "incremental"
    RESYNC = "resync"


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class DeltaHeader:
    replication_id: str
    sequence: int
    base_rp: str | None
    new_rp: str
    device_size: int
    kind: DeltaKind
    device: str = ""
    part: int = 0
    last: bool = True
    covers_to: int | None = None  # None: the whole device (only for the last part)
    dictionary: bool = False
    created: str = field(default_factory=_utc_now)

    def __post_init__(self) -> None:
        if self.covers_to is None and self.last is True:
            object.__setattr__(self, "covers_to", self.device_size)


@dataclass(frozen=True)
class Delta:
    header: DeltaHeader
    extents: tuple[Extent, ...]

    @property
    def payload_bytes(self) -> int:
        """Raw extent data (ZERO extents carry none)."""
        return sum(len(e.data) for e in self.extents)

    @property
    def serialized_bytes(self) -> int:
        """Extent records before compression and encryption."""
        return len(self.extents) * _RECORD.size + self.payload_bytes


@dataclass(frozen=True)
class WireStats:
    extents: int
    payload_bytes: int
    serialized_bytes: int
    wire_bytes: int


def _bad(message: str, **details: Any) -> DeltaFormatError:
    return DeltaFormatError(message, **details)


def _check_header(h: DeltaHeader) -> None:
    rules: list[tuple[str, bool]] = [
        ("replication_id", isinstance(h.replication_id, str) and 0 < len(h.replication_id) < 256),
        ("sequence", _int(h.sequence) and h.sequence >= 0),
        ("base_rp", h.base_rp is None if h.kind == DeltaKind.INITIAL else
         isinstance(h.base_rp, str) and bool(h.base_rp)),
        ("new_rp", isinstance(h.new_rp, str) and bool(h.new_rp)),
        ("device_size", _int(h.device_size) and h.device_size > 0
         and h.device_size % SECTOR == 0),
        ("kind", h.kind in set(DeltaKind)),
        ("device", isinstance(h.device, str)),
        ("part", _int(h.part) and h.part >= 0),
        ("last", isinstance(h.last, bool)),
        ("dictionary", isinstance(h.dictionary, bool)),
        ("covers_to", _int(h.covers_to) and 0 <= h.covers_to <= h.device_size
         and (h.covers_to == h.device_size or not h.last)),
        ("created", isinstance(h.created, str)),
    ]
    for name, ok in rules:
        if not ok:
            raise _bad(f"delta header field {name!r} is invalid: {getattr(h, name)!r}",
                       field=name)


def _int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_extents(extents: Sequence[Extent], limit: int) -> None:
    end = 0
    for i, e in enumerate(extents):
        if e.offset < end or e.end > limit:
            raise _bad(f"extent {i} at offset {e.offset} overlaps its predecessor or ends past "
                       f"the device or the part's covers_to ({limit} bytes)", field="extents",
                       index=i)
        end = e.end


def _index(extents: Iterable[Extent]) -> bytes:
    return b"".join(_RECORD.pack(e.kind, e.offset // SECTOR, e.length // SECTOR)
                    for e in extents)


def dictionary_ranges(extents: Iterable[Any], device_size: int) -> list[tuple[int, int]]:
    """``(offset, length)`` of the base content a part's data is compressed against: the
    4 KiB blocks around its non-ZERO extents, merged, at most ``DICT_MAX`` bytes."""
    out: list[tuple[int, int]] = []
    total = 0
    for e in extents:
        if e.kind is Kind.ZERO:
            continue
        lo = e.offset // DICT_BLOCK * DICT_BLOCK
        hi = min(device_size, -(-e.end // DICT_BLOCK) * DICT_BLOCK)
        if out:
            lo = max(lo, out[-1][0] + out[-1][1])
        hi = min(hi, lo + DICT_MAX - total)
        if hi <= lo:
            continue
        if out and lo == out[-1][0] + out[-1][1]:
            out[-1] = (out[-1][0], hi - out[-1][0])
        else:
            out.append((lo, hi - lo))
        total += hi - lo
    return out


def _zstd(level: int, dictionary: bytes | None) -> zstandard.ZstdCompressor:
    """With a dictionary the frame carries a checksum: a receiver whose base differs from the
    sender's gets a format error, never silently different bytes."""
    if dictionary is None:
        return zstandard.ZstdCompressor(level=level)
    d = zstandard.ZstdCompressionDict(dictionary, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    return zstandard.ZstdCompressor(level=level, dict_data=d, write_checksum=True)


def _header_bytes(header: DeltaHeader, body: dict[str, Any]) -> bytes:
    doc = {**asdict(header), "kind": str(header.kind), "body": body}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def negotiate(theirs: Any) -> int:
    """The version to seal for a peer that opens ``theirs`` (None: it did not say)."""
    listed = [_UNLISTED] if theirs is None else theirs
    if not isinstance(listed, list) or not all(_int(v) for v in listed):
        raise _bad(f"the peer's wire versions {theirs!r} are not a list of integers",
                   field="wire_versions")
    common = set(listed) & set(VERSIONS)
    if not common:
        raise _bad(f"the peer opens delta versions {sorted(set(listed))} and this appliance "
                   f"seals {list(VERSIONS)}: upgrade the older of the two",
                   field="wire_versions", peer_versions=sorted(set(listed)))
    return max(common)


def encode_with_stats(delta: Delta, key: bytes, *, level: int = _ZSTD_LEVEL,
                      max_payload: int = MAX_PART_PAYLOAD, dictionary: bytes | None = None,
                      version: int = VERSION) -> tuple[bytearray, WireStats]:
    """Seal one part; raises DeltaTooLargeError over ``max_payload`` (cut with parts.pack).
    ``dictionary``: the base content of ``dictionary_ranges`` when the header says so;
    ``version``: one of ``VERSIONS`` (what ``negotiate`` chose for the peer)."""
    check_key(key)
    if version not in VERSIONS:
        raise _bad(f"delta version {version!r} is not one of {list(VERSIONS)}", field="version")
    _check_header(delta.header)
    _check_extents(delta.extents, delta.header.covers_to)
    if delta.header.dictionary != (dictionary is not None):
        raise _bad("header.dictionary and the dictionary given disagree", field="dictionary")
    index, pieces = _index(delta.extents), _pieces(delta.extents)
    data_len = sum(len(p) for p in pieces)
    size = len(index) + data_len
    if size > max_payload:
        raise DeltaTooLargeError(f"delta part of {size} bytes exceeds {max_payload}; "
                                 "cut it with parts.pack", size=size)
    packed = _compress(_zstd(level, dictionary), pieces, data_len)
    stored = version >= 3 and len(packed) >= data_len
    sizes: dict[str, Any] = {"extents": len(delta.extents), "serialized_bytes": size}
    header = _header_bytes(delta.header, sizes if version < 3 else {**sizes, "stored": stored})
    aad = _FRAME.pack(MAGIC, version, len(header)) + header
    packed_index = zstandard.ZstdCompressor(level=level).compress(index)
    blob = seal(key, aad, [_INDEX_LEN.pack(len(packed_index)), packed_index,
                            *(pieces if stored else [packed])])
    return blob, WireStats(len(delta.extents), delta.payload_bytes, size, len(blob))


def _pieces(extents: Sequence[Extent]) -> list[bytes | memoryview]:
    """The data of the non-ZERO extents, as they are when few (long runs: no copy), else
    joined (many short ones: one compressor call instead of thousands)."""
    pieces = [e.data for e in extents if e.kind is not Kind.ZERO]
    return pieces if len(pieces) <= _FEW else [b"".join(pieces)]


def _compress(z: zstandard.ZstdCompressor, pieces: list[bytes | memoryview], size: int) -> bytes:
    if len(pieces) == 1:
        return z.compress(pieces[0])
    stream = z.compressobj(size=size)  # as one-shot: tuned to the size
    return b"".join([*(stream.compress(p) for p in pieces), stream.flush()])


def encode(delta: Delta, key: bytes, *, level: int = _ZSTD_LEVEL,
           max_payload: int = MAX_PART_PAYLOAD, dictionary: bytes | None = None,
           version: int = VERSION) -> bytearray:
    return encode_with_stats(delta, key, level=level, max_payload=max_payload,
                             dictionary=dictionary, version=version)[0]


def _frame(blob: bytes | bytearray | memoryview) -> tuple[bytes, int]:
    """The associated data (frame + header) and the version, checking only the framing."""
    if not isinstance(blob, bytes | bytearray | memoryview) or len(blob) < _FRAME.size:
        raise _bad("delta is truncated: no frame", field="frame")
    magic, version, hlen = _FRAME.unpack_from(blob)
    if magic != MAGIC or version not in VERSIONS:
        raise _bad(f"not a drkit delta of version {' or '.join(map(str, VERSIONS))} (magic "
                   f"{bytes(magic)!r}, version {version})", field="frame", version=version)
    if hlen > MAX_HEADER or len(blob) < _FRAME.size + hlen + NONCE_BYTES + TAG_BYTES:
        raise _bad(f"delta is truncated or its header length {hlen} is invalid", field="frame")
    return bytes(blob[: _FRAME.size + hlen]), version


def _parse_header(raw: bytes, version: int) -> tuple[DeltaHeader, dict[str, Any]]:
    try:
        doc = json.loads(raw)
        body = doc.pop("body")
        header = DeltaHeader(**{**doc, "kind": DeltaKind(doc["kind"])})
        if doc.get("covers_to") is None:
            raise KeyError("covers_to")
        sizes = {k: int(body[k]) for k in ("extents", "serialized_bytes")}
        sizes["stored"] = body["stored"] if version >= 3 else False
        if not isinstance(sizes["stored"], bool):
            raise TypeError("stored")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise _bad(f"delta header is malformed: {type(exc).__name__}", field="header") from None
    _check_header(header)
    return header, sizes


def peek_header(blob: bytes | bytearray) -> DeltaHeader:
    """The header WITHOUT authentication: for routing only, never for decisions."""
    aad, version = _frame(blob)
    return _parse_header(aad[_FRAME.size :], version)[0]


def decode(blob: bytes | bytearray, key: bytes, expect_replication: str, expect_sequence: int, *,
           expect_part: int | None = None,
           dictionary: Callable[[list[tuple[int, int]]], bytes] | None = None) -> Delta:
    """Authenticate and open one part; every failure is a typed DeltaError, nothing else.
    ``dictionary(ranges)`` gives the base content of ranges (for parts that use one)."""
    check_key(key)
    aad, version = _frame(blob)
    packed = open_sealed(key, blob, aad, expect_replication)
    header, body = _parse_header(aad[_FRAME.size :], version)
    _check_expected(header, expect_replication, expect_sequence, expect_part)
    records, data = _split_body(packed, body["extents"])
    if header.dictionary and dictionary is None:
        raise _bad("delta part needs its base dictionary, none was given", field="dictionary")
    base = dictionary(dictionary_ranges(records, header.device_size)) \
        if header.dictionary and dictionary else None
    size = body["serialized_bytes"] - len(records) * _RECORD.size
    extents = _fill(records, data if body["stored"] else _decompress(data, size, base))
    _check_extents(extents, header.covers_to)
    return Delta(header, extents)


def _split_body(packed: bytes, count: int) -> tuple[tuple[Any, ...], memoryview]:
    """The records and a view of the data (no copy of it)."""
    if len(packed) < _INDEX_LEN.size:
        raise _bad("delta body is truncated", field="body")
    (n,) = _INDEX_LEN.unpack_from(packed)
    view = memoryview(packed)
    index = _decompress(view[_INDEX_LEN.size : _INDEX_LEN.size + n], count * _RECORD.size,
                        None)
    return _parse_records(index, count), view[_INDEX_LEN.size + n :]


def _check_expected(h: DeltaHeader, replication: str, sequence: int, part: int | None) -> None:
    if h.replication_id != replication:
        raise DeltaMisdirectedError(f"delta for replication {h.replication_id!r} arrived at "
                                    f"{replication!r}", replication=replication,
                                    got=h.replication_id)
    got, want = (h.sequence, h.part), (sequence, part if part is not None else h.part)
    where = f"sequence {h.sequence} part {h.part}"
    if got < want:
        raise DeltaReplayError(f"replication {replication}: {where} already applied (expected "
                               f"{want[0]}/{want[1]})", replication=replication, got=h.sequence,
                               expected=sequence)
    if got > want:
        raise DeltaGapError(f"replication {replication}: {where} arrived but {want[0]}/{want[1]} "
                            "is missing", replication=replication, got=h.sequence,
                            expected=sequence)


def _decompress(packed: bytes | memoryview, size: int, dictionary: bytes | None) -> bytes:
    if size < 0:
        raise _bad(f"delta body sizes are inconsistent ({size})", field="body")
    d = None if dictionary is None else zstandard.ZstdCompressionDict(
        dictionary, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    try:
        opener = zstandard.ZstdDecompressor(dict_data=d) if d else zstandard.ZstdDecompressor()
        raw = opener.decompress(packed, max_output_size=size)
    except zstandard.ZstdError:
        raise _bad("delta body is not valid zstd", field="body") from None
    if len(raw) != size:
        raise _bad(f"delta body has {len(raw)} bytes, header says {size}", field="body")
    return raw


def _parse_records(raw: bytes, count: int) -> tuple[Any, ...]:
    """The records: ZERO extents, and ``_Pending`` ones whose data ``_fill`` puts in."""
    out: list[Any] = []
    try:
        for i in range(count):
            kind, offset, length = _RECORD.unpack_from(raw, i * _RECORD.size)
            kind = Kind(kind)
            if length == 0:
                raise ValueError("an extent of no sectors")
            out.append(Extent.zeros(offset * SECTOR, length * SECTOR) if kind is Kind.ZERO
                       else _Pending(offset * SECTOR, length * SECTOR, kind))
    except (struct.error, ValueError, DiffInputError) as exc:
        raise _bad(f"delta extent {len(out)} is malformed: {exc}", field="extents") from None
    return tuple(out)


@dataclass(frozen=True)
class _Pending:
    offset: int
    length: int
    kind: Kind

    @property
    def end(self) -> int:
        return self.offset + self.length


def _fill(records: tuple[Any, ...], data: bytes | memoryview) -> tuple[Extent, ...]:
    """The extents, their data as views of ``data`` (no copies)."""
    view, at, out = memoryview(data), 0, []
    for r in records:
        if r.kind is Kind.ZERO:
            out.append(r)
            continue
        if at + r.length > len(view):
            raise _bad(f"delta extent {len(out)} is malformed: its data runs past the body",
                       field="extents")
        out.append(Extent(r.offset, view[at : at + r.length], r.kind))
        at += r.length
    if at != len(view):
        raise _bad(f"delta body has {len(view) - at} bytes after its {len(records)} extents",
                   field="extents")
    return tuple(out)
