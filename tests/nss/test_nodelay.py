"""The API server's connections send small answers at once (TCP_NODELAY).

uvicorn given a descriptor (``fd=``) rebuilds the socket as AF_UNIX, so asyncio leaves Nagle on
and every answer on a keep-alive connection waits for the client's delayed ACK (~40 ms per
request). The appliance serves on the listening socket itself; this checks the option on the
connections it accepts, the way ``serve`` runs uvicorn.
"""

from __future__ import annotations

import socket
import threading
import time

import requests
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from simulators.nss.server import uvicorn_server


class _Recording(HttpToolsProtocol):
    seen: list[int] = []

    def connection_made(self, transport):  # type: ignore[no-untyped-def]
        sock = transport.get_extra_info("socket")
        self.seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        super().connection_made(transport)


async def _app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def test_accepted_connections_have_nodelay() -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    server = uvicorn_server(_app, {"http": _Recording})
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        with requests.Session() as s:
            assert [s.get(url).text for _ in range(3)] == ["ok"] * 3
        assert _Recording.seen and all(_Recording.seen), _Recording.seen
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
