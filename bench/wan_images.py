"""Synthetic device images and change patterns for the WAN benchmark, with exact ground truth.

Base image: a sparse file made of 1 MiB regions, each one of

- zero     (35 %)  never written: holes in the sparse file
- random   (20 %)  incompressible bytes (compressed media, encrypted data)
- text     (25 %)  pseudo-English words and lines (logs, documents, source)
- records  (20 %)  64-byte structured records: ids, timestamps, small amounts, names (databases)

A single-sector *update* is one of two kinds, half each: an in-place metadata update (one 4-16
byte field of the old sector changes: a counter, a timestamp, a balance) or a whole-sector
rewrite with new random or text content. Every write marks its 64 KiB chunks dirty, exactly as
the appliance's chunk tracker does, even where the bytes written equal the old ones.

Ground truth: each pattern records the sectors whose content it changed; the benchmark also
checks that set against an independent full compare of the two images.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MiB = 1 << 20
SECTOR = 512
CHUNK = 65536
REGION_KINDS = ("zero", "random", "text", "records")
REGION_WEIGHTS = (0.35, 0.20, 0.25, 0.20)
_SYLLABLES = ["re", "pli", "ca", "tion", "sec", "tor", "snap", "shot", "da", "ta", "log", "in",
              "dex", "ver", "sion", "con", "sist", "ent", "dis", "as", "ter", "re", "co", "very",
              "the", "of", "and", "to", "is", "a", "an", "page", "row", "col", "umn", "tab", "le"]


@dataclass
class Pattern:
    """A base/head image pair and what the writes between them touched."""

    name: str
    description: str
    base: Path
    head: Path
    dirty: set[int] = field(default_factory=set)
    written_bytes: int = 0
    expected: set[int] = field(default_factory=set)  # sectors whose content changed

    def dirty_chunks(self) -> list[int]:
        return sorted(self.dirty)


class Content:
    """Deterministic generator of realistic byte content."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        words = ["".join(self.rng.choice(_SYLLABLES, self.rng.integers(1, 4)))
                 for _ in range(4000)]
        picks = self.rng.choice(words, 1_200_000)
        text = " ".join(picks).replace("a ", "a.\n").encode()
        self.corpus = np.frombuffer(text, np.uint8)

    def text(self, size: int) -> np.ndarray:
        at = int(self.rng.integers(0, self.corpus.size - size))
        return self.corpus[at : at + size].copy()

    def random(self, size: int) -> np.ndarray:
        return self.rng.integers(0, 256, size, dtype=np.uint8)

    def records(self, size: int) -> np.ndarray:
        n = size // 64
        rec = np.zeros(n, dtype=[("id", "<u8"), ("ts", "<u8"), ("amount", "<i4"),
                                 ("flags", "<u2"), ("name", "S24"), ("pad", "S18")])
        rec["id"] = np.arange(n) + int(self.rng.integers(0, 1 << 40))
        rec["ts"] = 1_700_000_000 + np.sort(self.rng.integers(0, 10**7, n))
        rec["amount"] = self.rng.integers(-10**5, 10**5, n)
        rec["flags"] = self.rng.integers(0, 4, n)
        starts = self.rng.integers(0, self.corpus.size - 24, n)
        rec["name"] = self.corpus[starts[:, None] + np.arange(24)].view("S24").ravel()
        return rec.view(np.uint8)

    def region(self, kind: str, size: int) -> np.ndarray:
        make: dict[str, Callable[[int], np.ndarray]] = {
            "zero": lambda s: np.zeros(s, np.uint8), "random": self.random,
            "text": self.text, "records": self.records}
        return make[kind](size)

    def mixed(self, size: int, kinds: tuple[str, ...] = REGION_KINDS[1:]) -> np.ndarray:
        """``size`` bytes of 1 MiB regions of the given kinds, chosen at random."""
        parts = [self.region(str(self.rng.choice(kinds)), min(MiB, size - at))
                 for at in range(0, size, MiB)]
        return np.concatenate(parts)

    def updated_sector(self, old: np.ndarray) -> np.ndarray:
        """New content for one sector: a small in-place field update or a full rewrite."""
        if self.rng.random() < 0.5:
            new = old.copy()
            width = int(self.rng.integers(4, 17))
            at = int(self.rng.integers(0, SECTOR - width))
            new[at : at + width] ^= self.rng.integers(1, 256, width, dtype=np.uint8)
            return new
        return self.random(SECTOR) if self.rng.random() < 0.5 else self.text(SECTOR)


