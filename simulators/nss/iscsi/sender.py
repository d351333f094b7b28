"""One connection's outgoing bytes, sent by a thread of their own.

On loopback most of a large read's cost is the kernel copying it through TCP inside ``send``.
That call releases the GIL, so a sender thread lets the event loop parse and execute the next
commands meanwhile. PDUs leave in the order they were queued, gathered with ``sendmsg`` (no
joining of buffers); the event loop keeps the socket for reading only.
"""

from __future__ import annotations

import asyncio
import queue
import select
import socket
import threading
from collections.abc import Sequence

Buffers = Sequence[bytes | memoryview]
IOV_MAX = 512


class Sender:
    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop,
                 high_water: int) -> None:
        self.sock = sock
        self.loop = loop
        self.high_water = high_water
        self.queued = 0
        self.broken = False
        self._queue: queue.SimpleQueue[tuple[Buffers, int] | None] = queue.SimpleQueue()
        self._waiter: asyncio.Future[None] | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="iscsi-send", daemon=True)
        self._thread.start()

    def send(self, parts: Buffers, size: int) -> None:
        with self._lock:
            self.queued += size
        self._queue.put((parts, size))

    async def drained(self) -> None:
        """Wait until at most the high-water mark is queued (several callers share a wait)."""
        while self.queued > self.high_water and not self.broken:
            if self._waiter is None or self._waiter.done():
                self._waiter = self.loop.create_future()
            await self._waiter

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(5)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            parts, size = item
            if not self.broken:
                try:
                    self._send_all(list(parts))
                except OSError:
                    self.broken = True
            with self._lock:
                before, self.queued = self.queued, self.queued - size
            if before > self.high_water >= self.queued or self.broken:
                self.loop.call_soon_threadsafe(self._wake)  # the loop saw "above": wake it

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _send_all(self, parts: list[bytes | memoryview]) -> None:
        views = [memoryview(p).cast("B") for p in parts if len(p)]
        while views:
            try:
                sent = self.sock.sendmsg(views[:IOV_MAX])
            except BlockingIOError:
                select.select([], [self.sock], [], 5)
                continue
            while sent and views:
                if sent >= len(views[0]):
                    sent -= len(views.pop(0))
                else:
                    views[0], sent = views[0][sent:], 0
