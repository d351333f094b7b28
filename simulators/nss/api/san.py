"""SAN clients, presentations (LUN masking), and what an initiator sees."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Response

from ..appliance import Appliance
from ..san import parse_initiator
from . import models as m
from .deps import appliance
from .schemas import ClientCreate, PresentationCreate

router = APIRouter()


@router.get("/clients", response_model=m.ClientList)
def list_clients(app: Appliance = Depends(appliance)) -> dict[str, Any]:
    return {"clients": [c.to_dict() for c in app.san.clients()]}


@router.post("/clients", status_code=201, response_model=m.ClientOut)
def create_client(body: ClientCreate, app: Appliance = Depends(appliance)) -> dict[str, Any]:
    inits = [i.model_dump() for i in body.initiators]
    return {"client": app.san.create_client(body.name, inits).to_dict()}


@router.get("/clients/{client_id}", response_model=m.ClientOut)
def get_client(client_id: str, app: Appliance = Depends(appliance)) -> dict[str, Any]:
    return {"client": app.san.client(client_id).to_dict()}


@router.delete("/clients/{client_id}", status_code=204)
def delete_client(client_id: str, app: Appliance = Depends(appliance)) -> Response:
    app.san.delete_client(client_id)
    return Response(status_code=204)


@router.get("/luns/{lun_id}/presentations", response_model=m.PresentationList)
def list_presentations(lun_id: str, app: Appliance = Depends(appliance)) -> dict[str, Any]:
    return {"presentations": [p.to_dict() for p in app.san.presentations(lun_id)]}


@router.post("/luns/{lun_id}/presentations", status_code=201,
             response_model=m.PresentationOut)
def present(lun_id: str, body: PresentationCreate,
            app: Appliance = Depends(appliance)) -> dict[str, Any]:
    inits = None if body.initiators is None else [i.model_dump() for i in body.initiators]
    pres = app.san.present(lun_id, body.client_id, inits, body.lun_number)
    return {"presentation": pres.to_dict()}


@router.delete("/luns/{lun_id}/presentations/{pres_id}", status_code=204)
def unpresent(lun_id: str, pres_id: str, app: Appliance = Depends(appliance)) -> Response:
    app.san.unpresent(lun_id, pres_id)
    return Response(status_code=204)


@router.get("/visible-devices", response_model=m.VisibleDevices)
def visible_devices(type: Literal["FC", "iSCSI", "NFS"], id: str,
                    app: Appliance = Depends(appliance)) -> dict[str, Any]:
    """What a host with this initiator finds on a rescan: LUNs presented to it."""
    initiator = parse_initiator({"type": type, "id": id}, "query")
    devices = []
    for pres in app.san.visible_to(initiator):
        devices.append({**app.luns.get(pres.lun_id).to_dict(), "lun_number": pres.lun_number,
                        "presentation_id": pres.id})
    return {"devices": devices}