def make_base(path: Path, size: int, content: Content) -> dict[str, int]:
    """Write a sparse mixed-content image; returns bytes per region kind."""
    counts = dict.fromkeys(REGION_KINDS, 0)
    with open(path, "wb") as f:
        f.truncate(size)
        for at in range(0, size, MiB):
            kind = str(content.rng.choice(REGION_KINDS, p=REGION_WEIGHTS))
            n = min(MiB, size - at)
            counts[kind] += n
            if kind != "zero":
                os.pwrite(f.fileno(), content.region(kind, n).tobytes(), at)
    return counts


def copy_sparse(src: Path, dst: Path) -> None:
    subprocess.run(["cp", "--sparse=always", str(src), str(dst)], check=True)


class Writer:
    """Applies writes to a head image, recording dirty chunks and changed sectors."""

    def __init__(self, pattern: Pattern) -> None:
        self.p = pattern
        self.fd = os.open(pattern.head, os.O_RDWR)

    def read(self, offset: int, length: int) -> np.ndarray:
        return np.frombuffer(os.pread(self.fd, length, offset), np.uint8)

    def write(self, offset: int, data: np.ndarray) -> None:
        old = self.read(offset, data.size)
        changed = np.flatnonzero((old != data).reshape(-1, SECTOR).any(axis=1))
        self.p.expected.update((offset // SECTOR + changed).tolist())
        os.pwrite(self.fd, data.tobytes(), offset)
        self.p.dirty.update(range(offset // CHUNK, (offset + data.size - 1) // CHUNK + 1))
        self.p.written_bytes += data.size

    def close(self) -> None:
        os.close(self.fd)


def _pattern(name: str, description: str, base: Path, workdir: Path) -> tuple[Pattern, Writer]:
    head = workdir / f"{name}.head"
    copy_sparse(base, head)
    p = Pattern(name, description, base, head)
    return p, Writer(p)


def scattered(base: Path, workdir: Path, content: Content, size: int, n: int) -> Pattern:
    p, w = _pattern("scattered", f"{n} single-sector writes at random sectors", base, workdir)
    for s in content.rng.choice(size // SECTOR, n, replace=False).tolist():
        w.write(s * SECTOR, content.updated_sector(w.read(s * SECTOR, SECTOR)))
    w.close()
    return p


def rewrites_4k(base: Path, workdir: Path, content: Content, size: int, n: int) -> Pattern:
    p, w = _pattern("rewrite4k", f"{n} 4 KiB rewrites, one sector of eight differs", base,
                    workdir)
    for b in content.rng.choice(size // 4096, n, replace=False).tolist():
        block = w.read(b * 4096, 4096).copy()
        s = int(content.rng.integers(0, 8)) * SECTOR
        block[s : s + SECTOR] = content.updated_sector(block[s : s + SECTOR])
        w.write(b * 4096, block)
    w.close()
    return p


def sequential(base: Path, workdir: Path, content: Content, size: int, length: int,
               name: str = "seq64m") -> Pattern:
    p, w = _pattern(name, f"{length // MiB} MiB sequential overwrite with new mixed content",
                    base, workdir)
    at = int(content.rng.integers(0, (size - length) // MiB + 1)) * MiB
    for off in range(0, length, 16 * MiB):
        w.write(at + off, content.mixed(min(16 * MiB, length - off)))
    w.close()
    return p
