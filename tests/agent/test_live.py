"""End to end: a real appliance, a real guest process (application + agent), real snapshots."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from simulators.agent.blockdev import ApplianceDevice
from simulators.agent.checker import Report, check
from simulators.agent.guest import GuestConfig, GuestProcess
from simulators.agent.sources import timeviews
from tests.agent.helpers import wait_until

pytestmark = pytest.mark.live
MIB = 1024 * 1024


class Site:
    def __init__(self, appliance, workdir: Path) -> None:
        self.ap = appliance
        self.client = appliance.client
        self.workdir = workdir
        self.guests: list[GuestProcess] = []

    def guest(self, name: str, seed: int, **config) -> tuple[GuestProcess, list[str]]:
        luns = [self.client.create_lun(f"{name}-{part}", MIB)["id"] for part in ("data", "wal")]
        cfg = GuestConfig(name=name, seed=seed, **config)
        proc = GuestProcess(self.workdir, self.ap.url, self.ap.token_file, *luns, cfg).start()
        self.guests.append(proc)
        return proc, luns

    def check_snapshot(self, gsnap: dict, data_lun: str, wal_lun: str) -> Report:
        by_lun = {s["lun_id"]: s["id"] for s in gsnap["snapshots"]}
        ids = [by_lun[data_lun], by_lun[wal_lun]]
        with timeviews(self.client, self.ap.url, self.ap.token, ids) as (data, wal):
            return check(data, wal)

    def wait_progress(self, data_lun: str, wal_lun: str, min_lsn: int) -> None:
        def progressed() -> bool:
            devs = [ApplianceDevice(self.ap.url, self.ap.token, x) for x in (data_lun, wal_lun)]
            return check(*devs).checkpoint_lsn >= min_lsn
        wait_until(progressed, 20, f"the application to reach LSN {min_lsn}")


@pytest.fixture
def site(appliance_factory: Callable, tmp_path: Path) -> Iterator[Site]:
    s = Site(appliance_factory("nss-a"), tmp_path)
    yield s
    for g in s.guests:
        g.stop()


def test_guest_registers_and_deregisters_with_the_appliance(site: Site) -> None:
    guest, luns = site.guest("db1", seed=1)
    agents = site.client.list_agents()
    assert [(a["name"], sorted(a["luns"])) for a in agents] == [("db1", sorted(luns))]
    assert "token" not in agents[0]
    assert guest.stop() == 0
    assert site.client.list_agents() == []


def test_quiesced_group_snapshot_is_app_consistent_and_clean(site: Site) -> None:
    guest, (data, wal) = site.guest("db1", seed=2, rate_tps=300)
    group = site.client.create_group("db1-cg", [data, wal])
    site.wait_progress(data, wal, 30)
    for _ in range(5):
        gsnap = site.client.group_snapshot(group["id"], quiesce=True, on_quiesce_failure="fail")
        assert gsnap["consistency"] == "app"
        report = site.check_snapshot(gsnap, data, wal)
        assert report.ok, report.to_dict()
        assert report.log_end > 0 and report.total_found == report.geometry.total
    pauses = guest.status()["stats"]["pause_ms"]
    assert pauses["count"] == 5 and pauses["median"] < 1000


def test_crash_snapshots_of_the_running_application_show_honest_violations(site: Site) -> None:
    _, (data, wal) = site.guest("db1", seed=3, rate_tps=400, flush_interval_s=0.01)
    group = site.client.create_group("db1-cg", [data, wal])
    site.wait_progress(data, wal, 30)
    reports = []
    for _ in range(60):
        gsnap = site.client.group_snapshot(group["id"], quiesce=False)
        assert gsnap["consistency"] == "crash"
        reports.append(site.check_snapshot(gsnap, data, wal))
        if sum(not r.ok for r in reports) >= 2:
            break
    assert sum(not r.ok for r in reports) >= 2, [r.counts for r in reports]


def test_group_wide_quiesce_freezes_every_agent_of_the_group(site: Site) -> None:
    g1, (d1, w1) = site.guest("db1", seed=4)
    g2, (d2, w2) = site.guest("db2", seed=5)
    group = site.client.create_group("two-dbs", [d1, w1, d2, w2])
    site.wait_progress(d1, w1, 20)
    site.wait_progress(d2, w2, 20)
    gsnap = site.client.group_snapshot(group["id"], quiesce=True, on_quiesce_failure="fail")
    assert gsnap["consistency"] == "app"
    assert site.check_snapshot(gsnap, d1, w1).ok
    assert site.check_snapshot(gsnap, d2, w2).ok
    for guest in (g1, g2):  # each agent froze and was thawed exactly once
        stats = guest.status()["stats"]
        assert stats["pause_ms"]["count"] == 1 and stats["failures"] == 0


def test_an_agent_that_cannot_freeze_in_time_makes_the_snapshot_crash_or_fail(site: Site) -> None:
    # 1 ms leaves the agent no time to flush: a real timeout, not a simulated one.
    guest, (data, wal) = site.guest("db1", seed=6, timeout_ms=1)
    group = site.client.create_group("db1-cg", [data, wal])
    site.wait_progress(data, wal, 10)
    crash = site.client.group_snapshot(group["id"], quiesce=True, on_quiesce_failure="crash")
    assert crash["consistency"] == "crash"
    before = len(site.client.list_snapshots(data))
    from sra.nss_client import NssApiError

    with pytest.raises(NssApiError) as err:
        site.client.group_snapshot(group["id"], quiesce=True, on_quiesce_failure="fail")
    assert err.value.code == "quiesce-failed"
    assert len(site.client.list_snapshots(data)) == before
    site.wait_progress(data, wal, crash_lsn(site, data, wal) + 20)  # the application still runs
    status = guest.status()
    # The appliance gives up after 1 ms, maybe before the request reached the agent, so the
    # agent counts at most the two failures; what must hold is that it never stays frozen.
    assert status["state"] == "thawed" and status["stats"]["failures"] <= 2


def crash_lsn(site: Site, data: str, wal: str) -> int:
    devs = [ApplianceDevice(site.ap.url, site.ap.token, x) for x in (data, wal)]
    return check(*devs).checkpoint_lsn


def test_guest_pins_an_https_appliance(appliance_factory: Callable, tmp_path: Path) -> None:
    """Over HTTPS the guest reaches its appliance only through the pinned certificate: with
    the fingerprint it runs, registers and writes; a malformed fingerprint is refused up front."""
    ap = appliance_factory("nss-tls", tls=True)
    luns = [ap.client.create_lun(f"app-{part}", MIB)["id"] for part in ("data", "wal")]
    cfg = GuestConfig(name="tls", seed=3)
    guest = GuestProcess(tmp_path, ap.url, ap.token_file, *luns, cfg,
                         fingerprint=ap.fingerprint or "").start()
    try:
        assert [a["name"] for a in ap.client.list_agents()] == ["tls"]
        devs = [ApplianceDevice(ap.url, ap.token, x, ap.fingerprint or "") for x in luns]
        wait_until(lambda: check(*devs).checkpoint_lsn > 0, 20, "the application to write")
    finally:
        assert guest.stop() == 0
    bad = GuestProcess(tmp_path / "bad", ap.url, ap.token_file, *luns, cfg, fingerprint="zz")
    with pytest.raises(RuntimeError, match="64 hex digits"):
        bad.start(timeout_s=10)


def test_a_quiesced_sync_joining_a_crash_consistent_cycle_gets_an_app_point(
        appliance_factory: Callable, tmp_path: Path) -> None:
    """Cycles run back to back crash-consistently; a quiesced sync (the SRA's syncOnce with
    quiesce) joins one, and its answer is still a point taken through the agent."""
    site = Site(appliance_factory("nss-a"), tmp_path)
    replica = appliance_factory("nss-b")
    try:
        _, (data, wal) = site.guest("db1", seed=4, rate_tps=200)
        group = site.client.create_group("db1-cg", [data, wal])
        peer = site.client.pair(replica.url, replica.token)["id"]
        rep = site.client.create_replication(group["id"], peer, policy={
            "mode": "continuous", "interval_s": 0, "rpo_s": 30})["replication"]
        site.wait_progress(data, wal, 10)
        joined = 0
        for _ in range(6):
            job = site.client.sync(rep["id"], quiesce=True)
            joined += "warning" in job
            result = site.client.wait_job(job["id"], timeout=60)["result"]
            assert result["consistency"] == "app", result
        assert joined, "no quiesced sync joined a running cycle: the case was not exercised"
    finally:
        for g in site.guests:
            g.stop()
