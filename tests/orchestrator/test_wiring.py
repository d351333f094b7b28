"""Ports are built on first use; parallel steps must not each log in again."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from orchestrator.wiring import Lazy


def test_lazy_builds_once_under_parallel_first_use():
    built = []
    start = threading.Barrier(16)

    def build() -> str:
        built.append(1)
        time.sleep(0.05)  # a login takes a while: the others arrive meanwhile
        return "session"

    lazy = Lazy(build)

    def use(_: int) -> str:
        start.wait()
        return lazy.upper()

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(use, range(16)))
    assert results == ["SESSION"] * 16
    assert len(built) == 1
