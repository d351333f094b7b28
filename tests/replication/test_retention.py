"""Continuous replication leaves nothing growing per cycle, on a real pair of appliances:
jobs, events, snapshots and recovery points on both sides, staging, pending commits, metric
label sets and the log stay bounded; the replica keeps ``keep_points`` recovery points and
never prunes one a TimeView uses."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from simulators.nss.jobs import PRUNE_EVERY
from sra.nss_client import NssApiError

from .conftest import digest, snap_digest

pytestmark = pytest.mark.live
MiB = 1 << 20
CYCLES, EARLY = 300, 100
JOBS_KEEP, EVENTS_KEEP, KEEP_POINTS = 20, 30, 3
FLAGS = ("--jobs-keep", str(JOBS_KEEP), "--events-keep", str(EVENTS_KEEP))  # 15 min grace


def _rows(data_dir: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{data_dir / 'meta.sqlite'}?mode=ro", uri=True) as db:
        counts = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in (
            "jobs", "replication_events", "snapshots", "pending_commits")}
        counts["points"] = db.execute("SELECT count(DISTINCT rp_id) FROM rpoints").fetchone()[0]
        counts["sequence"] = db.execute("SELECT max(sequence) FROM replications").fetchone()[0]
    return counts


def _footprint(app) -> dict[str, object]:
    staging = app.data_dir / "staging"
    metrics = app.client.call("GET", "/metrics", raw=True).decode().splitlines()
    return {**_rows(app.data_dir), "snap_files": len(list((app.data_dir / "snaps").iterdir())),
            "staging_dirs": [p.relative_to(staging) for p in staging.glob("*/*") if p.is_dir()]
            if staging.exists() else [],
            "log": (app.data_dir / "appliance.log").stat().st_size,
            "series": sorted(line.rpartition(" ")[0] for line in metrics
                             if line and not line.startswith("#"))}


def _check_bounds(src: dict, dst: dict) -> None:
    # after a prune: the newest finished jobs, the creation's (announced, in its grace), the
    # one just queued; then the scheduler's cycles until the next prune
    assert src["jobs"] <= JOBS_KEEP + 1 + 1 + PRUNE_EVERY, src["jobs"]
    assert src["replication_events"] <= EVENTS_KEEP and dst["replication_events"] <= EVENTS_KEEP
    assert src["points"] <= 2 and src["snapshots"] <= 3 and src["snap_files"] <= 3
    assert dst["points"] <= KEEP_POINTS + 1 and dst["snap_files"] <= KEEP_POINTS + 1
    assert len(dst["staging_dirs"]) <= 1 and dst["pending_commits"] <= 1
    assert src["staging_dirs"] == [] and dst["jobs"] == 0


def test_a_few_hundred_continuous_cycles_leave_nothing_growing(appliance_factory):
    a, b = (appliance_factory(n, serve_args=FLAGS) for n in ("site-a", "site-b"))
    peer = a.client.pair(b.url, b.token)
    lun = a.client.create_lun("busy", MiB)
    a.client.write(lun["id"], 0, os.urandom(64 * 1024))
    rep_id = a.client.create_replication(
        lun["id"], peer["id"], policy={"mode": "continuous", "rpo_s": 0.05},
        keep_points=KEEP_POINTS)["replication"]["id"]
    samples, writes = {}, 0
    while len(samples) < 2:
        a.client.write(lun["id"], (writes * 7 * 4096) % MiB, os.urandom(512))
        writes += 1
        seq = _rows(a.data_dir)["sequence"]  # not the view: it announces the running job
        for mark in (EARLY, CYCLES):
            if seq >= mark and mark not in samples:
                samples[mark] = (_footprint(a), _footprint(b))
        time.sleep(0.1)
    for src, dst in samples.values():
        _check_bounds(src, dst)
    (early_a, early_b), (late_a, late_b) = samples[EARLY], samples[CYCLES]
    assert late_a["series"] == early_a["series"] and late_b["series"] == early_b["series"]
    assert late_a["log"] - early_a["log"] < 1024 and late_b["log"] == early_b["log"]
    assert a.client.get_replication(rep_id)["error"] is None


def _replicated(pair, **options):
    lun = pair.ca.create_lun("kept", MiB)
    pair.ca.write(lun["id"], 0, os.urandom(8192))
    created = pair.ca.create_replication(lun["id"], pair.peer_of_a, **options)
    pair.ca.wait_job(created["job"]["id"])
    rep = created["replication"]
    return lun, rep["id"], rep["devices"][0]["remote"]


def _cycles(pair, lun: dict, rep_id: str, n: int) -> None:
    for i in range(n):
        pair.ca.write(lun["id"], 4096 * (i + 2), os.urandom(512))
        pair.ca.sync_wait(rep_id)


def test_the_replica_keeps_keep_points_and_the_points_timeviews_use(pair):
    lun, rep_id, replica = _replicated(pair, keep_points=4)
    _cycles(pair, lun, rep_id, 6)
    points = pair.cb.recovery_points(replica)
    assert len(points) == 4
    oldest = points[0]
    view = pair.cb.create_timeview(oldest["snapshot_id"], writable=False)  # a test failover
    before = snap_digest(pair.cb, oldest["snapshot_id"], MiB)
    assert pair.ca.update_replication(rep_id, keep_points=2)["options"]["keep_points"] == 2
    assert pair.cb.get_replication(rep_id)["options"]["keep_points"] == 2  # told
    _cycles(pair, lun, rep_id, 3)
    kept = pair.cb.recovery_points(replica)
    assert kept[0]["id"] == oldest["id"] and len(kept) == 3
    assert digest(pair.cb, view["id"], MiB) == before
    assert digest(pair.cb, replica, MiB) == digest(pair.ca, lun["id"], MiB)


@pytest.mark.parametrize("value", [1, 1001, "3", True, 2.5])
def test_a_bad_keep_points_is_refused_by_name_and_changes_nothing(pair, value):
    lun = pair.ca.create_lun("k", MiB)
    with pytest.raises(NssApiError) as err:
        pair.ca.create_replication(lun["id"], pair.peer_of_a, keep_points=value)
    assert err.value.status == 400 and err.value.details["field"] == "options.keep_points"
    assert pair.ca.list_replications() == [] and pair.cb.list_replications() == []
    _, rep_id, _ = _replicated(pair)
    with pytest.raises(NssApiError) as err:
        pair.ca.update_replication(rep_id, keep_points=value)
    assert err.value.status == 400
    assert pair.ca.get_replication(rep_id)["options"]["keep_points"] == 8


def test_a_deleted_replication_leaves_no_metric_series(pair):
    lun, rep_id, _ = _replicated(pair)
    _cycles(pair, lun, rep_id, 2)
    assert rep_id in pair.ca.call("GET", "/metrics", raw=True).decode()
    pair.ca.delete_replication(rep_id)
    assert rep_id not in pair.ca.call("GET", "/metrics", raw=True).decode()


def test_staging_of_a_replication_that_no_longer_exists_goes_at_start_up(pair):
    lun, rep_id, replica = _replicated(pair)
    pair.b.stop()
    orphan = pair.b.data_dir / "staging" / "rep-0000000000" / "7"
    orphan.mkdir(parents=True)
    (orphan / "manifest.json").write_text("{}")
    pair.b.start()
    assert not orphan.parent.exists()
    _cycles(pair, lun, rep_id, 1)  # the live replication still stages and commits
    assert digest(pair.cb, replica, MiB) == digest(pair.ca, lun["id"], MiB)
