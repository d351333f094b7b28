"""Connection guard: slow or idle clients cannot take the appliance's connections away.

uvicorn bounds idle keep-alive (``timeout_keep_alive``) and concurrent tasks
(``limit_concurrency``) but has no deadline for request headers and keeps every accepted
connection: a thousand slow clients exhaust the process's descriptors and the next client
(``/healthz`` included) waits in the kernel's backlog. The guarded protocol adds, per
connection:

- a header deadline: the request line and headers must arrive within ``header_timeout``
  seconds of the connection (or of the first byte of a keep-alive request), and
  ``max_header_bytes`` is the most they may take; otherwise the connection is closed;
- a connection budget: past ``max_connections`` open connections, the connection that has
  waited longest for its headers (or idled longest between keep-alive requests) is closed to
  make room; a request being served is never dropped for a slow client;
- draining: a request answered before its whole body came (a 413) keeps its connection while
  the rest of the body is read and dropped, up to ``DRAIN_MAX`` bytes and ``drain_timeout``
  seconds (closing with unread data would reset the connection, and a client still sending
  would lose the answer); those bytes are the old request's body, not a new request's headers.

``limits_for(nofile)`` derives the budget from the descriptor limit, leaving room for the image
descriptor cache, SQLite and the replication clients.
"""

from __future__ import annotations

import asyncio
import resource
import time
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .fdcache import DEFAULT_CAPACITY

RESERVED_FDS = 96  # SQLite db/-wal/-shm, logs, peer and agent clients, the event loop
DRAIN_MAX = 256 * 2**20  # a refused body declared larger is not drained: the answer closes


@dataclass(frozen=True)
class Limits:
    header_timeout: float = 10.0
    max_header_bytes: int = 64 * 1024
    max_connections: int = 1000
    keep_alive: int = 5
    drain_timeout: float = 30.0


def raise_nofile() -> int:
    """Raise the soft descriptor limit to the hard one (as Go does at start); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = 65536 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def limits_for(nofile: int, image_fds: int = DEFAULT_CAPACITY, **overrides: Any) -> Limits:
    budget = max(16, min(Limits.max_connections, nofile - image_fds - RESERVED_FDS))
    return Limits(**{"max_connections": budget, **overrides})


def guarded_protocol(limits: Limits) -> type[HttpToolsProtocol]:
    """The uvicorn HTTP protocol class with these limits (pass it as ``http=``)."""
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), {"limits": limits})


class GuardedHttpProtocol(HttpToolsProtocol):
    limits = Limits()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_bytes = 0
        self._deadline: asyncio.TimerHandle | None = None
        self._drain_timer: asyncio.TimerHandle | None = None
        self._drained = 0
        self._arm()
        self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._stop_draining()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._draining():
            self._drained += len(data)
            if self._drained > DRAIN_MAX:
                self._drop()
                return
            super().data_received(data)  # uvicorn drops body bytes of an answered request
            return
        if self._deadline is None and self._idle():
            self._arm()  # first byte of a keep-alive request: its headers are on the clock
        super().data_received(data)
        if self._deadline is not None:  # still no complete headers after these bytes
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes:
                self._drop()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def shutdown(self) -> None:
        """Server shutdown: an idle connection is aborted, not closed. Closing a TLS connection
        waits for the client's close_notify, which an idle keep-alive client never sends:
        SIGTERM then took asyncio's 30 s TLS shutdown timeout to end the process."""
        if self._idle():
            self.transport.abort()
            return
        super().shutdown()

    def on_response_complete(self) -> None:
        self._since = time.monotonic()  # idle keep-alive from now on: evictable
        super().on_response_complete()
        if self._draining() and self._drain_timer is None:
            self._drained = 0
            self._drain_timer = self.loop.call_later(self.limits.drain_timeout, self._drop)

    def on_message_complete(self) -> None:
        drained = self._draining()
        super().on_message_complete()
        self._stop_draining()
        if drained and not self.pipeline:  # idle now: uvicorn's keep-alive timeout applies
            self._unset_keepalive_if_required()
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler)

    # ---------------------------------------------------------------- internals
    def _arm(self) -> None:
        self._since = time.monotonic()
        self._header_bytes = 0
        self._deadline = self.loop.call_later(self.limits.header_timeout, self._drop)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _idle(self) -> bool:
        return self.cycle is None or (self.cycle.response_complete and not self.cycle.more_body)

    def _draining(self) -> bool:
        """Answered, but the request's body is still coming."""
        return self.cycle is not None and self.cycle.response_complete and self.cycle.more_body

    def _stop_draining(self) -> None:
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None

    def _drop(self) -> None:
        self._disarm()
        self.connections.discard(self)  # its slot is free now, not when the loop gets to it
        if not self.transport.is_closing():
            self.transport.close()

    def _evictable(self) -> bool:
        """Waiting for headers, or idle between keep-alive requests: never mid-request."""
        return self._deadline is not None or self._idle()

    def _make_room(self) -> None:
        excess = len(self.connections) - self.limits.max_connections
        if excess <= 0:
            return
        waiting = [c for c in self.connections if c is not self and
                   isinstance(c, GuardedHttpProtocol) and c._evictable()]
        waiting.sort(key=lambda c: c._since)
        for victim in waiting[:excess]:
            victim._drop()
