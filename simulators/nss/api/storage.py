"""LUN, block data, snapshot, group and TimeView endpoints."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from ..appliance import Appliance
from ..errors import PayloadTooLarge
from . import models as m
from .deps import MAX_IO_BYTES, appliance, read_body
from .schemas import GroupCreate, LunCreate, LunUpdate, SnapshotCreate, TimeViewCreate

router = APIRouter()
OCTETS = "application/octet-stream"
_BINARY = {OCTETS: {"schema": {"type": "string", "format": "binary"}}}
RAW_BODY = {"requestBody": {"required": True, "content": _BINARY}}
RAW_ANSWER: dict[int | str, dict[str, Any]] = {200: {"content": _BINARY, "description": "bytes"}}


@router.get("/luns", response_model=m.LunList)
def list_luns(role: str | None = None, app: Appliance = Depends(appliance)) -> dict[str, Any]:
    return {"luns": [lun.to_dict() for lun in app.luns.list() if role in (None, lun.role)]}


@router.post("/luns", status_code=201, response_model=m.LunOut)
def create_lun(body: LunCreate, app: Appliance = Depends(appliance)) -> dict[str, Any]:
    return {"lun": app.luns.create(body.name, body.size_bytes).to_dict()}


@router.get("/luns/{lun_id}", response_model=m.LunOut)
def get_lun(lun_id: str, app: Appliance = Depends(appliance)) -> dict[str, Any]:
    return {"lun": app.luns.get(lun_id).to_dict()}


@router.patch("/luns/{lun_id}", response_model=m.LunOut)
def update_lun(lun_id: str, body: LunUpdate, app: Appliance = Depends(appliance)) -> dict:
    return {"lun": app.luns.update(lun_id, name=body.name, access=body.access).to_dict()}


@router.delete("/luns/{lun_id}", status_code=204)
def delete_lun(lun_id: str, app: Appliance = Depends(appliance)) -> Response:
    app.luns.delete(lun_id)
    return Response(status_code=204)


@router.put("/luns/{lun_id}/data", status_code=204, openapi_extra=RAW_BODY)
async def write_data(lun_id: str, request: Request, offset: int = Query(ge=0),
                     app: Appliance = Depends(appliance)) -> Response:
    data = await read_body(request, MAX_IO_BYTES)
    await run_in_threadpool(app.data.write, lun_id, offset, data)
    request.app.state.metrics.add("written", len(data))
    return Response(status_code=204)


@router.get("/luns/{lun_id}/data", response_class=Response, responses=RAW_ANSWER)
def read_data(lun_id: str, request: Request, offset: int = Query(ge=0),
              length: int = Query(gt=0), app: Appliance = Depends(appliance)) -> Response:
    _check_read(length)
    data = app.data.read(app.luns.get(lun_id), offset, length)
    request.app.state.metrics.add("read", len(data))
    return Response(content=data, media_type=OCTETS)


@router.get("/luns/{lun_id}/snapshots", response_model=m.SnapshotList)
def list_snapshots(lun_id: str, app: Appliance = Depends(appliance)) -> dict[str, Any]:
    return {"snapshots": [s.to_dict() for s in app.snapshots.list(lun_id)]}


@router.post("/luns/{lun_id}/snapshots", status_code=201, response_model=m.SnapshotOut)
def create_snapshot(lun_id: str, body: SnapshotCreate | None = None,
                    app: Appliance = Depends(appliance)) -> dict[str, Any]:
    body = body or SnapshotCreate()
    _, snaps = app.snapshot([lun_id], quiesce=body.quiesce,
                            on_quiesce_failure=body.on_quiesce_failure, attrs=_label(body))
    return {"snapshot": snaps[0].to_dict()}


@router.get("/snapshots/{snap_id}", response_model=m.SnapshotOut)
def get_snapshot(snap_id: str, app: Appliance = Depends(appliance)) -> dict[str, Any]:
    return {"snapshot": app.snapshots.get(snap_id).to_dict()}


@router.delete("/snapshots/{snap_id}", status_code=204)
def delete_snapshot(snap_id: str, app: Appliance = Depends(appliance)) -> Response:
    app.snapshots.delete(snap_id)
    return Response(status_code=204)


@router.get("/snapshots/{snap_id}/data", response_class=Response, responses=RAW_ANSWER)
def read_snapshot(snap_id: str, offset: int = Query(ge=0), length: int = Query(gt=0),
                  app: Appliance = Depends(appliance)) -> Response:
    _check_read(length)
    snap = app.snapshots.get(snap_id)
    size = app.luns.get(snap.lun_id).size_bytes
    return Response(content=app.data.read_snapshot(snap, size, offset, length),
                    media_type=OCTETS)


@router.post("/snapshots/{snap_id}/timeviews", status_code=201,
             response_model=m.TimeViewOut)
def create_timeview(snap_id: str, body: TimeViewCreate | None = None,
                    app: Appliance = Depends(appliance)) -> dict[str, Any]:
    body = body or TimeViewCreate()
    lun = app.snapshots.create_timeview(snap_id, body.name, body.writable)
    return {"timeview": lun.to_dict()}


@router.get("/groups", response_model=m.GroupList)
def list_groups(app: Appliance = Depends(appliance)) -> dict[str, Any]:
    return {"groups": [g.to_dict() for g in app.groups.list()]}


@router.post("/groups", status_code=201, response_model=m.GroupOut)
def create_group(body: GroupCreate, app: Appliance = Depends(appliance)) -> dict[str, Any]:
    return {"group": app.groups.create(body.name, body.luns).to_dict()}


@router.get("/groups/{group_id}", response_model=m.GroupOut)
def get_group(group_id: str, app: Appliance = Depends(appliance)) -> dict[str, Any]:
    return {"group": app.groups.get(group_id).to_dict()}


@router.delete("/groups/{group_id}", status_code=204)
def delete_group(group_id: str, app: Appliance = Depends(appliance)) -> Response:
    app.groups.delete(group_id)
    return Response(status_code=204)


@router.post("/groups/{group_id}/snapshots", status_code=201,
             response_model=m.GroupSnapshotOut)
def group_snapshot(group_id: str, body: SnapshotCreate | None = None,
                   app: Appliance = Depends(appliance)) -> dict[str, Any]:
    body = body or SnapshotCreate()
    group = app.groups.get(group_id)
    gsid, snaps = app.snapshot(list(group.luns), quiesce=body.quiesce,
                               on_quiesce_failure=body.on_quiesce_failure, attrs=_label(body))
    return {"group_snapshot": {
        "id": gsid or snaps[0].id, "group_id": group.id, "created": snaps[0].created,
        "consistency": snaps[0].consistency, "snapshots": [s.to_dict() for s in snaps]}}


def _label(body: SnapshotCreate) -> dict[str, Any]:
    return {"label": body.label} if body.label else {}


def _check_read(length: int) -> None:
    if length > MAX_IO_BYTES:
        raise PayloadTooLarge(f"length {length} exceeds the per-request limit of "
                              f"{MAX_IO_BYTES} bytes", limit=MAX_IO_BYTES)
