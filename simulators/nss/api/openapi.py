"""The published OpenAPI document: every error status with the error schema, raw bodies declared.

FastAPI documents request validation as 422; this appliance answers 400 (``errors.py``) and
uses 401/404/409/413/5xx with one error body, so the document is finished here: each operation
lists the error statuses with ``ErrorBody``, the 422 entries and their schemas go, and the
replication operations (whose handlers answer free-form dicts) get their response models.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from . import models as m

ERRORS = {
    400: "Invalid request: a field, the alignment or the range (the code and message name it)",
    401: "Missing or wrong bearer token",
    404: "Unknown id (code `<kind>-not-found`) or endpoint",
    409: "The request is valid but the state forbids it (read-only device, in use, ...)",
    413: "Body or requested length over the limit",
    500: "Appliance fault",
    502: "The replication peer refused the request (its code is passed through)",
    503: "Transient: the replication peer or a Snapshot Agent did not answer; retry",
}
_RAW = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
#: (method, path under /api/v1) -> 2xx model of the replication router's operations
REPLICATION_MODELS: dict[tuple[str, str], type[BaseModel]] = {
    ("get", "/peers"): m.PeerList,
    ("post", "/peers"): m.PeerOut,
    ("post", "/peers/handshake"): m.PeerOut,
    ("get", "/replications"): m.ReplicationList,
    ("post", "/replications"): m.ReplicationCreated,
    ("get", "/replications/{rep_id}"): m.ReplicationOut,
    ("post", "/replications/{rep_id}/sync"): m.JobOut,
    ("get", "/replications/{rep_id}/stats"): m.StatsOut,
    ("get", "/luns/{lun_id}/recovery-points"): m.RecoveryPoints,
    ("post", "/replication-targets"): m.Answer,
    ("get", "/replications/{rep_id}/sync-state"): m.Answer,
    ("post", "/replications/{rep_id}/commit"): m.Answer,
    ("post", "/replications/{rep_id}/peer-event"): m.Answer,
    ("post", "/replications/{rep_id}/{verb}"): m.Answer,
}
RAW_BODIES = {("put", "/replications/{rep_id}/deltas/{seq}/{device}/{part}")}


def install_openapi(app: FastAPI, base: str = "/api/v1") -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = finish(get_openapi(
                title=app.title, version=app.version, description=app.description,
                routes=app.routes), base)
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]


def finish(spec: dict[str, Any], base: str) -> dict[str, Any]:
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    error_ref = _component(schemas, m.ErrorBody)
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            key = (method, path.removeprefix(base))
            if key in REPLICATION_MODELS:
                _set_success(op, _component(schemas, REPLICATION_MODELS[key]))
            if key in RAW_BODIES:
                op["requestBody"] = {"required": True, "content": _RAW}
            _document_errors(op, error_ref)
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return spec


def _component(schemas: dict[str, Any], model: type[BaseModel]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _set_success(op: dict[str, Any], ref: dict[str, str]) -> None:
    for status, answer in op["responses"].items():
        if status.startswith("2") and "content" in answer:
            answer["content"] = {"application/json": {"schema": ref}}


def _document_errors(op: dict[str, Any], ref: dict[str, str]) -> None:
    responses = op["responses"]
    responses.pop("422", None)
    for status, text in ERRORS.items():
        responses.setdefault(str(status), {
            "description": text, "content": {"application/json": {"schema": ref}}})
