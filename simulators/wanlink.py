"""A loopback TCP proxy that plays a WAN link between two appliances, for tests and benches.

``WanProxy(target_port)`` listens on a free loopback port and forwards every connection to the
target. Knobs, all changeable while traffic flows:

- ``latency``      seconds added to every piece of data, each direction (a delay line, so
                   throughput is not divided by it);
- ``rate``         bytes/s per direction (0 = unlimited), paced per piece;
- ``cut_after(n)`` reset every connection once ``n`` more client->server bytes have passed
                   (exactly ``n`` are forwarded first), as a dropped link does mid-transfer;
- ``pause()``      hold all data (connections stay open) until ``resume()``;
- ``down()``       reset every connection and refuse new ones until ``up()``.

Counters: ``bytes_up`` (client->server) and ``bytes_down``, ``cuts`` (resets performed).
"""

from __future__ import annotations

import contextlib
import queue
import socket
import struct
import threading
import time

PIECE = 256 * 1024


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a dropped link looks to the peer. The read side is shut
    first: a thread blocked in ``recv`` keeps the socket alive past ``close`` (no RST would
    go out, and a peer waiting for an answer would wait for its timeout)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)
    with contextlib.suppress(OSError):
        sock.close()


class _Conn:
    def __init__(self, proxy: WanProxy, client: socket.socket, server: socket.socket) -> None:
        self.proxy, self.client, self.server = proxy, client, server
        self.dead = threading.Event()
        for src, dst, up in ((client, server, True), (server, client, False)):
            line: queue.Queue = queue.Queue()
            threading.Thread(target=self._read, args=(src, line, up), daemon=True).start()
            threading.Thread(target=self._write, args=(dst, line, up), daemon=True).start()

    def kill(self) -> None:
        if not self.dead.is_set():
            self.dead.set()
            _reset(self.client)
            _reset(self.server)

    def _read(self, src: socket.socket, line: queue.Queue, up: bool) -> None:
        while not self.dead.is_set():
            try:
                data = src.recv(PIECE)
            except OSError:
                data = b""
            if up and data:
                data = self.proxy._budget(data)
            line.put((time.monotonic() + self.proxy.latency, data))
            if not data:
                return

    def _write(self, dst: socket.socket, line: queue.Queue, up: bool) -> None:
        while not self.dead.is_set():
            due, data = line.get()
            self.proxy._hold(due, len(data), self.dead)
            if not data:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)
                return
            try:
                dst.sendall(data)
            except OSError:
                self.kill()
                return
            self.proxy._count(len(data), up)
            if up and self.proxy._cut_now():
                self.proxy.reset_all()


class WanProxy:
    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (host, target_port)
        self.latency = 0.0
        self.rate = 0
        self.bytes_up = self.bytes_down = self.cuts = 0
        self._lock = threading.Lock()
        self._armed: int | None = None
        self._trip = False
        self._running = threading.Event()
        self._running.set()
        self._down = False
        self._conns: list[_Conn] = []
        self._listener = socket.create_server((host, 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{self.target[0]}:{self.port}"

    # ---------------------------------------------------------------- knobs
    def cut_after(self, n: int) -> None:
        with self._lock:
            self._armed, self._trip = n, False

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def down(self) -> None:
        self._down = True
        self.reset_all()

    def up(self) -> None:
        self._down = False

    def reset_all(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
            self.cuts += 1
        for c in conns:
            c.kill()

    def close(self) -> None:
        self._down = True
        self._running.set()
        _reset(self._listener)
        self.reset_all()

    # ---------------------------------------------------------------- internals
    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._down:
                _reset(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._conns.append(_Conn(self, client, server))

    def _budget(self, data: bytes) -> bytes:
        """Truncate client->server data at the armed cut point."""
        with self._lock:
            if self._armed is None:
                return data
            keep = min(len(data), self._armed)
            self._armed -= keep
            if self._armed == 0:
                self._armed, self._trip = None, True
            return data[:keep]

    def _cut_now(self) -> bool:
        with self._lock:
            trip, self._trip = self._trip, False
            return trip

    def _hold(self, due: float, n: int, dead: threading.Event) -> None:
        while not self._running.is_set() and not dead.is_set():
            self._running.wait(0.05)
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if self.rate and n:
            time.sleep(n / self.rate)

    def _count(self, n: int, up: bool) -> None:
        with self._lock:
            if up:
                self.bytes_up += n
            else:
                self.bytes_down += n
