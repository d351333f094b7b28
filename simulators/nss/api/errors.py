"""The one place where errors become HTTP: domain errors, validation errors, unknown routes.

Every error body is ``{"error": {"code", "message", "details"}}``; a client mistake is never a 500.
"""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import NssError
from ..replication.logic.errors import ReplicationError

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, details: dict | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return JSONResponse(body, status_code=status, headers=headers)


def _field(loc: tuple) -> str:
    parts = [str(p) for p in loc if p != "body"] or ["body"]
    return ".".join(parts)


async def _nss_error(_: Request, exc: NssError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if isinstance(exc, ReplicationError):
        log.warning("replication refused: %s", exc.message)
    details = json.loads(json.dumps(exc.details, default=str))
    return error_response(exc.status, exc.code, exc.message, details, headers)


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "malformed-json", "the request body is not valid JSON")
    found = [{"field": _field(tuple(e.get("loc", ()))), "message": e.get("msg", "")}
             for e in errors]
    first = found[0] if found else {"field": "body", "message": "invalid"}
    return error_response(400, "invalid-request", f"{first['field']}: {first['message']}",
                          {"errors": found})


async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    codes = {404: "no-such-endpoint", 405: "method-not-allowed"}
    return error_response(exc.status_code, codes.get(exc.status_code, "http-error"),
                          str(exc.detail))


async def _unstorable(_: Request, exc: Exception) -> JSONResponse:
    """Values the request parsed but the store cannot hold: integers past 64 bits, text with
    lone surrogates (JSON ``"\\ud800"``). The request changed nothing (its transaction rolled
    back); it is the client's input, so 400."""
    what = ("a number is larger than 64 bits" if isinstance(exc, OverflowError)
            else "a text field is not valid Unicode (lone surrogate)")
    return error_response(400, "unstorable-value", f"{what}; nothing was changed")


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error")
    return error_response(500, "appliance-fault", f"internal error: {type(exc).__name__}")


def install(app: FastAPI) -> None:
    app.add_exception_handler(NssError, _nss_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OverflowError, _unstorable)
    app.add_exception_handler(UnicodeEncodeError, _unstorable)
    app.add_exception_handler(Exception, _unexpected)
