"""The iSCSI portal seen over REST: its target and the sessions logged in to it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

router = APIRouter()


def _portal(request: Request) -> Any:
    return getattr(request.app.state, "iscsi", None)


@router.get("/iscsi/targets")
def list_targets(request: Request) -> dict[str, Any]:
    """The appliance's iSCSI target (one per appliance), or none when no portal is served."""
    portal = _portal(request)
    return {"targets": [] if portal is None else [portal.info()]}


@router.get("/iscsi/sessions")
def list_sessions(request: Request) -> dict[str, Any]:
    """Sessions logged in now: initiator, ISID, TSIH, peer, LUN numbers seen, commands run."""
    portal = _portal(request)
    return {"sessions": [] if portal is None else portal.list_sessions()}
