"""Fixtures shared by the whole suite: real appliance processes on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from simulators.nss.process import ApplianceProcess


@pytest.fixture
def appliance_factory(tmp_path: Path) -> Iterator[Callable[..., ApplianceProcess]]:
    """Start real ``drkit nss serve`` processes; every one is stopped at teardown."""
    started: list[ApplianceProcess] = []

    def start(name: str = "nss-a", **kwargs) -> ApplianceProcess:
        proc = ApplianceProcess(name, tmp_path / name, **kwargs).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill9()


@pytest.fixture
def appliance(appliance_factory: Callable[..., ApplianceProcess]) -> ApplianceProcess:
    return appliance_factory("nss-a")
