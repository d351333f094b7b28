"""Request bodies. Unknown fields are refused so a typo is an error, not a silent default."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InitiatorIn(Body):
    type: Literal["FC", "iSCSI", "NFS"]
    id: str = Field(min_length=1, max_length=255)


class LunCreate(Body):
    name: str = Field(min_length=1, max_length=128)
    size_bytes: int


class LunUpdate(Body):
    name: str | None = None
    access: Literal["read-write", "read-only"] | None = None


class ClientCreate(Body):
    name: str = Field(min_length=1, max_length=128)
    initiators: list[InitiatorIn] = Field(default_factory=list, max_length=1024)


class PresentationCreate(Body):
    client_id: str | None = None
    initiators: list[InitiatorIn] | None = None
    lun_number: int | None = None


class SnapshotCreate(Body):
    quiesce: bool = False
    on_quiesce_failure: Literal["crash", "fail"] = "crash"
    label: str | None = Field(default=None, max_length=128)


class GroupCreate(Body):
    name: str = Field(min_length=1, max_length=128)
    luns: list[str] = Field(max_length=1024)


class TimeViewCreate(Body):
    name: str | None = Field(default=None, max_length=128)
    writable: bool = True


class AgentCreate(Body):
    name: str = Field(min_length=1, max_length=128)
    url: str = Field(min_length=1, max_length=2048)
    token: str = Field(min_length=1, max_length=4096)
    luns: list[str] = Field(min_length=1, max_length=1024)
    timeout_ms: int = 5000
