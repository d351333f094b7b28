"""Finished jobs and replication events are pruned, on real appliance processes: running and
young jobs stay (the SRA's querySyncStatus still finds its sync), old ones go, older databases
open and get their indexes, and the hot lookups use them."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from simulators.nss.jobs import ACTIVE_SQL, PRUNE_EVERY, PRUNE_SQL, Retention
from simulators.nss.replication.records import TRIM_EVENTS_SQL
from sra.nss_client import NssApiError
from tests.replication.test_wan_faults import wait_for
from tests.sra.sra_runner import NS, command, connection, run_sra

pytestmark = pytest.mark.live
MiB = 1 << 20
INDEXES = ("jobs_active", "jobs_finished", "replication_events_by_rep")


def _stamp(ago: timedelta) -> str:
    return (datetime.now(UTC) - ago).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _db(data_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(data_dir / "meta.sqlite", isolation_level=None)


def _plan(db: sqlite3.Connection, sql: str, args) -> str:
    return " | ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, args))


def _exists(client, job_id: str) -> bool:
    try:
        client.job(job_id)
    except NssApiError as exc:
        assert exc.status == 404 and exc.code == "job-not-found", exc
        return False
    return True


def _replicated(a, b, size: int = MiB, data: bytes = b"j" * 4096, **policy):
    lun = a.client.create_lun(f"l{size}", size)
    a.client.write(lun["id"], 0, data)
    peer = a.client.pair(b.url, b.token)
    created = a.client.create_replication(lun["id"], peer["id"], policy=policy or None)
    return lun, created


def test_active_lookup_pruning_and_event_trimming_use_their_indexes(appliance_factory):
    a, b = appliance_factory("site-a"), appliance_factory("site-b")
    _, created = _replicated(a, b)
    rep_id = created["replication"]["id"]
    a.client.wait_job(created["job"]["id"])
    for _ in range(3):
        a.client.sync_wait(rep_id)
    with _db(a.data_dir) as db:  # the appliance's own database, as it runs
        assert db.execute("SELECT count(*) FROM jobs").fetchone()[0] == 4
        active = _plan(db, ACTIVE_SQL, ("sync", rep_id))
        prune = _plan(db, PRUNE_SQL, Retention().cutoffs(datetime.now(UTC)))
        trim = _plan(db, TRIM_EVENTS_SQL, {"rep": rep_id, "keep": 5})
    assert "USING INDEX jobs_active (kind=? AND target=?)" in active, active
    assert "TEMP B-TREE" not in active, active  # ORDER BY created comes from the index
    steps = prune.split(" | ")  # the finished rows only, both for the DELETE and its subquery
    assert [x for x in steps if "jobs" in x] == ["SCAN jobs USING INDEX jobs_finished"] * 2, prune
    assert "replication_events_by_rep (replication_id=?" in trim, trim


def test_an_older_database_opens_gets_its_indexes_and_prunes_old_finished_jobs(
        appliance_factory):
    """An older version's store (no indexes, no ``announced`` column, jobs never pruned) opens;
    its jobs count as announced (clients may know them); at start-up an interrupted job is
    failed and kept, finished jobs past the grace go by age, then beyond the newest
    ``--jobs-keep``."""
    a = appliance_factory("site-a", serve_args=("--jobs-keep", "50", "--jobs-max-age", "3600",
                                                "--jobs-poll-grace", "600"))
    a.stop()
    rows = {"old": [(f"job-old{i:03}", "succeeded", timedelta(hours=2, minutes=i))
                    for i in range(30)],
            "mid": [(f"job-mid{i:03}", "failed" if i % 7 else "succeeded",
                     timedelta(minutes=20, seconds=20 * i)) for i in range(80)],
            "young": [(f"job-yng{i:03}", "succeeded", timedelta(seconds=30 + i))
                      for i in range(10)],
            "running": [("job-run000", "running", timedelta(days=3))]}
    with _db(a.data_dir) as db:  # the store as the version before retention left it
        for index in INDEXES:
            db.execute(f"DROP INDEX {index}")
        db.execute("ALTER TABLE jobs DROP COLUMN announced")
        db.executemany("INSERT INTO jobs(id, kind, state, progress, target, result, error, "
                       "created, updated) VALUES(?, 'sync', ?, 0, 'rep-x', NULL, NULL, ?, ?)",
                       [(i, s, _stamp(ago), _stamp(ago)) for g in rows.values() for i, s, ago
                        in g])
    a.start()
    with _db(a.data_dir) as db:
        have = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        kept = {r[0] for r in db.execute("SELECT id FROM jobs")}
        columns = {r[1] for r in db.execute("PRAGMA table_info(jobs)")}
    assert set(INDEXES) <= have and "announced" in columns
    # 50 newest finished: the interrupted one (ended at start-up), 10 young, 39 newest mid
    assert kept == {"job-run000", *(i for i, _, _ in rows["young"]),
                    *(f"job-mid{i:03}" for i in range(39))}
    interrupted = a.client.job("job-run000")
    assert interrupted["state"] == "failed" and interrupted["error"]["code"] == "interrupted"
    assert not _exists(a.client, "job-old000") and not _exists(a.client, "job-mid039")


def test_pruning_never_takes_a_running_job_and_takes_finished_ones_past_the_grace(
        appliance_factory):
    """A sync held by a slow link keeps running through many prunes (``--jobs-keep 3``, no
    grace); the other replication's finished syncs beyond the newest three go."""
    flags = ("--jobs-keep", "3", "--jobs-poll-grace", "0")
    a, b, c = (appliance_factory(n, serve_args=flags) for n in ("site-a", "site-b", "site-c"))
    _, slow = _replicated(a, c, 8 * MiB, os.urandom(8 * MiB), bandwidth_bps=128 * 1024)
    _, fast = _replicated(a, b)
    rep_id, first = fast["replication"]["id"], fast["job"]["id"]
    ids = [a.client.sync_wait(rep_id)["id"] for _ in range(3 * PRUNE_EVERY)]
    assert a.client.job(slow["job"]["id"])["state"] == "running"
    assert not _exists(a.client, first) and not _exists(a.client, ids[0])
    assert all(_exists(a.client, i) for i in ids[-3:])
    assert sum(_exists(a.client, i) for i in ids) <= 3 + PRUNE_EVERY


