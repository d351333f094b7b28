"""Response models: what every operation answers, as the OpenAPI document publishes it.

Records allow fields beyond those listed (``extra="allow"``): a LUN carries its role's own
attributes (``replication_id``, ``source_lun``, ...), and clients must ignore what they do not
know. Every field listed is always present.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class Record(BaseModel):
    model_config = ConfigDict(extra="allow")


# ------------------------------------------------------------------ errors
class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer: a stable ``code``, a message naming the ids involved."""

    error: ErrorDetail


# ------------------------------------------------------------------ records
class Initiator(BaseModel):
    type: Literal["FC", "iSCSI", "NFS"]
    id: str


class Lun(Record):
    id: str
    name: str
    wwn: str
    size_bytes: int
    sector_size: int
    access: Literal["read-write", "read-only"]
    role: Literal["standalone", "primary", "replica", "timeview"]
    created: str
    origin_snapshot: str | None


class VisibleDevice(Lun):
    lun_number: int
    presentation_id: str


class Snapshot(Record):
    id: str
    lun_id: str
    seq: int
    created: str
    consistency: Literal["app", "crash"]
    group_snapshot: str | None


class GroupSnapshot(BaseModel):
    id: str
    group_id: str
    created: str
    consistency: Literal["app", "crash"]
    snapshots: list[Snapshot]


class Client(BaseModel):
    id: str
    name: str
    created: str
    initiators: list[Initiator]


class Presentation(BaseModel):
    id: str
    lun_id: str
    client_id: str | None
    initiators: list[Initiator]
    lun_number: int
    created: str


class Group(Record):
    id: str
    name: str
    created: str
    luns: list[str]


class Agent(BaseModel):
    id: str
    name: str
    url: str
    luns: list[str]
    timeout_ms: int
    created: str


class Job(BaseModel):
    id: str
    kind: str
    state: Literal["queued", "running", "succeeded", "failed"]
    progress: int
    target: str | None
    result: Any
    error: dict[str, Any] | None
    created: str
    updated: str


class ApplianceInfo(Record):
    id: str
    name: str | None
    model: str
    version: str
    serial: str | None
    created: str | None
    tls_fingerprint: str | None  # SHA-256 of the served certificate; None over plain HTTP


class Peer(Record):
    id: str
    name: str
    url: str
    created: str


class Device(BaseModel):
    local: str
    remote: str


class Replication(Record):
    id: str
    direction: Literal["outbound", "inbound"]
    peer: str
    state: Literal["replicating", "split", "failed-over"]
    source_kind: Literal["lun", "group"]
    source: str | None
    devices: list[Device]
    sequence: int
    last_recovery_point: str | None
    mode: str
    microscan: bool
    compression: str
    encryption: str
    stats: dict[str, Any]


class RecoveryPoint(Record):
    id: str
    time: str
    snapshot_id: str
    consistent: Literal["app", "crash"]
    sequence: int
    lun_id: str


# ------------------------------------------------------------------ envelopes
class Health(BaseModel):
    status: Literal["ok"]


class LunOut(BaseModel):
    lun: Lun


class LunList(BaseModel):
    luns: list[Lun]


class TimeViewOut(BaseModel):
    timeview: Lun


class SnapshotOut(BaseModel):
    snapshot: Snapshot


class SnapshotList(BaseModel):
    snapshots: list[Snapshot]


class GroupSnapshotOut(BaseModel):
    group_snapshot: GroupSnapshot


class GroupOut(BaseModel):
    group: Group


class GroupList(BaseModel):
    groups: list[Group]


class ClientOut(BaseModel):
    client: Client


class ClientList(BaseModel):
    clients: list[Client]


class PresentationOut(BaseModel):
    presentation: Presentation


class PresentationList(BaseModel):
    presentations: list[Presentation]


class VisibleDevices(BaseModel):
    devices: list[VisibleDevice]


class ApplianceOut(BaseModel):
    appliance: ApplianceInfo


class JobOut(Record):
    job: Job


class AgentOut(BaseModel):
    agent: Agent


class AgentList(BaseModel):
    agents: list[Agent]


class PeerOut(BaseModel):
    peer: Peer


class PeerList(BaseModel):
    peers: list[Peer]


class ReplicationOut(BaseModel):
    replication: Replication


class ReplicationList(BaseModel):
    replications: list[Replication]


class ReplicationCreated(Record):
    replication: Replication
    job: Job


class StatsOut(BaseModel):
    stats: dict[str, Any]


class RecoveryPoints(BaseModel):
    recovery_points: list[RecoveryPoint]
    replication_id: str | None


class Answer(Record):
    """A peer-to-peer or role-change answer: a free-form record (see the replication docs)."""
