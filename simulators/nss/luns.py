"""LUNs: create, list, rename/change access, delete — the device records, not their bytes."""

from __future__ import annotations

import os
import re
from typing import Any

from .context import Context, new_id, utcnow
from .errors import AlreadyExists, InUse, InvalidRequest, not_found
from .model import ACCESS, ROLES, Lun
from .store import dumps

SECTOR = 512
MAX_LUN_BYTES = 16 * 2**40
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._: -]{0,127}$")
WWN_OUI = "d7c0de"  # a made-up IEEE OUI for the simulator's NAA-6 names


def check_name(field: str, name: str) -> None:
    if not NAME_RE.match(name or ""):
        raise InvalidRequest(
            f"{field} {name!r} is not a valid name: 1-128 characters, letters, digits, "
            "'.', '_', ':', '-' and spaces, starting with a letter or digit", field=field)


class Luns:
    """The LUN records of one appliance."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def get(self, lun_id: str) -> Lun:
        row = self.ctx.store.one("SELECT * FROM luns WHERE id=?", lun_id)
        if row is None:
            raise not_found("lun", lun_id)
        return Lun.from_row(row)

    def list(self) -> list[Lun]:
        return [Lun.from_row(r) for r in self.ctx.store.all("SELECT * FROM luns ORDER BY created")]

    def by_wwn(self, wwn: str) -> Lun:
        row = self.ctx.store.one("SELECT * FROM luns WHERE wwn=?", wwn.lower())
        if row is None:
            raise not_found("wwn", wwn)
        return Lun.from_row(row)

    def create(self, name: str, size_bytes: int, *, role: str = "standalone",
               access: str = "read-write", origin_snapshot: str | None = None,
               attrs: dict[str, Any] | None = None) -> Lun:
        check_name("name", name)
        check_size(size_bytes)
        assert role in ROLES and access in ACCESS
        lun_id = new_id("lun")
        with self.ctx.store.tx() as db:
            if db.execute("SELECT 1 FROM luns WHERE name=?", (name,)).fetchone():
                raise AlreadyExists(f"a lun named {name!r} already exists", field="name")
            db.execute(
                "INSERT INTO luns(id, name, wwn, size_bytes, access, role, origin_snapshot,"
                " created, attrs) VALUES(?,?,?,?,?,?,?,?,?)",
                (lun_id, name, self._next_wwn(db), size_bytes, access, role, origin_snapshot,
                 utcnow(), dumps(attrs or {})))
            self._create_image(lun_id, size_bytes)
        return self.get(lun_id)

    def _create_image(self, lun_id: str, size_bytes: int) -> None:
        """The sparse image; a size the data directory's filesystem cannot hold is refused."""
        path = self.ctx.files.lun_path(lun_id)
        try:
            self.ctx.files.create(path, size_bytes)
        except OSError as exc:
            self.ctx.files.remove(path)
            raise InvalidRequest(
                f"size_bytes {size_bytes}: the data directory cannot hold a device of this size "
                f"({os.strerror(exc.errno or 0)}); nothing was created", field="size_bytes",
                code="size-unsupported") from None

    def update(self, lun_id: str, *, name: str | None = None, access: str | None = None) -> Lun:
        lun = self.get(lun_id)
        if access is not None and access not in ACCESS:
            raise InvalidRequest(f"access {access!r} is not one of {', '.join(ACCESS)}",
                                 field="access")
        if name is not None:
            check_name("name", name)
        with self.ctx.io_lock, self.ctx.store.tx() as db:
            if name is not None and name != lun.name:
                if db.execute("SELECT 1 FROM luns WHERE name=?", (name,)).fetchone():
                    raise AlreadyExists(f"a lun named {name!r} already exists", field="name")
                db.execute("UPDATE luns SET name=? WHERE id=?", (name, lun_id))
            if access is not None:
                db.execute("UPDATE luns SET access=? WHERE id=?", (access, lun_id))
        return self.get(lun_id)

    def set_role(self, lun_id: str, role: str, access: str, **attrs: Any) -> Lun:
        """Role changes belong to replication; they hold the I/O lock like any write."""
        with self.ctx.io_lock, self.ctx.store.tx() as db:  # read and write at once
            merged = {k: v for k, v in {**self.get(lun_id).attrs, **attrs}.items()
                      if v is not None}
            db.execute("UPDATE luns SET role=?, access=?, attrs=? WHERE id=?",
                       (role, access, dumps(merged), lun_id))
        return self.get(lun_id)

    def delete(self, lun_id: str) -> None:
        lun = self.get(lun_id)
        with self.ctx.io_lock:
            with self.ctx.store.tx() as db:
                self._refuse_if_used(db, lun)
                db.execute("DELETE FROM overlay WHERE lun_id=?", (lun_id,))
                db.execute("DELETE FROM luns WHERE id=?", (lun_id,))
            self.ctx.files.remove(self.ctx.files.lun_path(lun_id))

    def _refuse_if_used(self, db: Any, lun: Lun) -> None:
        users = {
            "presentations": [r[0] for r in db.execute(
                "SELECT id FROM presentations WHERE lun_id=?", (lun.id,))],
            "snapshots": [r[0] for r in db.execute(
                "SELECT id FROM snapshots WHERE lun_id=?", (lun.id,))],
            "groups": [r[0] for r in db.execute(
                "SELECT group_id FROM group_members WHERE lun_id=?", (lun.id,))],
        }
        if lun.role in ("primary", "replica"):
            users["replications"] = [lun.attrs.get("replication_id", "?")]
        users = {k: v for k, v in users.items() if v}
        if users:
            listed = "; ".join(f"{k}: {', '.join(v)}" for k, v in users.items())
            raise InUse(f"lun {lun.id!r} is in use and was not deleted ({listed})",
                        id=lun.id, **users)

    def _next_wwn(self, db: Any) -> str:
        serial = db.execute("SELECT value FROM meta WHERE key='serial'").fetchone()[0]
        row = db.execute("SELECT value FROM meta WHERE key='wwn_seq'").fetchone()
        seq = int(row[0]) + 1 if row else 1
        db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('wwn_seq', ?)", (str(seq),))
        return f"6{WWN_OUI}{serial[:9]}{seq:016x}"


def check_size(size_bytes: int) -> None:
    if not isinstance(size_bytes, int) or size_bytes <= 0 or size_bytes % SECTOR:
        raise InvalidRequest(
            f"size_bytes {size_bytes!r} must be a positive multiple of {SECTOR}",
            field="size_bytes")
    if size_bytes > MAX_LUN_BYTES:
        raise InvalidRequest(f"size_bytes {size_bytes} exceeds the maximum of {MAX_LUN_BYTES}",
                             field="size_bytes")
