"""Per-key locks that leave nothing behind: a key's lock exists only while a thread holds it
or waits for it, so the ids of deleted replications do not accumulate."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0  # holding or waiting


class KeyedLocks:
    """One lock per key (a replication id)."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._guard = threading.Lock()

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            entry = self._entries.setdefault(key, _Entry())
            entry.users += 1
        try:
            with entry.lock:
                yield
        finally:
            with self._guard:
                entry.users -= 1
                if not entry.users:
                    del self._entries[key]

    def held(self, key: str) -> bool:
        with self._guard:
            entry = self._entries.get(key)
            return entry is not None and entry.lock.locked()

    def __len__(self) -> int:
        with self._guard:
            return len(self._entries)
