"""Delta wire format: round trip, authentication, sequencing, malformed input, parts."""

from __future__ import annotations

import json
import os
import struct

import pytest
import zstandard
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.nss.replication.logic import aead, parts, wire
from simulators.nss.replication.logic.errors import (
    DeltaAuthError,
    DeltaError,
    DeltaFormatError,
    DeltaGapError,
    DeltaMisdirectedError,
    DeltaReplayError,
    DeltaTooLargeError,
    PairKeyError,
)
from simulators.nss.replication.logic.microscan import Extent, Kind, apply

KEY = bytes(range(32))
SIZE = 1 << 20


def make_delta(seq: int = 5, extents: tuple[Extent, ...] | None = None, **kw) -> wire.Delta:
    if extents is None:
        extents = (Extent(0, b"a" * 512), Extent.zeros(4096, 8192),
                   Extent(65536, bytes(511) + b"\1", Kind.XOR))
    header = wire.DeltaHeader(replication_id="rep-1", sequence=seq, base_rp="rp-4",
                              new_rp="rp-5", device_size=SIZE, kind=wire.DeltaKind.INCREMENTAL,
                              **kw)
    return wire.Delta(header, extents)


def test_round_trip_and_stats() -> None:
    delta = make_delta(device="lun-a")
    blob, stats = wire.encode_with_stats(delta, KEY)
    assert wire.decode(blob, KEY, "rep-1", 5) == delta
    assert stats.payload_bytes == 1024 == delta.payload_bytes
    assert stats.serialized_bytes == 1024 + 3 * 13
    assert stats.wire_bytes == len(blob)
    assert wire.peek_header(blob) == delta.header


def test_initial_delta_without_base_rp_and_empty_delta() -> None:
    header = wire.DeltaHeader("rep-1", 0, None, "rp-0", SIZE, wire.DeltaKind.INITIAL)
    delta = wire.Delta(header, ())
    assert wire.decode(wire.encode(delta, KEY), KEY, "rep-1", 0) == delta


def test_nonce_is_fresh_per_message() -> None:
    delta = make_delta()
    assert wire.encode(delta, KEY) != wire.encode(delta, KEY)


def test_tampering_any_byte_is_rejected() -> None:
    blob = wire.encode(make_delta(), KEY)
    for i in range(len(blob)):
        bad = bytearray(blob)
        bad[i] ^= 0x01
        # the magic is framing; the version byte 3 ^ 1 is version 2, which frames as well
        # and fails authentication (the frame is associated data)
        expected = DeltaFormatError if i < 4 else DeltaError
        with pytest.raises(expected):
            wire.decode(bytes(bad), KEY, "rep-1", 5)
        if i >= 9:  # past the framing, only authentication can catch it
            with pytest.raises(DeltaAuthError):
                wire.decode(bytes(bad), KEY, "rep-1", 5)


def test_wrong_key_and_bad_key() -> None:
    blob = wire.encode(make_delta(), KEY)
    with pytest.raises(DeltaAuthError) as err:
        wire.decode(blob, aead.new_pair_key(), "rep-1", 5)
    assert KEY.hex() not in str(err.value)
    with pytest.raises(PairKeyError):
        wire.decode(blob, b"short", "rep-1", 5)


def test_replay_gap_and_misdirected() -> None:
    blob = wire.encode(make_delta(seq=5), KEY)
    with pytest.raises(DeltaReplayError):
        wire.decode(blob, KEY, "rep-1", 6)
    with pytest.raises(DeltaGapError):
        wire.decode(blob, KEY, "rep-1", 4)
    with pytest.raises(DeltaMisdirectedError):
        wire.decode(blob, KEY, "rep-2", 5)


def test_header_swap_fails_authentication() -> None:
    """Re-labelling an authentic delta with another sequence number breaks the tag."""
    blob = wire.encode(make_delta(seq=5), KEY)
    hlen = struct.unpack_from("<I", blob, 5)[0]
    doc = json.loads(blob[9 : 9 + hlen])
    doc["sequence"] = 6
    header = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    forged = blob[:5] + struct.pack("<I", len(header)) + header + blob[9 + hlen :]
    with pytest.raises(DeltaAuthError):
        wire.decode(forged, KEY, "rep-1", 6)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_gives_typed_errors_only(data: bytes) -> None:
    for blob in (data, b"DRKD\x01" + data):
        with pytest.raises(DeltaError):
            wire.decode(blob, KEY, "rep-1", 5)


def test_truncation_is_rejected() -> None:
    blob = wire.encode(make_delta(), KEY)
    for n in (0, 4, 9, 20, len(blob) - 1):
        with pytest.raises(DeltaError):
            wire.decode(blob[:n], KEY, "rep-1", 5)


@pytest.mark.parametrize(("field", "value"), [
    ("sequence", -1), ("device_size", 1000), ("new_rp", ""), ("base_rp", None),
    ("replication_id", ""), ("part", -1), ("covers_to", SIZE + 512),
])
def test_invalid_header_is_refused_naming_the_field(field: str, value: object) -> None:
    delta = make_delta()
    bad = wire.Delta(wire.DeltaHeader(**{**delta.header.__dict__, field: value}), delta.extents)
    with pytest.raises(DeltaFormatError) as err:
        wire.encode(bad, KEY)
    assert err.value.details["field"] == field


