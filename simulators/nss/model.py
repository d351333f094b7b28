"""Plain records of the appliance's objects, read from the metadata store. No HTTP here."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any

from .blockdev import SECTOR

ROLES = ("standalone", "primary", "replica", "timeview")
ACCESS = ("read-write", "read-only")


@dataclass(frozen=True)
class Lun:
    id: str
    name: str
    wwn: str
    size_bytes: int
    access: str
    role: str
    created: str
    origin_snapshot: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Lun:
        return cls(id=row["id"], name=row["name"], wwn=row["wwn"], size_bytes=row["size_bytes"],
                   access=row["access"], role=row["role"], created=row["created"],
                   origin_snapshot=row["origin_snapshot"], attrs=json.loads(row["attrs"]))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["sector_size"] = SECTOR
        out.update(out.pop("attrs"))
        return out


@dataclass(frozen=True)
class Snapshot:
    id: str
    lun_id: str
    seq: int
    created: str
    consistency: str
    group_snapshot: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Snapshot:
        return cls(id=row["id"], lun_id=row["lun_id"], seq=row["seq"], created=row["created"],
                   consistency=row["consistency"], group_snapshot=row["group_snapshot"],
                   attrs=json.loads(row["attrs"]))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(out.pop("attrs"))
        return out


@dataclass(frozen=True)
class Initiator:
    type: str
    id: str


@dataclass(frozen=True)
class Client:
    id: str
    name: str
    created: str
    initiators: tuple[Initiator, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "created": self.created,
                "initiators": [asdict(i) for i in self.initiators]}


@dataclass(frozen=True)
class Presentation:
    id: str
    lun_id: str
    client_id: str | None
    initiators: tuple[Initiator, ...]
    lun_number: int
    created: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "lun_id": self.lun_id, "client_id": self.client_id,
                "initiators": [asdict(i) for i in self.initiators],
                "lun_number": self.lun_number, "created": self.created}


@dataclass(frozen=True)
class Group:
    id: str
    name: str
    created: str
    luns: tuple[str, ...]
    attrs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {"id": self.id, "name": self.name, "created": self.created, "luns": list(self.luns)}
        out.update(self.attrs)
        return out
