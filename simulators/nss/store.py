"""Metadata of one appliance in SQLite (WAL): the single source of truth for every object.

Device bytes live in sparse image files (see ``blockdev.py``); everything that says what those
bytes mean — LUNs, snapshots and which chunks each preserved, TimeView overlays, clients,
presentations, groups, jobs — lives here, committed before the data it describes is overwritten,
so a ``kill -9`` at any instant leaves a consistent appliance.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS luns(
    id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, wwn TEXT UNIQUE NOT NULL,
    size_bytes INTEGER NOT NULL, access TEXT NOT NULL, role TEXT NOT NULL,
    origin_snapshot TEXT, created TEXT NOT NULL, attrs TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS snapshots(
    id TEXT PRIMARY KEY, lun_id TEXT NOT NULL, seq INTEGER NOT NULL, created TEXT NOT NULL,
    consistency TEXT NOT NULL, group_snapshot TEXT, attrs TEXT NOT NULL DEFAULT '{}');
CREATE INDEX IF NOT EXISTS snapshots_by_lun ON snapshots(lun_id, seq);
CREATE TABLE IF NOT EXISTS cow(
    snapshot_id TEXT NOT NULL, chunk INTEGER NOT NULL, PRIMARY KEY(snapshot_id, chunk))
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS overlay(
    lun_id TEXT NOT NULL, chunk INTEGER NOT NULL, PRIMARY KEY(lun_id, chunk)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS clients(id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL,
    created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS initiators(type TEXT NOT NULL, iid TEXT NOT NULL,
    client_id TEXT NOT NULL, PRIMARY KEY(type, iid));
CREATE TABLE IF NOT EXISTS presentations(
    id TEXT PRIMARY KEY, lun_id TEXT NOT NULL, client_id TEXT, initiators TEXT NOT NULL,
    lun_number INTEGER NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS groups(id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL,
    created TEXT NOT NULL, attrs TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS group_members(group_id TEXT NOT NULL, lun_id TEXT NOT NULL UNIQUE,
    position INTEGER NOT NULL, PRIMARY KEY(group_id, lun_id));
CREATE TABLE IF NOT EXISTS jobs(
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, state TEXT NOT NULL, progress INTEGER NOT NULL,
    target TEXT, result TEXT, error TEXT, created TEXT NOT NULL, updated TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_active ON jobs(kind, target, created)
    WHERE state IN ('queued', 'running');
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs(updated) WHERE state IN ('succeeded', 'failed');
CREATE TABLE IF NOT EXISTS peers(
    id TEXT PRIMARY KEY, name TEXT NOT NULL, url TEXT NOT NULL, token TEXT NOT NULL,
    key BLOB NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS replications(
    id TEXT PRIMARY KEY, direction TEXT NOT NULL, peer_id TEXT NOT NULL, state TEXT NOT NULL,
    source_kind TEXT NOT NULL, local_group TEXT, devices TEXT NOT NULL, sequence INTEGER NOT NULL,
    last_rp TEXT, inflight TEXT, options TEXT NOT NULL, stats TEXT NOT NULL, error TEXT,
    created TEXT NOT NULL, updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rpoints(
    replication_id TEXT NOT NULL, rp_id TEXT NOT NULL, lun_id TEXT NOT NULL,
    snapshot_id TEXT NOT NULL, sequence INTEGER NOT NULL, time TEXT NOT NULL,
    consistency TEXT NOT NULL, PRIMARY KEY(replication_id, rp_id, lun_id));
CREATE INDEX IF NOT EXISTS rpoints_by_lun ON rpoints(lun_id, sequence);
CREATE TABLE IF NOT EXISTS pending_commits(
    replication_id TEXT PRIMARY KEY, sequence INTEGER NOT NULL, rp_id TEXT NOT NULL,
    time TEXT NOT NULL, consistency TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS agents(
    id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, url TEXT NOT NULL, token TEXT NOT NULL,
    luns TEXT NOT NULL, timeout_ms INTEGER NOT NULL, created TEXT NOT NULL);
"""

#: (table, column, declaration) added to existing stores on open
ADDED_COLUMNS = (("peers", "fingerprint", "TEXT"),
                 ("jobs", "announced", "INTEGER NOT NULL DEFAULT 1"))


class Store:
    """One SQLite connection shared by the appliance's threads under one lock.

    ``tx()`` is the only way to change anything: ``BEGIN IMMEDIATE`` … ``COMMIT``, or roll back
    on any exception so a refused request changes nothing.
    """

    def __init__(self, path: Path) -> None:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))  # SQLite gives -wal/-shm its mode
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=OFF")
        self._db.execute("PRAGMA secure_delete=ON")  # a deleted secret's bytes are overwritten
        self._lock = threading.RLock()
        self._db.executescript(SCHEMA)
        self._add_columns()
        self._depth = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _add_columns(self) -> None:
        """Columns added after a table's first release (older stores get them on open)."""
        for table, column, decl in ADDED_COLUMNS:
            have = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")

    def checkpoint(self) -> None:
        """Move the WAL into the database file and truncate it (old page images included)."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._db
                finally:
                    self._depth -= 1
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                self._depth = 0

    def changes(self) -> int:
        """Rows changed through this store so far: equal numbers mean nothing changed."""
        return self._db.total_changes

    def all(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def scalar(self, sql: str, *args: Any) -> Any:
        row = self.one(sql, *args)
        return None if row is None else row[0]

    def meta(self, key: str, default: str | None = None) -> str | None:
        value = self.scalar("SELECT value FROM meta WHERE key=?", key)
        return default if value is None else value

    def set_meta(self, key: str, value: str) -> None:
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", (key, value))


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