def test_overlapping_or_out_of_device_extents_are_refused() -> None:
    with pytest.raises(DeltaFormatError, match="extent 1"):
        wire.encode(make_delta(extents=(Extent(0, bytes(1024)), Extent(512, bytes(512)))), KEY)
    with pytest.raises(DeltaFormatError, match="extent 0"):
        wire.encode(make_delta(extents=(Extent(SIZE, bytes(512)),)), KEY)


def test_parts_reassemble_and_are_sequenced() -> None:
    big = (Extent(0, bytes(range(256)) * 40), Extent.zeros(40960, 4096),
           Extent(65536, b"x" * 5120, Kind.XOR))
    delta = make_delta(extents=big)
    with pytest.raises(DeltaTooLargeError):
        list(parts.pack(delta.extents, 100, SIZE))
    blobs = parts.encode_all(delta, KEY, 4096)
    opened = [wire.decode(b, KEY, "rep-1", 5, expect_part=i) for i, b in enumerate(blobs)]
    assert [p.header.last for p in opened] == [False] * (len(blobs) - 1) + [True]
    assert opened[-1].header.covers_to == SIZE
    image, whole = bytearray(SIZE), bytearray(SIZE)
    for p in opened:
        apply(image, p.extents)
    apply(whole, delta.extents)
    assert image == whole
    with pytest.raises(DeltaReplayError):
        wire.decode(blobs[0], KEY, "rep-1", 5, expect_part=1)
    with pytest.raises(DeltaGapError):
        wire.decode(blobs[2], KEY, "rep-1", 5, expect_part=1)


def test_extents_past_covers_to_are_refused() -> None:
    delta = make_delta(extents=(Extent(8192, bytes(512)),), last=False, covers_to=4096)
    with pytest.raises(DeltaFormatError, match="covers_to"):
        wire.encode(delta, KEY)


def test_encode_refuses_oversized_part() -> None:
    with pytest.raises(DeltaTooLargeError):
        wire.encode(make_delta(extents=(Extent(0, bytes(2048)),)), KEY, max_payload=1024)


def seal(body: bytes, *, extents: int, serialized: int, compress: bool = True,
         stored: object = False, header: dict | None = None, version: int = 3) -> bytes:
    """An authentic message around an arbitrary body (records, then data): what a buggy or
    hostile peer could send. ``stored``: the data travels as it is (``compress`` then only
    decides for the records). ``version`` 2: as appliances before wire v3 sealed (no
    ``stored`` in the body; the data always compressed)."""
    sizes = {"extents": extents, "serialized_bytes": serialized}
    doc = {**make_delta().header.__dict__, "kind": "incremental", **(header or {}),
           "body": sizes if version == 2 else {**sizes, "stored": stored}}
    head = json.dumps(doc, sort_keys=True).encode()
    aad = b"DRKD" + bytes([version]) + struct.pack("<I", len(head)) + head
    index, data = body[: extents * 13], body[extents * 13 :]
    z = zstandard.ZstdCompressor()
    packed_index = z.compress(index) if compress else index
    packed = struct.pack("<I", len(packed_index)) + packed_index + (
        z.compress(data) if compress and stored is False else data)
    return aad + bytes(12) + AESGCM(KEY).encrypt(bytes(12), packed, aad)


REC = struct.Struct("<BQI")


@pytest.mark.parametrize(("blob", "what"), [
    (lambda: seal(b"not zstd", extents=0, serialized=8, compress=False), "zstd"),
    (lambda: seal(REC.pack(0, 0, 1) + bytes(512), extents=1, serialized=100), "bytes"),
    (lambda: seal(REC.pack(9, 0, 1) + bytes(512), extents=1, serialized=525), "extent 0"),
    (lambda: seal(REC.pack(0, 0, 0), extents=1, serialized=13), "extent 0"),
    (lambda: seal(REC.pack(0, 0, 2) + bytes(512), extents=1, serialized=525), "extent 0"),
    (lambda: seal(REC.pack(2, 0, 1) + b"x", extents=1, serialized=14), "after"),
    (lambda: seal(REC.pack(2, 1 << 40, 1), extents=1, serialized=13), "past the device"),
    (lambda: seal(b"", extents=0, serialized=0, header={"kind": "sideways"}), "header"),
    (lambda: seal(b"", extents=0, serialized=0, header={"colour": 1}), "header"),
    (lambda: seal(b"", extents=0, serialized=0, header={"sequence": "5"}), "sequence"),
    (lambda: seal(b"", extents=0, serialized=0, stored="yes"), "header"),
    (lambda: seal(REC.pack(0, 0, 1) + bytes(100), extents=1, serialized=525, stored=True),
     "past the body"),
    (lambda: seal(REC.pack(0, 0, 1) + bytes(600), extents=1, serialized=525, stored=True),
     "after"),
])
def test_authentic_but_malformed_bodies_are_format_errors(blob, what) -> None:
    with pytest.raises(DeltaFormatError, match=what):
        wire.decode(blob(), KEY, "rep-1", 5)


