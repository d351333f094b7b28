"""MicroScan's vectorised batch kernel against a straightforward per-sector reference.

The same dirty chunks go through ``ChunkBatch`` blocks (the scanner's fast path, with a short
last chunk as a tuple the way the scanner sends it) and through ``(index, base, head)`` tuples;
both must give exactly the reference's sectors, kinds and bytes, as maximal runs, with the
same stats. Data: random, dense rewrites, sparse edits, zeroed sectors, in-place edits around
the XOR bounds, fully non-zero sectors, rows without a base, and an all-zero base (None).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulators.nss.replication.logic import microscan as ms
from simulators.nss.replication.logic.errors import DiffInputError

CHUNK = 4096  # small chunks keep hypothesis fast; the code is chunk-size agnostic
XOR_MAX = 32
STYLES = ("same", "random", "zero", "zero_some", "edit", "words", "dense_edit", "full_nonzero")


def reference(base: np.ndarray, head: np.ndarray, dirty: list[int], unknown: set[int],
              xor: bool, chunk: int) -> list[tuple[int, ms.Kind, bytes]]:
    """(sector, kind, data) of every sector that travels, by the definitions, one at a time."""
    out = []
    for c in dirty:
        for s in range(c * chunk // 512, min(head.size, (c + 1) * chunk) // 512):
            new, old = head[s * 512 : (s + 1) * 512], base[s * 512 : (s + 1) * 512]
            if c not in unknown and np.array_equal(new, old):
                continue
            out.append((s, *_kind(new, None if c in unknown else old, xor)))
    return out


def _kind(new: np.ndarray, old: np.ndarray | None, xor: bool) -> tuple[ms.Kind, bytes]:
    if not new.any():
        return ms.Kind.ZERO, b""
    if xor and old is not None:
        delta = new ^ old
        n = np.count_nonzero(delta)
        if n <= XOR_MAX and 4 * n < 3 * np.count_nonzero(new):
            return ms.Kind.XOR, delta.tobytes()
    return ms.Kind.RAW, new.tobytes()


def expand(extents: list[ms.Extent]) -> list[tuple[int, ms.Kind, bytes]]:
    out = []
    for e in extents:
        data = bytes(e.data)
        for i in range(e.length // 512):
            piece = b"" if e.kind is ms.Kind.ZERO else data[i * 512 : (i + 1) * 512]
            out.append((e.offset // 512 + i, e.kind, piece))
    return out


def _edit(rng: np.random.Generator, sector: np.ndarray, style: str) -> None:
    if style == "edit":      # a few bytes anywhere (a counter, a timestamp)
        at = rng.choice(512, int(rng.integers(1, 41)), replace=False)
        sector[at] ^= rng.integers(1, 256, at.size, dtype=np.uint8)
    elif style == "words":   # one byte in each of 31..33 words: around the word prefilter
        words = rng.choice(64, int(rng.integers(31, 34)), replace=False)
        sector[words * 8 + rng.integers(0, 8, words.size)] ^= 0x41


def _chunk_style(rng: np.random.Generator, piece: np.ndarray, style: str) -> None:
    sectors = piece.reshape(-1, 512)
    if style == "random":
        piece[:] = rng.integers(0, 256, piece.size, dtype=np.uint8)
    elif style == "zero":
        piece[:] = 0
    elif style == "zero_some":
        sectors[rng.random(len(sectors)) < 0.5] = 0
    elif style == "dense_edit":
        for s in sectors:
            _edit(rng, s, "edit")
    elif style in ("edit", "words"):
        for s in rng.choice(len(sectors), int(rng.integers(1, len(sectors) + 1)), replace=False):
            _edit(rng, sectors[s], style)


@st.composite
def scenes(draw: st.DrawFn) -> dict:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    whole = draw(st.integers(1, 10))
    short = draw(st.sampled_from([0, 0, 512, 1536, CHUNK - 512]))
    size = whole * CHUNK + short
    nchunks = whole + (1 if short else 0)
    zero_base = draw(st.booleans())
    base = np.zeros(size, np.uint8)
    if not zero_base:
        base[:] = rng.integers(0, 256, size, dtype=np.uint8)
        for c in draw(st.sets(st.integers(0, nchunks - 1), max_size=nchunks)):
            base[c * CHUNK : (c + 1) * CHUNK] = 0 if rng.random() < 0.5 else \
                rng.integers(1, 256, base[c * CHUNK : (c + 1) * CHUNK].size, dtype=np.uint8)
    head = base.copy()
    styles = draw(st.lists(st.sampled_from(STYLES), min_size=nchunks, max_size=nchunks))
    for c, style in enumerate(styles):
        piece = slice(c * CHUNK, (c + 1) * CHUNK)
        if style != "full_nonzero":
            _chunk_style(rng, head[piece], style)
            continue
        head[piece] = rng.integers(1, 256, head[piece].size, dtype=np.uint8)  # no zero byte
        if not zero_base:  # the same content in the base, then small in-place edits
            base[piece] = head[piece]
            _chunk_style(rng, head[piece], "dense_edit")
    changed = {i // CHUNK for i in np.flatnonzero(base != head).tolist()}
    extra = draw(st.sets(st.integers(0, nchunks - 1), max_size=3))
    dirty = sorted(changed | extra)
    unknown = draw(st.sets(st.sampled_from(dirty), max_size=3)) if dirty else set()
    return {"base": base, "head": head, "dirty": dirty, "unknown": unknown,
            "zero_base": zero_base, "whole": whole}


def block_input(scene: dict, rows: int) -> list:
    """ChunkBatches of whole chunks, then the short last chunk as a tuple, as the replication
    scanner sends them. Unknown rows get a base the receiver does not hold: the head with one
    byte per sector changed (XOR against it would be tempting and wrong)."""
    base, head, unknown = scene["base"], scene["head"], scene["unknown"]
    whole = [c for c in scene["dirty"] if c < scene["whole"]]
    out: list = []
    for at in range(0, len(whole), rows):
        idx = np.array(whole[at : at + rows], np.int64)
        h = head[: scene["whole"] * CHUNK].reshape(-1, CHUNK)[idx]
        b = None if scene["zero_base"] else base[: scene["whole"] * CHUNK].reshape(-1, CHUNK)[idx]
        mask = np.isin(idx, sorted(unknown))
        if b is not None:
            b[mask] = h[mask]
            b[mask, ::512] ^= 0x10
        out.append(ms.ChunkBatch(idx, b, h, mask if mask.any() else None))
    for c in (c for c in scene["dirty"] if c >= scene["whole"]):
        part = slice(c * CHUNK, min(head.size, (c + 1) * CHUNK))
        out.append((c, None if c in unknown else base[part], head[part]))
    return out


def tuple_input(scene: dict) -> list:
    base, head = scene["base"], scene["head"]
    return [(c, None if c in scene["unknown"] else base[c * CHUNK : (c + 1) * CHUNK],
             head[c * CHUNK : (c + 1) * CHUNK]) for c in scene["dirty"]]


def run(chunks: list, xor: bool, rows: int) -> tuple[list[ms.Extent], ms.DiffStats]:
    stats = ms.DiffStats()
    extents = ms.diff(chunks, chunk_size=CHUNK, xor=xor, stats=stats, batch_chunks=rows,
                      block_sizes=(512, 4096))
    return extents, stats


def assert_maximal(extents: list[ms.Extent]) -> None:
    for a, b in itertools.pairwise(extents):
        assert a.end < b.offset or (a.end == b.offset and a.kind is not b.kind)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes(), st.booleans(), st.integers(1, 4))
def test_block_and_tuple_paths_match_the_reference(scene, xor, rows) -> None:
    want = reference(scene["base"], scene["head"], scene["dirty"], scene["unknown"], xor, CHUNK)
    fast, fast_stats = run(block_input(scene, rows), xor, rows)
    plain, plain_stats = run(tuple_input(scene), xor, rows)
    assert expand(fast) == want
    assert fast == plain
    assert fast_stats == plain_stats
    assert_maximal(fast)
    kinds = {k.name: sum(1 for _, kind, _ in want if kind is k) for k in ms.Kind}
    assert fast_stats.sectors_by_kind == kinds and fast_stats.sectors_changed == len(want)
    assert fast_stats.payload_bytes == sum(len(e.data) for e in fast)
    replica = scene["base"].copy()
    for c in scene["unknown"]:
        replica[c * CHUNK : (c + 1) * CHUNK] = 0x77  # the receiver's content is anything
    assert np.array_equal(ms.apply(replica, fast), scene["head"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_full_size_chunks_dense_and_sparse_batches(seed) -> None:
    """64 KiB chunks in batches of 128 (the scanner's shape): dense batches (RAW data viewed
    in place, zero sectors found in one pass) and sparse ones agree with the reference."""
    rng = np.random.default_rng(seed)
    n, chunk = 300, ms.CHUNK_SIZE
    base = rng.integers(0, 256, n * chunk, dtype=np.uint8)
    base[: 40 * chunk] = 0
    head = base.copy()
    head[10 * chunk : 150 * chunk] = rng.integers(0, 256, 140 * chunk, dtype=np.uint8)  # dense
    head[60 * chunk : 70 * chunk] = 0
    for s in rng.choice(np.arange(160 * 128, n * 128), 400, replace=False):  # sparse edits
        _edit(rng, head[s * 512 : (s + 1) * 512], str(rng.choice(["edit", "words"])))
    dirty = sorted({i // chunk for i in np.flatnonzero(base != head).tolist()} | {155, 299})
    idx = np.array(dirty)
    blocks = [ms.ChunkBatch(idx[a : a + 128], base.reshape(-1, chunk)[idx[a : a + 128]],
                            head.reshape(-1, chunk)[idx[a : a + 128]])
              for a in range(0, idx.size, 128)]
    fast = ms.diff(blocks, xor=True)
    plain = ms.diff(ms.image_chunks(base, head, dirty), xor=True, batch_chunks=128)
    assert expand(fast) == reference(base, head, dirty, set(), True, chunk)
    assert fast == plain
    assert any(isinstance(e.data, memoryview) for e in fast)  # the dense batch: no copy


def _one_sector_case(edit) -> ms.Extent:
    rng = np.random.default_rng(5)
    base = rng.integers(1, 256, CHUNK, dtype=np.uint8)  # no zero byte: 512 non-zero per sector
    head = base.copy()
    edit(head[:512])
    block = ms.ChunkBatch(np.array([0]), base.reshape(1, -1), head.reshape(1, -1))
    (extent,) = ms.diff([block], chunk_size=CHUNK, xor=True)
    assert ms.diff(ms.image_chunks(base, head, chunk_size=CHUNK), chunk_size=CHUNK,
                   xor=True) == [extent]
    return extent


def _flip(positions):
    def edit(sector: np.ndarray) -> None:
        sector[np.asarray(positions)] ^= 0x80
    return edit


@pytest.mark.parametrize(("positions", "kind"), [
    (list(range(0, 256, 8)), ms.Kind.XOR),         # 32 words differ, one byte each
    (list(range(0, 264, 8)), ms.Kind.RAW),         # 33 words: rejected before any gather
    (list(range(32)), ms.Kind.XOR),                # 32 bytes in 4 words
    (list(range(33)), ms.Kind.RAW),                # 33 bytes
    ([511], ms.Kind.XOR),                          # all 512 bytes non-zero, one differs
])
def test_xor_bounds(positions, kind) -> None:
    assert _one_sector_case(_flip(positions)).kind is kind


def test_xor_needs_under_three_quarters_of_the_nonzero_bytes() -> None:
    def sparse_sector(sector: np.ndarray) -> None:  # 8 non-zero bytes, 6 of them new
        sector[:] = 0
        sector[:8] = 9

    rng = np.random.default_rng(6)
    base = np.zeros(CHUNK, np.uint8)
    base[:2] = 9
    head = base.copy()
    sparse_sector(head[:512])
    (e,) = ms.diff(ms.image_chunks(base, head, chunk_size=CHUNK), chunk_size=CHUNK, xor=True)
    assert e.kind is ms.Kind.RAW  # 4 * 6 == 3 * 8: not under
    head[8] = int(rng.integers(1, 256))
    (e,) = ms.diff(ms.image_chunks(base, head, chunk_size=CHUNK), chunk_size=CHUNK, xor=True)
    assert e.kind is ms.Kind.RAW  # 7 of 9 differ


def test_dense_batch_extents_are_read_only_views_sparse_ones_bytes() -> None:
    rng = np.random.default_rng(8)
    base = np.zeros((4, CHUNK), np.uint8)
    head = rng.integers(1, 256, (4, CHUNK), dtype=np.uint8)
    (dense,) = ms.diff([ms.ChunkBatch(np.arange(4), base, head)], chunk_size=CHUNK)
    assert isinstance(dense.data, memoryview) and dense.data.readonly
    assert bytes(dense.data) == head.tobytes()
    with pytest.raises(TypeError):
        dense.data[0] = 1  # type: ignore[index]
    sparse_head = base.copy()
    sparse_head[2, 512:1024] = 7
    (sparse,) = ms.diff([ms.ChunkBatch(np.arange(4), base, sparse_head)], chunk_size=CHUNK)
    assert isinstance(sparse.data, bytes) and sparse.offset == 2 * CHUNK + 512
    tuples = ms.diff(ms.image_chunks(base.reshape(-1), head.reshape(-1), chunk_size=CHUNK),
                     chunk_size=CHUNK)
    was = head.tobytes()
    head[:] = 0  # why a ChunkBatch is handed over: its dense extents view the head buffer
    assert not any(bytes(dense.data))
    assert bytes(tuples[0].data) == was  # tuples are copied first


@pytest.mark.parametrize(("batch", "field"), [
    (ms.ChunkBatch(np.array([0, 1]), None, np.zeros((2, 512), np.uint8)), "head"),
    (ms.ChunkBatch(np.array([0, 1]), np.zeros((1, CHUNK), np.uint8),
                   np.zeros((2, CHUNK), np.uint8)), "base"),
    (ms.ChunkBatch(np.array([0, 1]), None, np.zeros((2, CHUNK), np.uint8),
                   np.array([True])), "unknown"),
    (ms.ChunkBatch(np.array([0, 1]), None, np.zeros((2, CHUNK), np.uint8),
                   np.array([1, 0])), "unknown"),
    (ms.ChunkBatch(np.array([], np.int64), None, np.zeros((0, CHUNK), np.uint8)), "idx"),
    (ms.ChunkBatch(np.array([1, 1]), None, np.zeros((2, CHUNK), np.uint8)), "dirty_chunks"),
])
def test_bad_chunk_batches_are_rejected(batch, field) -> None:
    with pytest.raises(DiffInputError) as err:
        ms.diff([batch], chunk_size=CHUNK)
    assert err.value.details.get("field") == field
