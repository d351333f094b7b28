"""MicroScan: the apply/diff property, extent kinds, stats and input validation."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulators.nss.replication.logic import microscan as ms
from simulators.nss.replication.logic.errors import DiffInputError

CHUNK = 4096  # small chunks keep hypothesis fast; the code is chunk-size agnostic
SPC = CHUNK // 512


@st.composite
def images(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, set[int]]:
    """A base image, a head made by random writes, and a dirty superset of changed chunks."""
    sectors = draw(st.integers(1, 12 * SPC))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    base = rng.integers(0, 256, sectors * 512, dtype=np.uint8)
    base[: draw(st.integers(0, sectors)) * 512] = 0
    head = base.copy()
    for _ in range(draw(st.integers(0, 8))):
        at = draw(st.integers(0, sectors - 1)) * 512 + draw(st.integers(0, 511))
        n = draw(st.integers(1, 3 * CHUNK))
        style = draw(st.sampled_from(["random", "zero", "flip", "same"]))
        piece = head[at : at + n]
        if style == "random":
            piece[:] = rng.integers(0, 256, piece.size, dtype=np.uint8)
        elif style == "zero":
            piece[:] = 0
        elif style == "flip":
            piece[:: max(1, piece.size // 3)] ^= 0x5A
    truly = {i // CHUNK for i in np.flatnonzero(base != head).tolist()}
    nchunks = -(-sectors * 512 // CHUNK)
    extra = draw(st.sets(st.integers(0, nchunks - 1), max_size=4))
    return base, head, truly | extra


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(images(), st.booleans(), st.sampled_from([None, 1, 3]))
def test_apply_of_diff_gives_head(case, xor, batch) -> None:
    base, head, dirty = case
    stats = ms.DiffStats()
    extents = ms.diff_images(base, head, dirty, chunk_size=CHUNK, xor=xor, stats=stats,
                             block_sizes=(512, 4096), batch_chunks=batch)
    out = bytearray(base.tobytes())
    ms.apply(out, extents)
    assert bytes(out) == head.tobytes()
    changed = np.flatnonzero((base != head).reshape(-1, 512).any(axis=1))
    assert np.array_equal(ms.extent_sectors(extents), changed)  # exactly the changed sectors
    assert stats.sectors_changed == changed.size
    assert stats.block_bytes(512) == changed.size * 512
    for a, b in itertools.pairwise(extents):  # sorted, coalesced
        merged_too_big = len(a.data) + len(b.data) > ms.MERGE_LIMIT
        assert a.end < b.offset or (a.end == b.offset and (a.kind is not b.kind or merged_too_big))


@settings(max_examples=40, deadline=None)
@given(images(), st.booleans(), st.integers(0, 2**16))
def test_unknown_base_chunks_travel_verbatim(case, xor, pick) -> None:
    """Chunks given with base None may hold anything on the receiver; the rest hold base."""
    base, head, dirty = case
    replica = base.copy()
    chunks = []
    for i, old, new in ms.image_chunks(base, head, sorted(dirty), CHUNK):
        unknown = (pick >> (i % 16)) & 1
        if unknown:
            replica[i * CHUNK : (i + 1) * CHUNK] = 0xEE
        chunks.append((i, None if unknown else old, new))
    ms.apply(replica, ms.diff(chunks, chunk_size=CHUNK, xor=xor, batch_chunks=2))
    assert np.array_equal(replica, head)


def test_initial_sends_only_nonzero_sectors() -> None:
    head = np.zeros(4 * CHUNK, np.uint8)
    head[5 * 512 + 7] = 1
    head[3 * CHUNK : 3 * CHUNK + 1024] = 9
    extents = ms.diff_initial(((i, head[i * CHUNK : (i + 1) * CHUNK]) for i in range(4)),
                              chunk_size=CHUNK)
    assert [(e.offset, e.length, e.kind) for e in extents] == [
        (5 * 512, 512, ms.Kind.RAW), (3 * CHUNK, 1024, ms.Kind.RAW)]


def test_xor_extent_for_small_changes_raw_for_rewrites_zero_for_zeroes() -> None:
    rng = np.random.default_rng(7)
    base = rng.integers(1, 256, 2 * CHUNK, dtype=np.uint8)
    head = base.copy()
    head[10] ^= 1                                   # sector 0: one byte -> XOR
    head[1024:1536] = rng.integers(0, 256, 512)     # sector 2: rewritten -> RAW
    head[2048:3072] = 0                             # sectors 4-5: zeroed -> ZERO
    stats = ms.DiffStats()
    extents = ms.diff_images(base, head, xor=True, chunk_size=CHUNK, stats=stats)
    assert [(e.offset, e.kind) for e in extents] == [
        (0, ms.Kind.XOR), (1024, ms.Kind.RAW), (2048, ms.Kind.ZERO)]
    assert extents[0].data.count(0) == 511
    assert extents[2].data == b"" and extents[2].length == 1024
    assert stats.payload_bytes == 1024 and stats.ideal_bytes == 2048
    assert stats.sectors_by_kind == {"RAW": 1, "XOR": 1, "ZERO": 2}


def test_short_last_chunk_and_runs_across_chunks() -> None:
    base = np.zeros(CHUNK + 1024, np.uint8)
    head = base.copy()
    head[CHUNK - 512 : CHUNK + 1024] = 3             # crosses the chunk boundary to the end
    extents = ms.diff_images(base, head, [0, 1], chunk_size=CHUNK, batch_chunks=1)
    assert [(e.offset, e.length) for e in extents] == [(CHUNK - 512, 1536)]


def test_dirty_chunks_limit_the_scan() -> None:
    base = np.zeros(8 * CHUNK, np.uint8)
    head = base.copy()
    head[0] = head[5 * CHUNK] = 1
    stats = ms.DiffStats()
    extents = ms.diff_images(base, head, {5}, chunk_size=CHUNK, stats=stats)
    assert [e.offset for e in extents] == [5 * CHUNK]
    assert stats.chunks_scanned == 1 and stats.bytes_scanned == CHUNK


def test_block_bytes_counts_differing_blocks() -> None:
    base = np.zeros(4 * CHUNK, np.uint8)
    head = base.copy()
    head[[0, 100, CHUNK + 5, 3 * CHUNK]] = 1          # chunks 0, 1 and 3
    chunks = list(ms.image_chunks(base, head, chunk_size=CHUNK))
    assert ms.block_bytes(chunks, 4096, chunk_size=CHUNK) == 3 * 4096
    assert ms.block_bytes(chunks, 512, chunk_size=CHUNK) == 3 * 512
    assert ms.block_bytes(chunks, 1024, chunk_size=CHUNK) == 3 * 1024


def test_apply_to_file_matches_apply(tmp_path) -> None:
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, 3 * CHUNK, dtype=np.uint8)
    head = base.copy()
    head[100] ^= 7
    head[CHUNK : CHUNK + 600] = 0
    head[2 * CHUNK + 512 :] = 1
    extents = ms.diff_images(base, head, xor=True, chunk_size=CHUNK)
    path = tmp_path / "img"
    path.write_bytes(base.tobytes())
    fd = os.open(path, os.O_RDWR)
    try:
        ms.apply_to_file(fd, extents)
    finally:
        os.close(fd)
    assert path.read_bytes() == head.tobytes()


@pytest.mark.parametrize(("chunks", "field"), [
    ([(1, b"\0" * 512, b"\0" * 512), (1, b"\0" * 512, b"\0" * 512)], "chunk"),
    ([(0, b"\0" * 512, b"\0" * 100)], "head"),
    ([(0, b"\0" * 1024, b"\0" * 512)], "base"),
    ([(0, None, b"\0" * (CHUNK + 512))], "head"),
])
def test_bad_chunks_are_rejected(chunks, field) -> None:
    with pytest.raises(DiffInputError) as err:
        ms.diff(chunks, chunk_size=CHUNK)
    assert field in str(err.value.details)


def test_bad_sizes_and_out_of_range_extents() -> None:
    with pytest.raises(DiffInputError, match="chunk_size"):
        ms.diff([], chunk_size=1000)
    with pytest.raises(DiffInputError, match="block size"):
        ms.block_bytes([], 3000, chunk_size=CHUNK)
    with pytest.raises(DiffInputError, match="outside"):
        ms.diff_images(bytes(CHUNK), bytes(CHUNK), [1], chunk_size=CHUNK)
    image = bytearray(1024)
    with pytest.raises(DiffInputError, match="past"):
        ms.apply(image, [ms.Extent(0, b"\1" * 512), ms.Extent(1024, b"\1" * 512)])
    assert image == bytearray(1024)  # nothing written
    with pytest.raises(DiffInputError):
        ms.Extent(3, b"\0" * 512)


def test_long_runs_merge_across_batches_up_to_the_limit() -> None:
    rng = np.random.default_rng(11)
    base = np.zeros(4 << 20, np.uint8)
    head = base.copy()
    head[4096 : (3 << 20) + 4096] = rng.integers(1, 256, 3 << 20, dtype=np.uint8)
    extents = ms.diff_images(base, head, chunk_size=CHUNK, batch_chunks=16)
    assert all(e.length <= ms.MERGE_LIMIT for e in extents) and 3 <= len(extents) <= 4
    assert all(a.end == b.offset for a, b in itertools.pairwise(extents))
    assert sum(e.length for e in extents) == 3 << 20
    ms.apply(base, extents)
    assert np.array_equal(base, head)
