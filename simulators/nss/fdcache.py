"""A bounded cache of open image file descriptors (least recently used first out).

An appliance holds thousands of LUNs and snapshots but a process gets ~1,024 descriptors, so
images are opened on use and at most ``capacity`` stay open. Eviction never closes a descriptor
another thread is using: ``use(path)`` pins the entry for the length of one ``pread``/``pwrite``;
an evicted or removed entry that is still pinned is closed by its last user. So a descriptor
number is never closed under a running I/O (which could land it on a file opened meanwhile).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CAPACITY = 256


@dataclass
class _Entry:
    fd: int
    users: int = 0
    dropped: bool = False  # evicted or removed: the last user closes it


class FdCache:
    """Open descriptors by path, at most ``capacity`` of them, opened ``O_RDWR|O_CREAT`` 0600."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"fd cache capacity must be at least 1, not {capacity}")
        self.capacity = capacity
        self._open: OrderedDict[Path, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._open)

    @contextmanager
    def use(self, path: Path) -> Iterator[int]:
        """The descriptor of ``path``, pinned open until the block ends."""
        entry = self._pin(path)
        try:
            yield entry.fd
        finally:
            self._unpin(entry)

    def forget(self, path: Path) -> None:
        """Close ``path``'s descriptor (now, or when its last user is done): before unlink."""
        with self._lock:
            entry = self._open.pop(path, None)
            if entry is not None:
                self._drop(entry)

    def close(self) -> None:
        with self._lock:
            while self._open:
                self._drop(self._open.popitem(last=False)[1])

    def _pin(self, path: Path) -> _Entry:
        with self._lock:
            entry = self._open.get(path)
            if entry is None:
                entry = _Entry(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
                self._open[path] = entry
                self._evict()
            else:
                self._open.move_to_end(path)
            entry.users += 1
            return entry

    def _unpin(self, entry: _Entry) -> None:
        with self._lock:
            entry.users -= 1
            if entry.dropped and entry.users == 0:
                os.close(entry.fd)

    def _evict(self) -> None:
        while len(self._open) > self.capacity:
            _, oldest = self._open.popitem(last=False)
            self._drop(oldest)

    @staticmethod
    def _drop(entry: _Entry) -> None:
        entry.dropped = True
        if entry.users == 0:
            os.close(entry.fd)
