"""Copy-on-write snapshots, consistency-group snapshots and TimeViews.

A snapshot is a record plus a sparse file that receives each chunk's old content on the first
write after it (``datapath.py``). Deleting a snapshot hands the chunks it preserved to the next
older snapshot that lacks them, because that older snapshot's view fell through to them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .blockdev import CHUNK
from .context import Context, new_id, utcnow
from .errors import InUse, InvalidRequest, LimitReached, not_found
from .luns import Luns
from .model import Lun, Snapshot
from .store import dumps

MAX_SNAPSHOTS_PER_LUN = 255
CONSISTENCY = ("app", "crash")

#: A guard returns why a snapshot may not be deleted (e.g. "last common recovery point"), or None.
DeleteGuard = Callable[[Snapshot], "str | None"]


class Snapshots:
    def __init__(self, ctx: Context, luns: Luns) -> None:
        self.ctx = ctx
        self.luns = luns
        self.delete_guards: list[DeleteGuard] = []

    def get(self, snap_id: str) -> Snapshot:
        row = self.ctx.store.one("SELECT * FROM snapshots WHERE id=?", snap_id)
        if row is None:
            raise not_found("snapshot", snap_id)
        return Snapshot.from_row(row)

    def list(self, lun_id: str) -> list[Snapshot]:
        self.luns.get(lun_id)
        rows = self.ctx.store.all("SELECT * FROM snapshots WHERE lun_id=? ORDER BY seq", lun_id)
        return [Snapshot.from_row(r) for r in rows]

    def latest(self, lun_id: str) -> Snapshot | None:
        row = self.ctx.store.one(
            "SELECT * FROM snapshots WHERE lun_id=? ORDER BY seq DESC LIMIT 1", lun_id)
        return None if row is None else Snapshot.from_row(row)

    def create(self, lun_ids: list[str], consistency: str = "crash",
               attrs: dict[str, Any] | None = None) -> tuple[str | None, list[Snapshot]]:
        """Snapshot every LUN in ``lun_ids`` at one instant: no write lands in between.

        Returns the group-snapshot id (None for a single LUN) and the snapshots in order.
        """
        if consistency not in CONSISTENCY:
            raise InvalidRequest(f"consistency {consistency!r} is not one of app, crash",
                                 field="consistency")
        group_id = new_id("gsnap") if len(lun_ids) > 1 else None
        ids = [new_id("snap") for _ in lun_ids]
        with self.ctx.io_lock, self.ctx.store.tx() as db:
            now = utcnow()
            for lun_id, snap_id in zip(lun_ids, ids, strict=True):
                seq = self._check_can_snapshot(db, lun_id)
                db.execute(
                    "INSERT INTO snapshots(id, lun_id, seq, created, consistency, group_snapshot,"
                    " attrs) VALUES(?,?,?,?,?,?,?)",
                    (snap_id, lun_id, seq, now, consistency, group_id, dumps(attrs or {})))
        return group_id, [self.get(s) for s in ids]

    def update_attrs(self, snap_id: str, **attrs: Any) -> Snapshot:
        with self.ctx.store.tx() as db:  # read and write at once: no concurrent change lost
            db.execute("UPDATE snapshots SET attrs=? WHERE id=?",
                       (dumps({**self.get(snap_id).attrs, **attrs}), snap_id))
        return self.get(snap_id)

    def delete(self, snap_id: str) -> None:
        snap = self.get(snap_id)
        self._refuse_if_used(snap)
        with self.ctx.io_lock:
            with self.ctx.store.tx() as db:
                self._hand_down(db, snap)
                db.execute("DELETE FROM cow WHERE snapshot_id=?", (snap_id,))
                db.execute("DELETE FROM snapshots WHERE id=?", (snap_id,))
            self.ctx.files.remove(self.ctx.files.snap_path(snap_id))

    def create_timeview(self, snap_id: str, name: str | None, writable: bool) -> Lun:
        snap = self.get(snap_id)
        lun = self.luns.get(snap.lun_id)
        name = name or f"{lun.name}.tv.{snap.id}"
        return self.luns.create(name, lun.size_bytes, role="timeview",
                                access="read-write" if writable else "read-only",
                                origin_snapshot=snap.id,
                                attrs={"source_lun": lun.id})

    def timeviews_of(self, snap_id: str) -> list[str]:
        rows = self.ctx.store.all("SELECT id FROM luns WHERE origin_snapshot=?", snap_id)
        return [r[0] for r in rows]

    # ---------------------------------------------------------------- internals
    def _check_can_snapshot(self, db, lun_id: str) -> int:
        row = db.execute("SELECT role FROM luns WHERE id=?", (lun_id,)).fetchone()
        if row is None:
            raise not_found("lun", lun_id)
        if row[0] == "timeview":
            raise InvalidRequest(f"lun {lun_id!r} is a TimeView; snapshot its source instead",
                                 code="snapshot-of-timeview", id=lun_id)
        count, top = db.execute("SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM snapshots "
                                "WHERE lun_id=?", (lun_id,)).fetchone()
        if count >= MAX_SNAPSHOTS_PER_LUN:
            raise LimitReached(
                f"lun {lun_id!r} already has {count} snapshots, the limit is "
                f"{MAX_SNAPSHOTS_PER_LUN}; delete one first", code="snapshot-limit",
                id=lun_id, limit=MAX_SNAPSHOTS_PER_LUN)
        return top + 1

    def _refuse_if_used(self, snap: Snapshot) -> None:
        timeviews = self.timeviews_of(snap.id)
        if timeviews:
            raise InUse(f"snapshot {snap.id!r} has TimeViews ({', '.join(timeviews)}); "
                        "delete them first", id=snap.id, timeviews=timeviews)
        for guard in self.delete_guards:
            reason = guard(snap)
            if reason:
                raise InUse(f"snapshot {snap.id!r} is in use: {reason}", id=snap.id)

    def _hand_down(self, db, snap: Snapshot) -> None:
        older = db.execute("SELECT id FROM snapshots WHERE lun_id=? AND seq<? ORDER BY seq DESC "
                           "LIMIT 1", (snap.lun_id, snap.seq)).fetchone()
        if older is None:
            return
        older_id = older[0]
        moving = [r[0] for r in db.execute(
            "SELECT chunk FROM cow WHERE snapshot_id=? AND chunk NOT IN "
            "(SELECT chunk FROM cow WHERE snapshot_id=?)", (snap.id, older_id))]
        src, dst = self.ctx.files.snap_path(snap.id), self.ctx.files.snap_path(older_id)
        for chunk in moving:
            data = self.ctx.files.read(src, chunk * CHUNK, CHUNK)
            if any(data):
                self.ctx.files.write(dst, chunk * CHUNK, data)
        db.executemany("INSERT INTO cow(snapshot_id, chunk) VALUES(?, ?)",
                       [(older_id, c) for c in moving])
