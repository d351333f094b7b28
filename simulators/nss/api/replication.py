"""Peers, replications, role changes, recovery points, and the peer-to-peer delta endpoints."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from ..appliance import Appliance
from .deps import MAX_IO_BYTES, appliance, read_body
from .schemas import Body

router = APIRouter()


class PeerCreate(Body):
    url: str
    token: str
    fingerprint: str | None = None  # the peer's certificate SHA-256: required over https


class Handshake(Body):
    id: str
    name: str
    url: str
    token: str
    key: str
    fingerprint: str | None = None


class ReplicationCreate(Body):
    source: str
    peer: str
    options: dict[str, Any] = {}
    policy: dict[str, Any] | None = None


class ReplicationUpdate(Body):
    policy: dict[str, Any] | None = None
    xor: bool | None = None
    keep_points: int | None = None


class SyncRequest(Body):
    quiesce: bool = False


class TargetDevice(Body):
    lun_id: str
    name: str
    size_bytes: int


class TargetCreate(Body):
    replication_id: str
    peer_id: str
    source_kind: Literal["lun", "group"]
    group_name: str | None = None
    options: dict[str, Any] = {}
    devices: list[TargetDevice]


class Receive(Body):
    sequence: int
    rp_id: str
    base_rp: str | None
    time: str
    consistency: Literal["app", "crash"]
    kind: Literal["initial", "incremental", "resync"]
    rollback: dict[str, list[int]] = {}


class Commit(Body):
    sequence: int
    rp_id: str
    parts: dict[str, int]


def _rep(app: Appliance, rep_id: str) -> dict[str, Any]:
    return app.replication.view(app.replication.records.get(rep_id))


@router.get("/peers")
def list_peers(app: Appliance = Depends(appliance)) -> dict[str, Any]:
    return {"peers": app.replication.peers.list()}


@router.post("/peers", status_code=201)
def pair(body: PeerCreate, app: Appliance = Depends(appliance)) -> dict[str, Any]:
    return {"peer": app.replication.peers.pair(body.url, body.token, body.fingerprint)}


@router.post("/peers/handshake", status_code=201)
def handshake(body: Handshake, app: Appliance = Depends(appliance)) -> dict[str, Any]:
    app.replication.peers.accept(body.id, body.name, body.url, body.token, body.key,
                                 body.fingerprint)
    return {"peer": app.replication.peers.get(body.id)}


@router.delete("/peers/{peer_id}", status_code=204)
def unpair(peer_id: str, app: Appliance = Depends(appliance)) -> Response:
    """Unpair on both sides (the peer is told; if it cannot be, re-pairing recovers)."""
    told = app.replication.peers.unpair(peer_id)
    return Response(status_code=204, headers={"X-Peer-Notified": str(told).lower()})


@router.post("/peers/{peer_id}/unpaired", status_code=204)
def unpaired(peer_id: str, app: Appliance = Depends(appliance)) -> Response:
    """Peer to peer: the peer unpaired from this appliance; forget it too."""
    app.replication.peers.unpaired_by_peer(peer_id)
    return Response(status_code=204)


@router.get("/replications")
def list_replications(app: Appliance = Depends(appliance)) -> dict[str, Any]:
    return {"replications": [_rep(app, r.id) for r in app.replication.records.list()]}


@router.post("/replications", status_code=201)
def create_replication(body: ReplicationCreate,
                       app: Appliance = Depends(appliance)) -> dict[str, Any]:
    options = {**body.options, **({"policy": body.policy} if body.policy is not None else {})}
    return app.replication.create(body.source, body.peer, options)


@router.get("/replications/{rep_id}")
def get_replication(rep_id: str, app: Appliance = Depends(appliance)) -> dict[str, Any]:
    return {"replication": _rep(app, rep_id)}


@router.patch("/replications/{rep_id}")
def update_replication(rep_id: str, body: ReplicationUpdate,
                       app: Appliance = Depends(appliance)) -> dict[str, Any]:
    changes = body.model_dump(exclude_none=True)
    return {"replication": app.replication.update(rep_id, changes)}


@router.get("/replications/{rep_id}/events")
def events(rep_id: str, kind: str | None = None,
           app: Appliance = Depends(appliance)) -> dict[str, Any]:
    app.replication.records.get(rep_id)
    return {"events": app.replication.records.events(rep_id, kind)}


@router.delete("/replications/{rep_id}", status_code=204)
def delete_replication(rep_id: str, app: Appliance = Depends(appliance)) -> Response:
    app.replication.delete(rep_id)
    return Response(status_code=204)


@router.post("/replications/{rep_id}/sync", status_code=202)
def sync(rep_id: str, body: SyncRequest | None = None,
         app: Appliance = Depends(appliance)) -> dict[str, Any]:
    job = app.replication.sync(rep_id, quiesce=(body or SyncRequest()).quiesce)
    warning = job.pop("warning", None)
    return {"job": job, **({"warning": warning} if warning else {})}


@router.get("/replications/{rep_id}/stats")
def stats(rep_id: str, app: Appliance = Depends(appliance)) -> dict[str, Any]:
    return {"stats": app.replication.stats(rep_id)}


@router.get("/luns/{lun_id}/recovery-points")
def recovery_points(lun_id: str, app: Appliance = Depends(appliance)) -> dict[str, Any]:
    app.luns.get(lun_id)
    rep = app.replication.records.of_lun(lun_id)
    points = [] if rep is None else app.replication.records.points(rep.id, lun_id)
    return {"recovery_points": [p.to_dict() for p in points],
            "replication_id": rep.id if rep else None}


# ------------------------------------------------------------------ peer to peer
@router.post("/replication-targets", status_code=201)
def create_target(body: TargetCreate, app: Appliance = Depends(appliance)) -> dict[str, Any]:
    return app.replication.target.create(body.model_dump())


@router.get("/replications/{rep_id}/sync-state")
def sync_state(rep_id: str, app: Appliance = Depends(appliance)) -> dict[str, Any]:
    rep = app.replication.records.get(rep_id)
    return app.replication.target.sync_state(rep)


@router.post("/replications/{rep_id}/receive")
def receive(rep_id: str, body: Receive, app: Appliance = Depends(appliance)) -> dict[str, Any]:
    rep = app.replication.records.get(rep_id)
    return app.replication.target.receive(rep, body.model_dump())


@router.put("/replications/{rep_id}/deltas/{seq}/{device}/{part}")
async def put_delta(rep_id: str, seq: int, device: str, part: int, request: Request,
                    app: Appliance = Depends(appliance)) -> dict[str, Any]:
    blob = await read_body(request, MAX_IO_BYTES)
    rep = app.replication.records.get(rep_id)
    return await run_in_threadpool(app.replication.target.stage, rep, seq, device, part, blob)


@router.post("/replications/{rep_id}/commit")
def commit(rep_id: str, body: Commit, app: Appliance = Depends(appliance)) -> dict[str, Any]:
    rep = app.replication.records.get(rep_id)
    return app.replication.target.commit(rep, body.model_dump())


@router.post("/replications/{rep_id}/peer-event")
def peer_event(rep_id: str, body: dict[str, Any],
               app: Appliance = Depends(appliance)) -> dict[str, Any]:
    return app.roles.on_peer_event(rep_id, body)


# declared last: the generic verb route must not shadow /commit and /peer-event
@router.post("/replications/{rep_id}/{verb}")
def role_change(rep_id: str, verb: Literal["promote", "demote", "split", "reverse", "resume"],
                app: Appliance = Depends(appliance)) -> dict[str, Any]:
    return getattr(app.roles, verb)(rep_id)
