"""Sparse image files that hold device and snapshot bytes.

A LUN's bytes live in ``luns/<id>.img`` and a snapshot's preserved chunks in
``snaps/<id>.img``, each a sparse file the size of its device: a chunk never written costs no
disk and reads as zeros. Writes go straight to the file with ``pwrite``; they survive a
``kill -9`` of the process (the kernel holds them) and, with ``fsync=True``, a power loss too.
At most ``max_open`` image files are open at once (``fdcache.py``): thousands of LUNs fit in
the usual 1,024-descriptor limit.
"""

from __future__ import annotations

import os
from pathlib import Path

from .directio import DirectWriter
from .fdcache import DEFAULT_CAPACITY, FdCache

SECTOR = 512
CHUNK = 64 * 1024
ZERO_CHUNK = bytes(CHUNK)


def chunk_range(offset: int, length: int) -> range:
    """Indexes of the chunks that the byte range [offset, offset+length) touches."""
    if length <= 0:
        return range(0)
    return range(offset // CHUNK, (offset + length - 1) // CHUNK + 1)


def is_zero(data: bytes | memoryview) -> bool:
    n = len(data)
    if n <= CHUNK:
        return data == ZERO_CHUNK[:n]
    return all(data[i:i + CHUNK] == ZERO_CHUNK[: min(CHUNK, n - i)] for i in range(0, n, CHUNK))


class ImageFiles:
    """Image files by path, created sparse on first use, through a bounded descriptor cache."""

    def __init__(self, root: Path, fsync: bool = False,
                 max_open: int = DEFAULT_CAPACITY) -> None:
        self.root = root
        self.fsync = fsync
        self.fds = FdCache(max_open)
        self.direct = DirectWriter()
        for sub in ("luns", "snaps"):
            (root / sub).mkdir(mode=0o700, parents=True, exist_ok=True)

    def lun_path(self, lun_id: str) -> Path:
        return self.root / "luns" / f"{lun_id}.img"

    def snap_path(self, snap_id: str) -> Path:
        return self.root / "snaps" / f"{snap_id}.img"

    def create(self, path: Path, size: int) -> None:
        with self.fds.use(path) as fd:
            os.ftruncate(fd, size)
            if self.fsync:
                os.fsync(fd)

    def read(self, path: Path, offset: int, length: int) -> bytes:
        if not path.exists():
            return bytes(length)
        with self.fds.use(path) as fd:
            data = os.pread(fd, length, offset)
        if len(data) < length:  # past the end of a sparse file that was never extended
            data += bytes(length - len(data))
        return data

    def write(self, path: Path, offset: int, data: bytes | memoryview,
              bulk: bool = False) -> None:
        """``bulk``: replicated data, written past the page cache when it can (directio.py)."""
        if bulk and self.direct.write(path, offset, data, self.fsync):
            return
        view = memoryview(data)
        with self.fds.use(path) as fd:
            while view:
                done = os.pwrite(fd, view, offset)
                view, offset = view[done:], offset + done
            if self.fsync:
                os.fdatasync(fd)

    def remove(self, path: Path) -> None:
        self.fds.forget(path)
        path.unlink(missing_ok=True)

    def allocated_bytes(self, path: Path) -> int:
        return path.stat().st_blocks * 512 if path.exists() else 0

    def close(self) -> None:
        self.fds.close()
        self.direct.close()
