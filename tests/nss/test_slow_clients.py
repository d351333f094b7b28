"""Slow and idle clients against a real appliance under ``ulimit -n 1024``."""

from __future__ import annotations

import resource
import socket
import threading
import time

import pytest
import requests

pytestmark = pytest.mark.live
SLOW = 1_100
PARTIAL = b"GET /api/v1/luns HTTP/1.1\r\nHost: nss\r\n"


def _room_for(count: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count:
        if hard != resource.RLIM_INFINITY and hard < count:
            pytest.skip(f"needs {count} descriptors, hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (count, hard))


class Flood:
    """SLOW connections that send a header line now and then and never finish; each one the
    server closes is opened again, so the pressure stays for the whole flood."""

    def __init__(self, app) -> None:
        self.addr = (app.host, app.port)
        self.socks: list[socket.socket | None] = [None] * SLOW
        self.dropped = 0

    def run(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for i in range(SLOW):
                self._tick(i)
            time.sleep(0.2)

    def close(self) -> None:
        for sock in self.socks:
            if sock is not None:
                sock.close()

    def _tick(self, i: int) -> None:
        sock = self.socks[i]
        try:
            if sock is None:
                sock = socket.create_connection(self.addr, timeout=1)
                sock.setblocking(False)
                sock.send(PARTIAL)
                self.socks[i] = sock
            elif self._closed(sock):
                raise ConnectionResetError
            else:
                sock.send(b"X-Slow: 1\r\n")
        except OSError:
            self.dropped += 1
            if sock is not None:
                sock.close()
            self.socks[i] = None

    @staticmethod
    def _closed(sock: socket.socket) -> bool:
        try:
            return sock.recv(1) == b""
        except BlockingIOError:
            return False


def _probe(url: str, stop: threading.Event, results: list[object]) -> None:
    while not stop.is_set():
        start = time.monotonic()
        try:
            status = requests.get(f"{url}/healthz", timeout=2).status_code
        except requests.RequestException as exc:
            status = type(exc).__name__
        results.append((status, time.monotonic() - start))
        time.sleep(0.1)


@pytest.mark.slow
def test_healthz_answers_through_a_slow_client_flood(appliance_factory):
    _room_for(4 * SLOW)
    app = appliance_factory("nss-flood", nofile=1024)
    flood, stop, results = Flood(app), threading.Event(), []
    prober = threading.Thread(target=_probe, args=(app.url, stop, results))
    prober.start()
    try:
        flood.run(seconds=4)
    finally:
        stop.set()
        prober.join()
        flood.close()
    failures = [r for r in results if r[0] != 200]
    assert len(results) >= 10 and failures == []
    assert flood.dropped > 0  # the flood did reach the connection budget
    assert app.running and app.client.healthz()


def test_headers_must_arrive_in_time(appliance_factory):
    app = appliance_factory("nss-slow", serve_args=("--header-timeout", "1"))
    with socket.create_connection((app.host, app.port), timeout=5) as idle, \
            socket.create_connection((app.host, app.port), timeout=5) as slow:
        slow.sendall(PARTIAL)
        start = time.monotonic()
        assert idle.recv(1) == b"" and slow.recv(1) == b""
        assert time.monotonic() - start < 4
    assert app.client.healthz()


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False
    return True


def test_oversized_headers_close_the_connection(appliance):
    with socket.create_connection((appliance.host, appliance.port), timeout=5) as sock:
        try:
            sock.sendall(PARTIAL + b"X-Big: " + b"a" * (128 * 1024))
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed while we were still sending
        assert _closed_by_server(sock)
    assert appliance.client.healthz()