def test_sealed_helper_makes_valid_messages() -> None:
    blob = seal(REC.pack(2, 8, 2), extents=1, serialized=13)
    assert wire.decode(blob, KEY, "rep-1", 5).extents == (Extent.zeros(4096, 1024),)
    data = bytes(range(256)) * 2
    for stored in (False, True):
        blob = seal(REC.pack(0, 8, 1) + data, extents=1, serialized=525, stored=stored)
        assert wire.decode(blob, KEY, "rep-1", 5).extents == (Extent(4096, data),)


def test_a_version_2_message_opens_as_it_did() -> None:
    data = bytes(range(256)) * 2
    blob = seal(REC.pack(0, 8, 1) + data, extents=1, serialized=525,
                version=2)
    assert wire.decode(blob, KEY, "rep-1", 5).extents == (Extent(4096, data),)
    assert wire.peek_header(blob).sequence == 5


def test_version_2_seals_what_an_older_replica_opens() -> None:
    """Frame byte 2, no ``stored`` in the body, the data compressed even when zstd cannot
    shrink it: what appliances before wire v3 open."""
    noise = os.urandom(64 << 10)
    delta = make_delta(extents=(Extent(0, noise), Extent.zeros(1 << 16, 4096)))
    blob = wire.encode(delta, KEY, version=2)
    (hlen,) = struct.unpack_from("<I", blob, 5)
    aad, at = bytes(blob[: 9 + hlen]), 9 + hlen
    assert blob[4] == 2 and "stored" not in json.loads(aad[9:])["body"]
    body = AESGCM(KEY).decrypt(bytes(blob[at : at + 12]), bytes(blob[at + 12 :]), aad)
    (n,) = struct.unpack_from("<I", body)
    assert zstandard.ZstdDecompressor().decompress(body[4 + n :]) == noise
    assert wire.decode(blob, KEY, "rep-1", 5) == delta


@pytest.mark.parametrize(("theirs", "chosen"), [
    (None, 2), ([2], 2), ([3], 3), ([2, 3], 3), ([3, 2, 7], 3), ([1, 2], 2)])
def test_the_newest_version_both_open_is_sealed(theirs, chosen) -> None:
    assert wire.negotiate(theirs) == chosen


@pytest.mark.parametrize(("theirs", "what"), [
    ([4, 5], r"opens delta versions \[4, 5\] and this appliance seals \[2, 3\]: upgrade"),
    ([], r"opens delta versions \[\]"), ("3", "not a list"), ([True], "not a list"),
])
def test_a_peer_with_no_version_in_common_is_refused_by_name(theirs, what) -> None:
    with pytest.raises(DeltaFormatError, match=what):
        wire.negotiate(theirs)


def test_unknown_versions_are_refused_both_ways() -> None:
    with pytest.raises(DeltaFormatError, match=r"version 4 is not one of \[2, 3\]"):
        wire.encode(make_delta(), KEY, version=4)
    blob = bytearray(wire.encode(make_delta(), KEY))
    blob[4] = 4
    with pytest.raises(DeltaFormatError, match="not a drkit delta of version 2 or 3"):
        wire.decode(blob, KEY, "rep-1", 5)


def test_incompressible_data_travels_stored_and_compressible_data_compressed() -> None:
    noise, text = os.urandom(64 << 10), b"drkit " * ((64 << 10) // 6 + 1)
    for data, stored in ((noise, True), (text[: 64 << 10], False)):
        delta = make_delta(extents=(Extent(0, data),))
        blob = wire.encode(delta, KEY)
        (hlen,) = struct.unpack_from("<I", blob, 5)
        assert json.loads(blob[9 : 9 + hlen])["body"]["stored"] is stored
        assert (len(blob) > len(data)) is stored
        assert wire.decode(blob, KEY, "rep-1", 5).extents == delta.extents


def test_base_dictionary_round_trip_and_a_wrong_base_is_refused() -> None:
    base = bytes(range(256)) * (SIZE // 256)
    new = bytearray(base[4096:8192])
    new[100:108] = b"changed!"
    delta = make_delta(extents=(Extent(4096, bytes(new)),))
    part = next(parts.pack(delta.extents, 1 << 20, SIZE))

    def read(ranges):
        return b"".join(base[o : o + n] for o, n in ranges)

    blob, _ = parts.seal(part, delta.header, KEY, 1 << 20, read)
    assert len(blob) < 400                              # a reference to the base, not 4 KiB
    assert wire.decode(blob, KEY, "rep-1", 5, dictionary=read).extents == delta.extents
    with pytest.raises(DeltaFormatError, match="dictionary"):
        wire.decode(blob, KEY, "rep-1", 5)
    with pytest.raises(DeltaFormatError):
        wire.decode(blob, KEY, "rep-1", 5, dictionary=lambda r: bytes(sum(n for _, n in r)))
