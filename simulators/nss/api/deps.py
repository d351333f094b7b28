"""Request-scoped helpers: the appliance, bearer-token auth, body size limits."""

from __future__ import annotations

import hmac

from fastapi import Request

from ..appliance import Appliance
from ..errors import PayloadTooLarge, Unauthorized

MAX_IO_BYTES = 64 * 2**20
MAX_JSON_BYTES = 1 * 2**20


def appliance(request: Request) -> Appliance:
    return request.app.state.appliance


def require_token(request: Request) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    expected = request.app.state.token
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized("missing or wrong bearer token")


def check_length(request: Request, limit: int) -> None:
    raw = request.headers.get("content-length")
    if raw is not None and raw.isdigit() and int(raw) > limit:
        raise PayloadTooLarge(f"request body of {raw} bytes exceeds the limit of {limit}",
                              limit=limit)


async def read_body(request: Request, limit: int) -> bytes:
    check_length(request, limit)
    chunks, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes", limit=limit)
        chunks.append(part)
    return b"".join(chunks)
