"""Replications that run by themselves: policies, the scheduler, RPO states and events,
metrics, the CLI, and policies surviving a restart."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import requests

from simulators.wanlink import WanProxy
from sra.nss_client import NssApiError

from .conftest import digest
from .test_wan_faults import fill_random, wait_for

pytestmark = pytest.mark.live
MiB = 2**20


def _lun(client, name="p", size=4 * MiB):
    lun = client.create_lun(name, size)
    client.write(lun["id"], 0, b"x" * 4096)
    return lun


@pytest.mark.parametrize(("policy", "field"), [
    ({"mode": "sometimes"}, "policy.mode"), ({"rpo_s": 0}, "policy.rpo_s"),
    ({"mode": "interval"}, "policy.interval_s"), ({"bandwidth_bps": -5}, "policy.bandwidth_bps"),
    ({"windows": [{"start": "25:00", "end": "01:00"}]}, "policy.windows[0]"),
    ({"colour": "red"}, "policy.colour"),
])
def test_bad_policies_are_refused_naming_the_field_and_change_nothing(pair, policy, field):
    lun = _lun(pair.ca)
    with pytest.raises(NssApiError) as err:
        pair.ca.create_replication(lun["id"], pair.peer_of_a, policy=policy)
    assert err.value.status == 400 and err.value.details["field"] == field
    assert pair.ca.list_replications() == [] and pair.cb.list_replications() == []
    assert pair.ca.get_lun(lun["id"])["role"] == "standalone"
    created = pair.ca.create_replication(lun["id"], pair.peer_of_a)
    rep_id = created["replication"]["id"]
    with pytest.raises(NssApiError) as err:
        pair.ca.update_replication(rep_id, policy=policy)
    assert err.value.status == 400 and err.value.details["field"] == field
    assert pair.ca.get_replication(rep_id)["policy"] == created["replication"]["policy"]


def test_continuous_policy_replicates_without_anyone_calling_sync(pair):
    ca, cb = pair.ca, pair.cb
    lun = _lun(ca)
    created = ca.create_replication(lun["id"], pair.peer_of_a,
                                    policy={"mode": "continuous", "interval_s": 0.2, "rpo_s": 30})
    rep = created["replication"]
    assert rep["policy"]["mode"] == "continuous" and rep["rpo"]["objective_s"] == 30
    replica = rep["devices"][0]["remote"]
    for stamp in range(3):
        ca.write(lun["id"], 65536 * stamp, bytes([stamp + 1]) * 512)
        wait_for(lambda: digest(cb, replica, 4 * MiB) == digest(ca, lun["id"], 4 * MiB), 30,
                 "the replica to catch up by itself", every=0.2)
    # the first write may ride the initial cycle: the fourth comes by itself, unasked
    wait_for(lambda: ca.get_replication(rep["id"])["sequence"] >= 4, 10, "a further cycle")
    after = ca.get_replication(rep["id"])
    assert after["rpo"]["state"] == "ok" and after["rpo"]["lag_s"] < 30


def test_a_manual_sync_joins_the_running_scheduled_cycle(pair):
    ca = pair.ca
    lun = ca.create_lun("slow", 8 * MiB)
    fill_random(ca, lun["id"], 8 * MiB, seed=4)
    created = ca.create_replication(lun["id"], pair.peer_of_a,
                                    policy={"mode": "continuous", "bandwidth_bps": 2 * MiB})
    first = created["job"]
    joined = ca.sync(created["replication"]["id"])
    assert joined["id"] == first["id"] and "joins" in joined["warning"]
    ca.wait_job(first["id"], timeout=60)


def test_time_windows_hold_cycles_until_they_open(pair):
    ca = pair.ca
    lun = _lun(ca)
    now = datetime.now(UTC)
    closed = {"start": (now + timedelta(hours=2)).strftime("%H:%M"),
              "end": (now + timedelta(hours=3)).strftime("%H:%M")}
    created = ca.create_replication(lun["id"], pair.peer_of_a, policy={
        "mode": "continuous", "interval_s": 0.1, "windows": [closed]})
    rep_id = created["replication"]["id"]
    ca.wait_job(created["job"]["id"])                   # the creation's own initial sync
    time.sleep(1.5)                                     # six scheduler ticks, window closed
    assert ca.get_replication(rep_id)["sequence"] == 1
    ca.update_replication(rep_id, policy={"windows": []})
    wait_for(lambda: ca.get_replication(rep_id)["sequence"] >= 3, 20, "cycles once open")


def test_policy_changes_during_cycles_lose_nothing(pair):
    """A PATCH and a cycle change one replication's record at the same time (its policy; the
    point in flight, its stats): neither may undo the other's change. A lost point in flight
    used to fail the cycle after the replica had committed it, and every later cycle then
    found no common recovery point: replication stopped for good."""
    lun = _lun(pair.ca)
    rep_id = pair.ca.create_replication(lun["id"], pair.peer_of_a, policy={
        "mode": "continuous", "interval_s": 0, "rpo_s": 30})["replication"]["id"]
    client = pair.a.client
    start = time.monotonic()
    for n in range(300):
        client.update_replication(rep_id, policy={"rpo_s": 30 + n % 7})
        if time.monotonic() - start > 20:
            break
    assert client.get_replication(rep_id)["policy"]["rpo_s"] == 30 + n % 7
    before = client.get_replication(rep_id)["sequence"]
    wait_for(lambda: client.get_replication(rep_id)["sequence"] >= before + 2, 20,
             "cycles after the policy changes")
    rep = client.get_replication(rep_id)
    assert rep["error"] is None, rep["error"]
    assert rep["policy"]["rpo_s"] == 30 + n % 7
    pair.ca.write(lun["id"], 0, b"y" * 4096)
    pair.ca.sync_wait(rep_id)
    remote = rep["devices"][0]["remote"]
    assert digest(pair.cb, remote, 4 * MiB) == digest(pair.ca, lun["id"], 4 * MiB)


def watch(client, job_id: str, timeout: float = 60) -> dict:
    """Poll a job to its end; the progress it shows never goes back (a joined sync job may
    run a second cycle)."""
    deadline, seen = time.monotonic() + timeout, [0]
    while (job := client.job(job_id))["state"] in ("queued", "running"):
        assert job["progress"] >= seen[-1], (seen, job)
        seen.append(job["progress"])
        assert time.monotonic() < deadline, f"job {job_id} still {job['state']}"
        time.sleep(0.02)
    return job


def test_a_sync_during_a_running_cycle_delivers_every_write_made_before_it(pair):
    """SRM's planned migration: the source goes read-only, syncOnce, failover. With cycles
    running back to back the sync joins one whose snapshot may predate the last writes; the
    point it answers with must still hold them (the job runs one more cycle)."""
    ca, size = pair.ca, 32 * MiB
    lun = ca.create_lun("busy", size)
    rep = ca.create_replication(lun["id"], pair.peer_of_a, policy={
        "mode": "continuous", "interval_s": 0, "rpo_s": 30})["replication"]
    remote, stop = rep["devices"][0]["remote"], threading.Event()
    rng = np.random.default_rng(7)

    def churn() -> None:  # keeps every cycle busy in the LUN's second half
        writer = pair.a.client
        while not stop.is_set():
            writer.write(lun["id"], size // 2 + int(rng.integers(0, 60)) * 256 * 1024,
                         rng.integers(0, 256, 256 * 1024, dtype=np.uint8).tobytes())

    thread = threading.Thread(target=churn)
    thread.start()
    try:
        joined = 0
        for n in range(12):
            marker = bytes([n + 1]) * 4096
            ca.write(lun["id"], n * 4096, marker)
            job = ca.sync(rep["id"])
            joined += "warning" in job
            assert watch(ca, job["id"])["state"] == "succeeded"
            assert pair.cb.read(remote, n * 4096, 4096) == marker, f"round {n}"
    finally:
        stop.set()
        thread.join()
    assert joined, "no sync joined a running cycle: the case was not exercised"


def test_policies_survive_a_restart_and_cycles_resume(pair):
    policy = {"mode": "interval", "interval_s": 0.5, "rpo_s": 45, "bandwidth_bps": 50 * MiB,
              "windows": [{"start": "00:00", "end": "23:59"}, {"start": "23:59", "end": "00:00"}]}
    lun = _lun(pair.ca)
    rep_id = pair.ca.create_replication(lun["id"], pair.peer_of_a, policy=policy)[
        "replication"]["id"]
    pair.ca.update_replication(rep_id, policy={"rpo_s": 60})
    before = pair.ca.get_replication(rep_id)["policy"]
    assert before == {**policy, "rpo_s": 60.0}
    assert pair.cb.get_replication(rep_id)["rpo"]["objective_s"] == 60.0  # the replica was told
    pair.a.kill9()
    pair.a.start()
    ca = pair.a.client
    assert ca.get_replication(rep_id)["policy"] == before
    seq = ca.get_replication(rep_id)["sequence"]
    wait_for(lambda: ca.get_replication(rep_id)["sequence"] >= seq + 2, 30,
             "scheduled cycles after the restart")
    assert [e["policy"]["rpo_s"] for e in ca.replication_events(rep_id, "policy")] == [60.0]


def test_rpo_violation_raises_an_event_and_clears_when_the_link_returns(appliance_factory):
    a, b = appliance_factory("site-a"), appliance_factory("site-b")
    proxy = WanProxy(b.port)
    try:
        ca = a.client
        peer = ca.pair(proxy.url, b.token)["id"]
        lun = _lun(ca)
        rep_id = ca.create_replication(lun["id"], peer, policy={
            "mode": "continuous", "interval_s": 0.5, "rpo_s": 3})["replication"]["id"]
        wait_for(lambda: ca.get_replication(rep_id)["sequence"] >= 2, 30, "first cycles")
        proxy.down()
        wait_for(lambda: ca.get_replication(rep_id)["rpo"]["state"] == "violated", 30,
                 "the RPO to be violated", every=0.2)
        assert _metric(a, "nss_replication_rpo_violated", rep_id) == 1.0
        proxy.up()
        wait_for(lambda: ca.replication_events(rep_id, "rpo")[-1]["to"] == "ok", 60,
                 "the RPO to recover (its event)", every=0.2)
        assert ca.get_replication(rep_id)["rpo"]["state"] == "ok"
        states = [(e["from"], e["to"]) for e in ca.replication_events(rep_id, "rpo")]
        assert ("warning", "violated") in states and states[-1][1] == "ok"
        assert _metric(a, "nss_replication_rpo_violated", rep_id) == 0.0
        assert _metric(a, "nss_replication_retries_total", rep_id) >= 1
        assert _metric(a, "nss_replication_cycle_seconds_count", rep_id) >= 2
    finally:
        proxy.close()


def _metric(proc, name: str, rep_id: str) -> float:
    text = requests.get(f"{proc.url}/api/v1/metrics", timeout=10,
                        headers={"Authorization": f"Bearer {proc.token}"}).text
    for line in text.splitlines():
        if line.startswith(f'{name}{{replication="{rep_id}"') and "kind=" not in line:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} for {rep_id} not in /metrics")


def test_metrics_report_bytes_against_ideal_and_block_replication(pair):
    ca = pair.ca
    lun = ca.create_lun("m", 4 * MiB)
    rng = np.random.default_rng(5)
    for sector in rng.choice(4 * MiB // 512, 64, replace=False).tolist():
        ca.write(lun["id"], sector * 512, rng.integers(1, 256, 512, dtype=np.uint8).tobytes())
    ca.wait_job(ca.create_replication(lun["id"], pair.peer_of_a)["job"]["id"])
    text = requests.get(f"{pair.a.url}/api/v1/metrics", timeout=10,
                        headers={"Authorization": f"Bearer {pair.a.token}"}).text
    values = {kind: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              for kind in ("wire", "ideal", "block4k")
              if line.startswith("nss_replication_bytes_total") and f'kind="{kind}"' in line}
    assert values["ideal"] == 64 * 512 + 4096 - 4096 or values["ideal"] >= 64 * 512
    assert values["wire"] < values["block4k"] and values["ideal"] <= values["block4k"]
    assert "nss_replication_parts_in_flight" in text and "nss_replication_lag_seconds" in text


def test_cli_lists_lag_and_changes_policies(pair):
    lun = _lun(pair.ca)
    rep_id = pair.ca.create_replication(lun["id"], pair.peer_of_a)["replication"]["id"]

    def cli(*args: str) -> dict:
        run = subprocess.run([sys.executable, "-m", "simulators.nss", "--url", pair.a.url,
                              "--token-file", str(pair.a.token_file), *args, "--json"],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stdout + run.stderr
        return json.loads(run.stdout)

    row = cli("replication-policy", rep_id, "--mode", "interval", "--interval", "30",
              "--rpo", "120", "--bandwidth", "20M", "--window", "22:00-06:00")["replications"][0]
    assert (row["mode"], row["rpo_s"], row["bandwidth_bps"]) == ("interval", 120.0, 20 * MiB)
    listed = cli("replications")["replications"]
    assert listed[0]["id"] == rep_id and listed[0]["rpo_state"] in ("ok", "warning")
    assert isinstance(listed[0]["lag_s"], float)
    assert pair.ca.get_replication(rep_id)["policy"]["windows"] == [
        {"start": "22:00", "end": "06:00"}]
