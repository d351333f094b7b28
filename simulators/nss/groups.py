"""Consistency groups: LUNs that are snapshotted, replicated and failed over as one unit."""

from __future__ import annotations

from typing import Any

from .context import Context, new_id, utcnow
from .errors import AlreadyExists, InUse, InvalidRequest, not_found
from .luns import Luns, check_name
from .model import Group
from .store import dumps, loads


class Groups:
    def __init__(self, ctx: Context, luns: Luns) -> None:
        self.ctx = ctx
        self.luns = luns

    def get(self, group_id: str) -> Group:
        row = self.ctx.store.one("SELECT * FROM groups WHERE id=?", group_id)
        if row is None:
            raise not_found("group", group_id)
        members = self.ctx.store.all(
            "SELECT lun_id FROM group_members WHERE group_id=? ORDER BY position", group_id)
        return Group(row["id"], row["name"], row["created"], tuple(r[0] for r in members),
                     loads(row["attrs"]))

    def list(self) -> list[Group]:
        rows = self.ctx.store.all("SELECT id FROM groups ORDER BY created")
        return [self.get(r[0]) for r in rows]

    def of_lun(self, lun_id: str) -> Group | None:
        gid = self.ctx.store.scalar("SELECT group_id FROM group_members WHERE lun_id=?", lun_id)
        return None if gid is None else self.get(gid)

    def create(self, name: str, lun_ids: list[str], attrs: dict[str, Any] | None = None) -> Group:
        check_name("name", name)
        if not lun_ids:
            raise InvalidRequest("luns must name at least one LUN", field="luns")
        if len(set(lun_ids)) != len(lun_ids):
            raise InvalidRequest("luns lists the same LUN twice", field="luns")
        for i, lun_id in enumerate(lun_ids):
            if self.luns.get(lun_id).role == "timeview":
                raise InvalidRequest(f"luns[{i}] {lun_id!r} is a TimeView and cannot join a "
                                     "group", field=f"luns[{i}]")
        group_id = new_id("group")
        with self.ctx.store.tx() as db:
            if db.execute("SELECT 1 FROM groups WHERE name=?", (name,)).fetchone():
                raise AlreadyExists(f"a group named {name!r} already exists", field="name")
            for lun_id in lun_ids:
                other = db.execute("SELECT group_id FROM group_members WHERE lun_id=?",
                                   (lun_id,)).fetchone()
                if other:
                    raise AlreadyExists(f"lun {lun_id!r} already belongs to group {other[0]!r}",
                                        code="lun-in-group", id=lun_id, group=other[0])
            db.execute("INSERT INTO groups(id, name, created, attrs) VALUES(?,?,?,?)",
                       (group_id, name, utcnow(), dumps(attrs or {})))
            db.executemany("INSERT INTO group_members(group_id, lun_id, position) VALUES(?,?,?)",
                           [(group_id, lun, i) for i, lun in enumerate(lun_ids)])
        return self.get(group_id)

    def set_attrs(self, group_id: str, **attrs: Any) -> Group:
        with self.ctx.store.tx() as db:  # read and write at once: no concurrent change lost
            merged = {k: v for k, v in {**self.get(group_id).attrs, **attrs}.items()
                      if v is not None}
            db.execute("UPDATE groups SET attrs=? WHERE id=?", (dumps(merged), group_id))
        return self.get(group_id)

    def delete(self, group_id: str) -> None:
        group = self.get(group_id)
        if group.attrs.get("replication_id"):
            raise InUse(f"group {group_id!r} is replicated by "
                        f"{group.attrs['replication_id']!r}; delete the replication first",
                        id=group_id)
        with self.ctx.store.tx() as db:
            db.execute("DELETE FROM group_members WHERE group_id=?", (group_id,))
            db.execute("DELETE FROM groups WHERE id=?", (group_id,))
