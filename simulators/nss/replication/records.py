"""The replication record (kept by both appliances under one id) and its recovery points.

``direction`` says which side this appliance plays now: ``outbound`` (it is the source) or
``inbound`` (it holds the replicas). ``devices`` pairs each local LUN with the peer's LUN.
A recovery point is one consistent instant of every device of the replication: on each side,
one snapshot per device, all with the same ``rp_id``.

States: ``replicating`` (cycles run), ``split`` (stopped on purpose), ``failed-over`` (the
replica was promoted; the source must be demoted and the direction reversed to go on).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..context import Context, utcnow
from ..errors import not_found
from ..store import dumps

STATES = ("replicating", "split", "failed-over")
ZERO_STATS = {"sectors_sent": 0, "payload_bytes": 0, "wire_bytes": 0, "chunks_scanned": 0,
              "block4k_bytes": 0, "block64k_bytes": 0, "seconds": 0.0, "cycles": 0,
              "ideal_bytes": 0, "parts_sent": 0, "parts_resent": 0, "retries": 0}
EVENTS_SCHEMA = ("""CREATE TABLE IF NOT EXISTS replication_events(
    id INTEGER PRIMARY KEY AUTOINCREMENT, replication_id TEXT NOT NULL, time TEXT NOT NULL,
    kind TEXT NOT NULL, detail TEXT NOT NULL)""",
                 "CREATE INDEX IF NOT EXISTS replication_events_by_rep "
                 "ON replication_events(replication_id, id)")
KEEP_EVENTS = 1000  # per replication, the newest (an RPO that flaps adds two per cycle)
TRIM_EVENTS_SQL = """DELETE FROM replication_events WHERE replication_id=:rep AND id <=
    (SELECT id FROM replication_events WHERE replication_id=:rep ORDER BY id DESC
     LIMIT 1 OFFSET :keep)"""


@dataclass(frozen=True)
class Device:
    local: str
    remote: str


@dataclass(frozen=True)
class Replication:
    id: str
    direction: str
    peer_id: str
    state: str
    source_kind: str
    local_group: str | None
    devices: tuple[Device, ...]
    sequence: int
    last_rp: str | None
    options: dict[str, Any]
    stats: dict[str, Any]
    created: str
    updated: str
    inflight: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    @property
    def local_luns(self) -> list[str]:
        return [d.local for d in self.devices]

    def to_dict(self) -> dict[str, Any]:
        src = self.local_group if self.source_kind == "group" else self.devices[0].local
        return {"id": self.id, "direction": self.direction, "peer": self.peer_id,
                "state": self.state, "source_kind": self.source_kind,
                "source": src if self.direction == "outbound" else None,
                "local_group": self.local_group,
                "devices": [asdict(d) for d in self.devices], "sequence": self.sequence,
                "last_recovery_point": self.last_rp, "mode": "async",
                "microscan": True, "compression": "zstd", "encryption": "aes-256-gcm",
                "options": self.options, "stats": self.stats, "error": self.error,
                "created": self.created, "updated": self.updated}


@dataclass(frozen=True)
class RecoveryPoint:
    rp_id: str
    lun_id: str
    snapshot_id: str
    sequence: int
    time: str
    consistency: str = field(default="crash")

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.rp_id, "time": self.time, "snapshot_id": self.snapshot_id,
                "consistent": self.consistency, "sequence": self.sequence, "lun_id": self.lun_id}


class Records:
    def __init__(self, ctx: Context, keep_events: int = KEEP_EVENTS) -> None:
        self.ctx = ctx
        self.keep_events = keep_events
        with ctx.store.tx() as db:
            for statement in EVENTS_SCHEMA:
                db.execute(statement)

    def get(self, rep_id: str) -> Replication:
        row = self.ctx.store.one("SELECT * FROM replications WHERE id=?", rep_id)
        if row is None:
            raise not_found("replication", rep_id)
        return _from_row(row)

    def list(self) -> list[Replication]:
        return [_from_row(r) for r in
                self.ctx.store.all("SELECT * FROM replications ORDER BY created")]

    def of_lun(self, lun_id: str) -> Replication | None:
        for rep in self.list():
            if lun_id in rep.local_luns:
                return rep
        return None

    def insert(self, rep: Replication) -> None:
        with self.ctx.store.tx() as db:
            db.execute(
                "INSERT INTO replications(id, direction, peer_id, state, source_kind, "
                "local_group, devices, sequence, last_rp, inflight, options, stats, error, "
                "created, updated) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (rep.id, rep.direction, rep.peer_id, rep.state, rep.source_kind,
                 rep.local_group, dumps([asdict(d) for d in rep.devices]), rep.sequence,
                 rep.last_rp, dumps(rep.inflight), dumps(rep.options), dumps(rep.stats),
                 dumps(rep.error), rep.created, rep.updated))

    def update(self, rep_id: str, **fields: Any) -> Replication:
        """Set ``fields``; the others keep what they hold when this commits."""
        return self.change(rep_id, lambda _: fields)

    def change(self, rep_id: str, fields: Callable[[Replication], dict[str, Any]]) -> Replication:
        """Read the record, compute the fields to set from it and write them, in one
        transaction (within the caller's, if it has one open): the PATCH of a policy, a cycle
        recording its point in flight and a role change may run at once, and none of them may
        undo another's change."""
        with self.ctx.store.tx() as tx:
            current = self.get(rep_id)
            rep = replace(current, **fields(current), updated=utcnow())
            cols = {"direction": rep.direction, "state": rep.state, "sequence": rep.sequence,
                    "last_rp": rep.last_rp, "inflight": dumps(rep.inflight),
                    "stats": dumps(rep.stats), "error": dumps(rep.error),
                    "devices": dumps([asdict(d) for d in rep.devices]),
                    "local_group": rep.local_group, "options": dumps(rep.options),
                    "updated": rep.updated}
            tx.execute(f"UPDATE replications SET {', '.join(f'{c}=?' for c in cols)} "
                       "WHERE id=?", (*cols.values(), rep_id))
        return rep

    def delete(self, rep_id: str) -> None:
        with self.ctx.store.tx() as db:
            db.execute("DELETE FROM rpoints WHERE replication_id=?", (rep_id,))
            db.execute("DELETE FROM pending_commits WHERE replication_id=?", (rep_id,))
            db.execute("DELETE FROM replication_events WHERE replication_id=?", (rep_id,))
            db.execute("DELETE FROM replications WHERE id=?", (rep_id,))

    # ---------------------------------------------------------------- events
    def add_event(self, rep_id: str, kind: str, detail: dict[str, Any]) -> dict[str, Any]:
        now = utcnow()
        with self.ctx.store.tx() as db:
            cur = db.execute("INSERT INTO replication_events(replication_id, time, kind, detail)"
                             " VALUES(?,?,?,?)", (rep_id, now, kind, dumps(detail)))
            db.execute(TRIM_EVENTS_SQL, {"rep": rep_id, "keep": self.keep_events})
        return {"id": cur.lastrowid, "replication_id": rep_id, "time": now, "kind": kind,
                **detail}

    def events(self, rep_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM replication_events WHERE replication_id=?", [rep_id]
        if kind:
            sql += " AND kind=?"
            args.append(kind)
        return [{"id": r["id"], "replication_id": r["replication_id"], "time": r["time"],
                 "kind": r["kind"], **json.loads(r["detail"])}
                for r in self.ctx.store.all(sql + " ORDER BY id", *args)]

    # ---------------------------------------------------------------- recovery points
    def points(self, rep_id: str, lun_id: str | None = None) -> list[RecoveryPoint]:
        sql, args = "SELECT * FROM rpoints WHERE replication_id=?", [rep_id]
        if lun_id:
            sql += " AND lun_id=?"
            args.append(lun_id)
        rows = self.ctx.store.all(sql + " ORDER BY sequence, lun_id", *args)
        return [RecoveryPoint(r["rp_id"], r["lun_id"], r["snapshot_id"], r["sequence"],
                              r["time"], r["consistency"]) for r in rows]

    def add_points(self, db: Any, rep_id: str, points: list[RecoveryPoint]) -> None:
        db.executemany(
            "INSERT OR REPLACE INTO rpoints(replication_id, rp_id, lun_id, snapshot_id, "
            "sequence, time, consistency) VALUES(?,?,?,?,?,?,?)",
            [(rep_id, p.rp_id, p.lun_id, p.snapshot_id, p.sequence, p.time, p.consistency)
             for p in points])

    def drop_point(self, db: Any, rep_id: str, rp_id: str) -> None:
        db.execute("DELETE FROM rpoints WHERE replication_id=? AND rp_id=?", (rep_id, rp_id))

    def rp_ids(self, rep_id: str) -> list[str]:
        seen: dict[str, None] = {}
        for p in self.points(rep_id):
            seen.setdefault(p.rp_id)
        return list(seen)

    def holds_snapshot(self, snap_id: str) -> str | None:
        row = self.ctx.store.one("SELECT replication_id, rp_id FROM rpoints WHERE snapshot_id=?",
                                 snap_id)
        return None if row is None else f"recovery point {row[1]} of replication {row[0]}"


def _from_row(row: Any) -> Replication:
    return Replication(
        id=row["id"], direction=row["direction"], peer_id=row["peer_id"], state=row["state"],
        source_kind=row["source_kind"], local_group=row["local_group"],
        devices=tuple(Device(**d) for d in json.loads(row["devices"])),
        sequence=row["sequence"], last_rp=row["last_rp"], options=json.loads(row["options"]),
        stats=json.loads(row["stats"]), created=row["created"], updated=row["updated"],
        inflight=json.loads(row["inflight"]) if row["inflight"] else None,
        error=json.loads(row["error"]) if row["error"] else None)
