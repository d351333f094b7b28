"""Sparse image files that hold device and snapshot bytes.

A LUN's bytes live in ``luns/<id>.img`` and a snapshot's preserved chunks in
``snaps/<id>.img``, each a sparse file the size of its device: a chunk never written costs no
disk and reads as zeros. Writes go straight to the file with ``pwrite``; they survive a
``kill -9`` of the process (the kernel holds them) and, with ``fsync=True``, a power loss too.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

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
    """Open image files by path, one descriptor each, created sparse on first use."""

    def __init__(self, root: Path, fsync: bool = False) -> None:
        self.root = root
        self.fsync = fsync
        self._fds: dict[Path, int] = {}
        self._lock = threading.Lock()
        for sub in ("luns", "snaps"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    def lun_path(self, lun_id: str) -> Path:
        return self.root / "luns" / f"{lun_id}.img"

    def snap_path(self, snap_id: str) -> Path:
        return self.root / "snaps" / f"{snap_id}.img"

    def create(self, path: Path, size: int) -> None:
        fd = self._fd(path)
        os.ftruncate(fd, size)
        if self.fsync:
            os.fsync(fd)

    def read(self, path: Path, offset: int, length: int) -> bytes:
        if not path.exists():
            return bytes(length)
        data = os.pread(self._fd(path), length, offset)
        if len(data) < length:  # past the end of a sparse file that was never extended
            data += bytes(length - len(data))
        return data

    def write(self, path: Path, offset: int, data: bytes | memoryview) -> None:
        fd = self._fd(path)
        view = memoryview(data)
        while view:
            done = os.pwrite(fd, view, offset)
            view, offset = view[done:], offset + done
        if self.fsync:
            os.fdatasync(fd)

    def remove(self, path: Path) -> None:
        with self._lock:
            fd = self._fds.pop(path, None)
        if fd is not None:
            os.close(fd)
        path.unlink(missing_ok=True)

    def allocated_bytes(self, path: Path) -> int:
        return path.stat().st_blocks * 512 if path.exists() else 0

    def close(self) -> None:
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()

    def _fd(self, path: Path) -> int:
        with self._lock:
            fd = self._fds.get(path)
            if fd is None:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                self._fds[path] = fd
            return fd
