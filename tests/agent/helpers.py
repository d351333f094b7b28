"""Shared builders for the agent tests: small stores on in-memory devices."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from simulators.agent import layout as L
from simulators.agent.blockdev import MemoryDevice
from simulators.agent.refstore import Store, StoreConfig


def small_geometry() -> L.Geometry:
    return L.Geometry.new(n_accounts=16, record_bytes=2048, wal_slots=16, initial_balance=100)


def memory_store(seed: int = 1, io_threads: int = 1) -> Store:
    g = small_geometry()
    data, wal = MemoryDevice(g.data_bytes), MemoryDevice(g.wal_bytes)
    return Store.format(data, wal, g, StoreConfig(io_threads=io_threads, seed=seed))


def run_transfers(store: Store, count: int, seed: int = 2) -> None:
    rng = random.Random(seed)
    n = store.geometry.n_accounts
    for _ in range(count):
        a, b = rng.sample(range(n), 2)
        amount = rng.randint(1, 30)
        store.transfer({a: -amount, b: amount}, rng.choice((1024, 2048, 3072)))


class RecordingDevice:
    """A device that applies writes and appends them to a log shared by several devices."""

    def __init__(self, inner: MemoryDevice, log: list[tuple[str, int, bytes]], name: str) -> None:
        self.inner, self.log, self.name = inner, log, name

    def read(self, offset: int, length: int) -> bytes:
        return self.inner.read(offset, length)

    def write(self, offset: int, data: bytes) -> None:
        self.log.append((self.name, offset, data))
        self.inner.write(offset, data)

    def flush(self) -> None:
        return None


def copy_of(dev: MemoryDevice) -> MemoryDevice:
    clone = MemoryDevice(len(dev.buf))
    clone.buf[:] = dev.buf
    return clone


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str = "condition") -> None:
    """Poll ``predicate`` until it holds; fail the test if it does not within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.01)
