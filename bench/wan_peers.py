"""The peers drkit is measured against, run on the same two images.

- a full numpy compare of the two images (the device-size-proportional scan, and ground truth)
- block replication at 4 KiB and 64 KiB, raw and zstd-compressed (every differing block travels)
- rsync ``--no-whole-file --inplace`` between two local files (``Total bytes sent`` of --stats;
  with ``--ignore-times``, else equal size and mtime make rsync skip the file altogether)
- xdelta3, a byte-level delta floor (its VCDIFF output size, with its default secondary
  compression, and a source window covering the whole device)
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np
import zstandard

from .wan_images import SECTOR, MiB, copy_sparse


def full_compare(base: Path, head: Path) -> tuple[np.ndarray, float]:
    """Every changed sector number by comparing the whole images, and the wall time."""
    return best_of(3, lambda: _full_compare(base, head))


def best_of(times: int, fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()``'s result and its fastest wall time over ``times`` runs (page cache warm)."""
    best, result = float("inf"), None
    for _ in range(times):
        t0 = perf_counter()
        result = fn()
        best = min(best, perf_counter() - t0)
    return result, best


def _full_compare(base: Path, head: Path) -> np.ndarray:
    a = np.memmap(base, np.uint8, mode="r")
    b = np.memmap(head, np.uint8, mode="r")
    found = []
    for at in range(0, a.size, 64 * MiB):
        x = a[at : at + 64 * MiB].view(np.uint64).reshape(-1, SECTOR // 8)
        y = b[at : at + 64 * MiB].view(np.uint64).reshape(-1, SECTOR // 8)
        found.append(at // SECTOR + np.flatnonzero((x != y).any(axis=1)))
    return np.concatenate(found)


def block_zstd_bytes(head: Path, sectors: np.ndarray, block_size: int) -> int:
    """Block replication that compresses: zstd (level 3) over the differing blocks' content."""
    blocks = np.unique(sectors // (block_size // SECTOR)).tolist()
    mm = np.memmap(head, np.uint8, mode="r")
    cobj = zstandard.ZstdCompressor(level=3).compressobj()
    out = sum(len(cobj.compress(mm[b * block_size : (b + 1) * block_size].tobytes()))
              for b in blocks)
    return out + len(cobj.flush())


def tool_versions() -> dict[str, str]:
    found = {}
    for tool, flag in (("rsync", "--version"), ("xdelta3", "-V")):
        if shutil.which(tool):
            run = subprocess.run([tool, flag], capture_output=True, text=True)
            version = re.search(r"version\s+([\w.]+)", run.stdout + run.stderr)
            found[tool] = f"{tool} {version[1] if version else '?'}"
    return found


def rsync_bytes(base: Path, head: Path, workdir: Path) -> dict[str, float] | None:
    """rsync's delta transfer of head onto a copy of base: bytes sent, literal data, time."""
    if not shutil.which("rsync"):
        return None
    dest = workdir / "rsync.dest"
    copy_sparse(base, dest)
    t0 = perf_counter()
    run = subprocess.run(["rsync", "--no-whole-file", "--inplace", "--ignore-times", "--stats",
                          str(head), str(dest)], check=True, capture_output=True, text=True)
    seconds = perf_counter() - t0
    dest.unlink()
    return {"sent": _stat(run.stdout, "Total bytes sent"),
            "received": _stat(run.stdout, "Total bytes received"),
            "literal": _stat(run.stdout, "Literal data"), "seconds": seconds}


def _stat(text: str, label: str) -> int:
    match = re.search(rf"{label}: ([\d,]+)", text)
    if not match:
        raise RuntimeError(f"rsync --stats printed no {label!r}")
    return int(match.group(1).replace(",", ""))


def xdelta3_bytes(base: Path, head: Path, workdir: Path, size: int) -> dict[str, float] | None:
    if not shutil.which("xdelta3"):
        return None
    out = workdir / "delta.vcdiff"
    window = 1 << max(24, (size - 1).bit_length())
    t0 = perf_counter()
    subprocess.run(["xdelta3", "-e", "-f", "-B", str(window), "-s", str(base), str(head),
                    str(out)], check=True, capture_output=True)
    seconds = perf_counter() - t0
    result = {"bytes": out.stat().st_size, "seconds": seconds}
    out.unlink()
    return result
