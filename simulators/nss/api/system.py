"""Appliance identity, jobs, agents and metrics."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import PlainTextResponse

from ..appliance import Appliance
from . import models as m
from .deps import appliance
from .schemas import AgentCreate

router = APIRouter()


class Metrics:
    """Counters the REST layer keeps for ``GET /metrics``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bytes: Counter[str] = Counter()

    def add(self, kind: str, n: int) -> None:
        with self._lock:
            self.bytes[kind] += n


@router.get("/appliance", response_model=m.ApplianceOut)
def get_appliance(app: Appliance = Depends(appliance)) -> dict[str, Any]:
    return {"appliance": app.info()}


@router.get("/jobs/{job_id}", response_model=m.JobOut)
def get_job(job_id: str, app: Appliance = Depends(appliance)) -> dict[str, Any]:
    return {"job": app.jobs.get(job_id)}


@router.get("/agents", response_model=m.AgentList)
def list_agents(app: Appliance = Depends(appliance)) -> dict[str, Any]:
    return {"agents": app.agents.list()}


@router.post("/agents", status_code=201, response_model=m.AgentOut)
def register_agent(body: AgentCreate, app: Appliance = Depends(appliance)) -> dict[str, Any]:
    agent = app.agents.register(body.name, body.url, body.token, body.luns, body.timeout_ms)
    return {"agent": agent}


@router.delete("/agents/{agent_id}", status_code=204)
def delete_agent(agent_id: str, app: Appliance = Depends(appliance)) -> Response:
    app.agents.delete(agent_id)
    return Response(status_code=204)


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request, app: Appliance = Depends(appliance)) -> str:
    counters: Metrics = request.app.state.metrics
    store = app.store
    lines = [
        "# TYPE nss_luns gauge",
        f"nss_luns {store.scalar('SELECT COUNT(*) FROM luns')}",
        "# TYPE nss_snapshots gauge",
        f"nss_snapshots {store.scalar('SELECT COUNT(*) FROM snapshots')}",
        "# TYPE nss_io_bytes_total counter",
        f'nss_io_bytes_total{{direction="write"}} {counters.bytes["written"]}',
        f'nss_io_bytes_total{{direction="read"}} {counters.bytes["read"]}',
    ]
    return "\n".join(lines) + "\n" + app.replication.metrics.text()