def test_young_finished_syncs_stay_for_the_sras_query_sync_status(appliance_factory, tmp_path):
    """Past ``--jobs-keep`` but within the poll grace: every sync is still there, and the SRA
    answers querySyncStatus for the first handle syncOnce gave."""
    a, b = (appliance_factory(n, serve_args=("--jobs-keep", "3")) for n in ("site-a", "site-b"))
    lun, created = _replicated(a, b)
    a.client.wait_job(created["job"]["id"])
    started = run_sra(command("syncOnce", f"<SyncOnceParameters><ArrayId>"
                              f"{a.client.appliance()['id']}</ArrayId><SourceDevices>"
                              f'<SourceDevice id="{lun["id"]}"/></SourceDevices>'
                              "</SyncOnceParameters>", connection=connection(a.url, a.token)),
                      _workdir(tmp_path, "sync"))
    handle = started.root.find(f".//{{{NS}}}DeviceSync").get("id")
    a.client.wait_job(handle)
    rep_id = created["replication"]["id"]
    ids = [a.client.sync_wait(rep_id)["id"] for _ in range(PRUNE_EVERY + 4)]
    assert all(_exists(a.client, i) for i in [created["job"]["id"], handle, *ids])
    status = run_sra(command("querySyncStatus", f"<QuerySyncStatusParameters><ArrayId>"
                             f"{a.client.appliance()['id']}</ArrayId><SourceDevices>"
                             f'<SourceDevice id="{lun["id"]}" syncId="{handle}"/>'
                             "</SourceDevices></QuerySyncStatusParameters>",
                             connection=connection(a.url, a.token)), _workdir(tmp_path, "query"))
    assert status.error_codes() == [], status.response
    assert status.root.find(f".//{{{NS}}}DeviceSync").get("status") == "complete"


def test_scheduled_cycles_obey_the_count_and_a_joined_one_stays_for_its_poller(
        appliance_factory):
    """Cycles the scheduler starts and no client is shown are kept to ``--jobs-keep`` even
    within the poll grace (15 min here): a continuous replication cannot fill the table. The
    cycle a client's sync joined or started is kept for the grace."""
    a, b = (appliance_factory(n, serve_args=("--jobs-keep", "5")) for n in ("site-a", "site-b"))
    _, created = _replicated(a, b, mode="continuous")
    rep_id = created["replication"]["id"]
    joined = a.client.sync(rep_id)["id"]  # joins the running cycle or starts the next one
    start = _sequence(a.data_dir, rep_id)
    wait_for(lambda: _sequence(a.data_dir, rep_id) >= start + 4 * PRUNE_EVERY, 60,
             "scheduled cycles")  # read from the store: a replication's view announces its job
    with _db(a.data_dir) as db:
        rows = db.execute("SELECT count(*) FROM jobs").fetchone()[0]
    assert rows <= 5 + PRUNE_EVERY + 1 + 2, rows  # + the creation's job and the joined one
    assert _exists(a.client, joined) and _exists(a.client, created["job"]["id"])


def _sequence(data_dir: Path, rep_id: str) -> int:
    with sqlite3.connect(f"file:{data_dir / 'meta.sqlite'}?mode=ro", uri=True) as db:
        return db.execute("SELECT sequence FROM replications WHERE id=?", (rep_id,)).fetchone()[0]


def _workdir(root: Path, name: str) -> Path:
    (root / name).mkdir()
    return root / name


def test_events_keep_the_newest_per_replication(appliance_factory):
    a, b = (appliance_factory(n, serve_args=("--events-keep", "5")) for n in ("site-a", "site-b"))
    _, created = _replicated(a, b)
    rep_id = created["replication"]["id"]
    for rpo in range(100, 112):
        a.client.update_replication(rep_id, policy={"rpo_s": rpo})
    events = a.client.replication_events(rep_id, "policy")
    assert [e["policy"]["rpo_s"] for e in events] == [107.0, 108.0, 109.0, 110.0, 111.0]
    assert len(b.client.replication_events(rep_id)) == 5  # the replica was told each time


@pytest.mark.parametrize(("flags", "words"), [
    (("--jobs-poll-grace", "100", "--jobs-max-age", "10"), ("--jobs-poll-grace", "100 s",
                                                             "10 s")),
    (("--jobs-keep", "-1"), ("--jobs-keep", "-1")),
    (("--events-keep", "0"), ("--events-keep", "0")),
])
def test_bad_retention_flags_are_refused_by_name_and_start_nothing(tmp_path, flags, words):
    data = tmp_path / "never"
    proc = subprocess.run([sys.executable, "-m", "simulators.nss", "serve", "--name", "x",
                           "--data", str(data), "--port", "0", "--insecure",
                           "--token-file", str(tmp_path / "t"), *flags],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and all(w in proc.stderr for w in words), proc.stderr
    assert not data.exists()
