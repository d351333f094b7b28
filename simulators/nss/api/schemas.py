"""Request bodies. Unknown fields are refused so a typo is an error, not a silent default, and
types are strict: ``"size_bytes": "1024"`` (a string) is refused, not converted. Numbers are
bounded so none reaches the store out of range."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_SIZE = 16 * 2**40
NAME = r"^[A-Za-z0-9][A-Za-z0-9._: -]{0,127}$"  # luns.NAME_RE, published in the schema


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class InitiatorIn(Body):
    type: Literal["FC", "iSCSI", "NFS"]
    id: str = Field(min_length=1, max_length=255)


class LunCreate(Body):
    name: str = Field(min_length=1, max_length=128, pattern=NAME)
    size_bytes: int = Field(gt=0, le=MAX_SIZE)


class LunUpdate(Body):
    name: str | None = None
    access: Literal["read-write", "read-only"] | None = None


class ClientCreate(Body):
    name: str = Field(min_length=1, max_length=128, pattern=NAME)
    initiators: list[InitiatorIn] = Field(default_factory=list, max_length=1024)


class PresentationCreate(Body):
    client_id: str | None = None
    initiators: list[InitiatorIn] | None = None
    lun_number: int | None = Field(default=None, ge=0, le=16383)


class SnapshotCreate(Body):
    quiesce: bool = False
    on_quiesce_failure: Literal["crash", "fail"] = "crash"
    label: str | None = Field(default=None, max_length=128)


class GroupCreate(Body):
    name: str = Field(min_length=1, max_length=128, pattern=NAME)
    luns: list[str] = Field(max_length=1024)


class TimeViewCreate(Body):
    name: str | None = Field(default=None, max_length=128)
    writable: bool = True


class AgentCreate(Body):
    name: str = Field(min_length=1, max_length=128, pattern=NAME)
    url: str = Field(min_length=1, max_length=2048)
    token: str = Field(min_length=1, max_length=4096)
    luns: list[str] = Field(min_length=1, max_length=1024)
    timeout_ms: int = Field(default=5000, ge=1, le=600_000)
