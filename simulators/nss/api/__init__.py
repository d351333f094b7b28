"""The appliance's REST API v1 (contract: docs/NSS-API.md, generated from and tested against
the OpenAPI document): a thin layer over the domain."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from ..appliance import VERSION, Appliance
from . import errors, iscsi, replication, san, storage, system
from .bodylimit import BodyLimit
from .deps import require_token
from .models import Health
from .openapi import install_openapi

BASE = "/api/v1"


def create_app(appliance: Appliance, token: str, public_url: str = "", *,
               fingerprint: str | None = None, insecure: bool = True) -> FastAPI:
    """``fingerprint``: of the TLS certificate served (None over plain HTTP); ``insecure``
    allows pairing over plain HTTP (labs)."""
    app = FastAPI(title="NSS appliance simulator", version=VERSION,
                  openapi_url="/openapi.json", docs_url=f"{BASE}/docs", redoc_url=None)
    app.state.appliance = appliance
    app.state.token = token
    appliance.identity.update(url=public_url, token=token, fingerprint=fingerprint,
                              insecure=insecure)
    app.state.metrics = system.Metrics()
    errors.install(app)
    app.add_middleware(BodyLimit)

    open_router = APIRouter()

    @open_router.get("/healthz", response_model=Health)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(open_router, prefix=BASE)
    app.include_router(open_router)
    secured = [Depends(require_token)]
    app.state.iscsi = None  # the iSCSI portal, when ``serve`` starts one
    for module in (storage, san, system, replication, iscsi):
        app.include_router(module.router, prefix=BASE, dependencies=secured)
    install_openapi(app)
    return app
