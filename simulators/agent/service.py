"""The Snapshot Agent's HTTP service: ``/quiesce`` and ``/thaw`` for the appliance.

Why the standard library's ``ThreadingHTTPServer`` and not FastAPI + uvicorn: the agent lives
inside the guest application's process, next to its threads. A quiesce request *blocks* until the
application is frozen; a thread per request models that directly, with no event loop to keep
unblocked and no second concurrency model in the application. Binding port 0 hands back the free
port atomically (no pick-then-bind race), startup takes milliseconds, and the API is four routes
of small JSON, which needs no schema machinery. The appliance side is FastAPI; this side is a
guest.

Routes (all JSON; every route but ``/healthz`` needs ``Authorization: Bearer <agent token>``)::

    GET  /healthz   {"status": "ok"}
    GET  /status    state, current holds, pause/freeze statistics, application counters
    POST /quiesce   {"request_id": str, "luns": [str], "timeout_ms": int}
                    200 {"state": "frozen", "request_id", "freeze_ms"}
                    504 quiesce-timeout | 409 agent-busy | 503 device-io-error | 400 | 401
    POST /thaw      {"request_id": str}
                    200 {"state": "thawed", "request_id", "paused_ms"[, "note"]} - always 200,
                    see quiesce.py for already-thawed / self-thawed / unknown-request

Errors: ``{"error": {"code", "message", "details"}}``; the token is never logged or echoed.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from simulators.agent.errors import (
    AgentBusy,
    AgentError,
    DeviceIOError,
    InvalidField,
    QuiesceTimeout,
    Unauthorized,
)
from simulators.agent.quiesce import Quiescer

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024


def _status_for(exc: AgentError) -> int:
    """The one place agent errors become HTTP statuses."""
    for kind, status in ((Unauthorized, 401), (InvalidField, 400), (QuiesceTimeout, 504),
                         (AgentBusy, 409), (DeviceIOError, 503)):
        if isinstance(exc, kind):
            return status
    return 500


def parse_quiesce(body: dict[str, Any]) -> tuple[str, list[str], int]:
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or not request_id:
        raise InvalidField("request_id", "must be a non-empty string")
    luns = body.get("luns", [])
    if not isinstance(luns, list) or not all(isinstance(x, str) for x in luns):
        raise InvalidField("luns", "must be a list of LUN ids")
    timeout_ms = body.get("timeout_ms")
    if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or timeout_ms <= 0:
        raise InvalidField("timeout_ms", "must be a positive integer")
    return request_id, luns, timeout_ms


def parse_thaw(body: dict[str, Any]) -> str:
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or not request_id:
        raise InvalidField("request_id", "must be a non-empty string")
    return request_id


class _Handler(BaseHTTPRequestHandler):
    server: AgentServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._dispatch({"/healthz": lambda _: {"status": "ok"},
                        "/status": lambda _: {**self.server.quiescer.status(),
                                              **self.server.info()}})

    def do_POST(self) -> None:
        q = self.server.quiescer
        self._dispatch({"/quiesce": lambda b: q.quiesce(*parse_quiesce(b)),
                        "/thaw": lambda b: q.thaw(parse_thaw(b))})

    def _dispatch(self, routes: dict[str, Any]) -> None:
        route = routes.get(self.path.split("?")[0])
        try:
            if route is None:
                return self._send(404, _error("not-found", f"no route {self.command} {self.path}"))
            if self.path != "/healthz":
                self._authorize()
            self._send(200, route(self._body()))
        except AgentError as exc:
            self._send(_status_for(exc), {"error": exc.to_dict()})
        except Exception as exc:  # never let a handler crash silently
            log.exception("unexpected error on %s %s", self.command, self.path)
            self._send(500, _error("internal-error", type(exc).__name__))

    def _authorize(self) -> None:
        got = self.headers.get("Authorization", "")
        want = f"Bearer {self.server.token}"
        if not hmac.compare_digest(got.encode(), want.encode()):
            raise Unauthorized("missing or wrong bearer token")

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise InvalidField("body", f"larger than {MAX_BODY} bytes")
        if self.command != "POST":
            return {}
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            raise InvalidField("body", "is not valid JSON") from None
        if not isinstance(body, dict):
            raise InvalidField("body", "must be a JSON object")
        return body

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), fmt % args)


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": {}}}


class AgentServer(ThreadingHTTPServer):
    """The agent service on 127.0.0.1 and a free port; ``start`` serves it in a thread."""

    daemon_threads = True

    def __init__(self, quiescer: Quiescer, token: str, host: str = "127.0.0.1",
                 port: int = 0, info: Callable[[], dict[str, Any]] = dict) -> None:
        if not token:
            raise InvalidField("token", "must not be empty")
        super().__init__((host, port), _Handler)
        self.quiescer = quiescer
        self.token = token
        self.info = info  # extra fields for GET /status (the application's own counters)
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"AgentServer({self.url!r})"

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> AgentServer:
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), name="agent-http",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join()
