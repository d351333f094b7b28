"""Request body limits enforced before any parsing: an ASGI middleware around the whole app.

A JSON body may be at most ``MAX_JSON_BYTES``: a ``Content-Length`` above it is refused at once
(413, nothing parsed), and a body without one (chunked) is read up to the limit and refused as
soon as it passes it; the connection then reads and drops the rest (``guard.py``), so a client
still sending reads the 413 rather than a reset. Only the block-data routes take raw bytes;
they stream their body and enforce ``MAX_IO_BYTES`` themselves (``deps.read_body``).
"""

from __future__ import annotations

import re
from typing import Any

from ..guard import DRAIN_MAX
from .deps import MAX_JSON_BYTES
from .errors import error_response

_RAW_ROUTES = re.compile(r"^/api/v1/(luns/[^/]+/data|replications/[^/]+/deltas/.+)$")


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Refuse JSON bodies over ``limit`` bytes with 413 ``payload-too-large``."""

    def __init__(self, app: Any, limit: int = MAX_JSON_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or _is_raw(scope) or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await self._refuse(scope, receive, send, f"of {declared} bytes ",
                               close=declared > DRAIN_MAX)
            return
        try:
            body = await self._read(receive)
        except BodyTooLarge:
            await self._refuse(scope, receive, send, "")
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Any) -> bytes:
        parts, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            part = message.get("body", b"")
            size += len(part)
            if size > self.limit:
                raise BodyTooLarge
            parts.append(part)
            more = message.get("more_body", False)
        return b"".join(parts)

    async def _refuse(self, scope: dict, receive: Any, send: Any, size: str,
                      close: bool = False) -> None:
        """413 at once; the connection drains the rest of the body (guard.py) unless it is
        declared too large even for that."""
        response = error_response(
            413, "payload-too-large",
            f"request body {size}exceeds the JSON limit of {self.limit} bytes",
            {"limit": self.limit}, headers={"Connection": "close"} if close else None)
        await response(scope, receive, send)


def _is_raw(scope: dict) -> bool:
    return scope["method"] == "PUT" and bool(_RAW_ROUTES.match(scope["path"]))


def _has_body(scope: dict) -> bool:
    """A body is announced by a non-zero Content-Length or a Transfer-Encoding (chunked)."""
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


def _content_length(scope: dict) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _replay(body: bytes, receive: Any) -> Any:
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
