"""SAN clients (ESXi hosts, clusters) with their initiators, and LUN masking (presentations)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from .context import Context, new_id, utcnow
from .errors import AlreadyExists, InUse, InvalidRequest, not_found
from .luns import Luns, check_name
from .model import Client, Initiator, Presentation
from .store import dumps, loads

INITIATOR_TYPES = ("FC", "iSCSI", "NFS")
WWPN_RE = re.compile(r"^([0-9a-f]{2}:){7}[0-9a-f]{2}$")
IQN_RE = re.compile(
    r"^(iqn\.\d{4}-\d{2}\.[a-z0-9.-]+(:.+)?|eui\.[0-9a-f]{16}|naa\.[0-9a-f]{16,32})$")


def parse_initiator(raw: dict[str, Any], field: str) -> Initiator:
    """Validate one ``{type, id}``; FC WWPNs and iSCSI names are normalised to lower case."""
    kind, ident = raw.get("type"), str(raw.get("id", "")).strip()
    if kind not in INITIATOR_TYPES:
        raise InvalidRequest(f"{field}.type {kind!r} is not one of FC, iSCSI, NFS",
                             field=f"{field}.type")
    if kind == "FC":
        ident = ident.lower()
        if not WWPN_RE.match(ident):
            raise InvalidRequest(f"{field}.id {ident!r} is not an FC WWPN "
                                 "(eight hex bytes separated by ':')", field=f"{field}.id")
    elif kind == "iSCSI":
        ident = ident.lower()
        if not IQN_RE.match(ident):
            raise InvalidRequest(f"{field}.id {ident!r} is not an iSCSI name (iqn./eui./naa.)",
                                 field=f"{field}.id")
    else:
        try:
            ipaddress.ip_address(ident)
        except ValueError:
            raise InvalidRequest(f"{field}.id {ident!r} is not an IP address (NFS initiator)",
                                 field=f"{field}.id") from None
    return Initiator(kind, ident)


def parse_initiators(raw: list[dict[str, Any]], field: str = "initiators") -> list[Initiator]:
    found = [parse_initiator(item, f"{field}[{i}]") for i, item in enumerate(raw)]
    if len(set(found)) != len(found):
        raise InvalidRequest(f"{field} lists the same initiator twice", field=field)
    return found


class San:
    def __init__(self, ctx: Context, luns: Luns) -> None:
        self.ctx = ctx
        self.luns = luns
        #: Called after every change of what an initiator sees (the iSCSI target listens).
        self.listeners: list[Callable[[], None]] = []

    def _changed(self) -> None:
        for listener in self.listeners:
            listener()

    # ---------------------------------------------------------------- clients
    def client(self, client_id: str) -> Client:
        row = self.ctx.store.one("SELECT * FROM clients WHERE id=?", client_id)
        if row is None:
            raise not_found("client", client_id)
        inits = self.ctx.store.all("SELECT type, iid FROM initiators WHERE client_id=? "
                                   "ORDER BY type, iid", client_id)
        return Client(row["id"], row["name"], row["created"],
                      tuple(Initiator(r[0], r[1]) for r in inits))

    def clients(self) -> list[Client]:
        return [self.client(r[0]) for r in
                self.ctx.store.all("SELECT id FROM clients ORDER BY created")]

    def create_client(self, name: str, initiators: list[dict[str, Any]]) -> Client:
        check_name("name", name)
        inits = parse_initiators(initiators)
        client_id = new_id("client")
        with self.ctx.store.tx() as db:
            if db.execute("SELECT 1 FROM clients WHERE name=?", (name,)).fetchone():
                raise AlreadyExists(f"a client named {name!r} already exists", field="name")
            for init in inits:
                self._refuse_taken(db, init)
            db.execute("INSERT INTO clients(id, name, created) VALUES(?,?,?)",
                       (client_id, name, utcnow()))
            db.executemany("INSERT INTO initiators(type, iid, client_id) VALUES(?,?,?)",
                           [(i.type, i.id, client_id) for i in inits])
        self._changed()
        return self.client(client_id)

    def delete_client(self, client_id: str) -> None:
        self.client(client_id)
        with self.ctx.store.tx() as db:
            used = [r[0] for r in db.execute(
                "SELECT id FROM presentations WHERE client_id=?", (client_id,))]
            if used:
                raise InUse(f"client {client_id!r} still has presentations "
                            f"({', '.join(used)}); remove them first",
                            id=client_id, presentations=used)
            db.execute("DELETE FROM initiators WHERE client_id=?", (client_id,))
            db.execute("DELETE FROM clients WHERE id=?", (client_id,))
        self._changed()

    def _refuse_taken(self, db, init: Initiator) -> None:
        row = db.execute("SELECT client_id FROM initiators WHERE type=? AND iid=?",
                         (init.type, init.id)).fetchone()
        if row:
            raise AlreadyExists(f"initiator {init.type} {init.id} already belongs to client "
                                f"{row[0]!r}", code="initiator-taken", client_id=row[0])

    # ---------------------------------------------------------------- presentations
    def presentations(self, lun_id: str) -> list[Presentation]:
        self.luns.get(lun_id)
        rows = self.ctx.store.all("SELECT * FROM presentations WHERE lun_id=? ORDER BY created",
                                  lun_id)
        return [_presentation(r) for r in rows]

    def present(self, lun_id: str, client_id: str | None,
                initiators: list[dict[str, Any]] | None, lun_number: int | None) -> Presentation:
        self.luns.get(lun_id)
        if (client_id is None) == (not initiators):
            raise InvalidRequest("give exactly one of client_id or initiators",
                                 field="client_id")
        inits = [] if client_id else parse_initiators(initiators or [])
        if client_id:
            self.client(client_id)
        pres_id = new_id("pres")
        with self.ctx.store.tx() as db:
            self._refuse_duplicate(db, lun_id, client_id, inits)
            number = self._lun_number(db, client_id, inits, lun_number)
            db.execute("INSERT INTO presentations(id, lun_id, client_id, initiators, lun_number,"
                       " created) VALUES(?,?,?,?,?,?)",
                       (pres_id, lun_id, client_id, dumps([[i.type, i.id] for i in inits]),
                        number, utcnow()))
        self._changed()
        return self.presentation(lun_id, pres_id)

    def presentation(self, lun_id: str, pres_id: str) -> Presentation:
        row = self.ctx.store.one("SELECT * FROM presentations WHERE id=? AND lun_id=?",
                                 pres_id, lun_id)
        if row is None:
            raise not_found("presentation", pres_id)
        return _presentation(row)

    def unpresent(self, lun_id: str, pres_id: str) -> None:
        self.presentation(lun_id, pres_id)
        with self.ctx.store.tx() as db:
            db.execute("DELETE FROM presentations WHERE id=?", (pres_id,))
        self._changed()

    def visible_to(self, initiator: Initiator) -> list[Presentation]:
        """What a host with this initiator sees: presentations to it or to its client."""
        row = self.ctx.store.one("SELECT client_id FROM initiators WHERE type=? AND iid=?",
                                 initiator.type, initiator.id)
        out = []
        for r in self.ctx.store.all("SELECT * FROM presentations ORDER BY created"):
            pres = _presentation(r)
            if (row and pres.client_id == row[0]) or initiator in pres.initiators:
                out.append(pres)
        return out

    def _refuse_duplicate(self, db, lun_id: str, client_id: str | None,
                          inits: list[Initiator]) -> None:
        for r in db.execute("SELECT * FROM presentations WHERE lun_id=?", (lun_id,)):
            pres = _presentation(r)
            if client_id and pres.client_id == client_id:
                raise AlreadyExists(f"lun {lun_id!r} is already presented to client "
                                    f"{client_id!r} ({pres.id})", presentation=pres.id)
            if inits and set(inits) & set(pres.initiators):
                raise AlreadyExists(f"lun {lun_id!r} is already presented to one of these "
                                    f"initiators ({pres.id})", presentation=pres.id)

    def _lun_number(self, db, client_id: str | None, inits: list[Initiator],
                    wanted: int | None) -> int:
        if client_id:
            rows = db.execute("SELECT lun_number FROM presentations WHERE client_id=?",
                              (client_id,))
        else:
            rows = db.execute("SELECT lun_number FROM presentations WHERE client_id IS NULL")
        taken = {r[0] for r in rows}
        if wanted is not None:
            if not 0 <= wanted <= 16383:
                raise InvalidRequest(f"lun_number {wanted} is outside 0..16383",
                                     field="lun_number")
            if wanted in taken:
                raise AlreadyExists(f"lun_number {wanted} is already used for this client",
                                    field="lun_number")
            return wanted
        return next(n for n in range(16384) if n not in taken)


def _presentation(row) -> Presentation:
    inits = tuple(Initiator(t, i) for t, i in loads(row["initiators"]))
    return Presentation(row["id"], row["lun_id"], row["client_id"], inits, row["lun_number"],
                        row["created"])
