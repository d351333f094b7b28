"""Fixtures for the vcsim tests: one vcsim build per session, real vcsim processes per test.

A missing vcsim (no binary, no way to build one) FAILS these tests; it never skips them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestrator.vsphere.connection import connect, disconnect
from simulators.vcsim.binary import vcsim_binary
from simulators.vcsim.errors import VcsimBinaryError
from simulators.vcsim.site import SiteSpec, VcsimSite


@pytest.fixture(scope="session")
def vcsim_bin() -> Path:
    """Build (or find) the vcsim binary once per test session."""
    try:
        return vcsim_binary()
    except VcsimBinaryError as exc:
        pytest.fail(f"vcsim is required for these tests: {exc}")


@pytest.fixture
def site_factory(vcsim_bin: Path, tmp_path: Path) -> Iterator[Callable[..., VcsimSite]]:
    """Start real vcsim sites (with guest emulation); every one is stopped at teardown."""
    started: list[VcsimSite] = []

    def start(name: str = "site-a", *, guest: bool = True, **spec: object) -> VcsimSite:
        site = VcsimSite(SiteSpec(name=name, **spec), tmp_path / name, guest=guest).start()
        started.append(site)
        return site

    yield start
    for site in started:
        site.stop()


@pytest.fixture
def si_of() -> Iterator[Callable[[VcsimSite], object]]:
    """Log in to a site with pyvmomi; sessions are closed at teardown."""
    sessions = []

    def login(site: VcsimSite) -> object:
        si = connect(site.url, site.user, site.password)
        sessions.append(si)
        return si

    yield login
    for si in sessions:
        disconnect(si)
