"""The shared appliance client's transport rules, against real servers on loopback: a real
appliance process, and a scripted HTTP server that plays what a proxy or a broken appliance
would answer (uncoded 503s, an echo of the request)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sra.nss_client import NssApiError, NssClient, RetryPolicy, path, strip_credentials

FAST = RetryPolicy(attempts=3, wait_multiplier=0.01, wait_max=0.02)


class Scripted(BaseHTTPRequestHandler):
    """Answers the next scripted (status, body) for every request and records what it got."""

    script: list[tuple[int, dict]] = []
    seen: list[dict] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        type(self).seen.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                "body": self.rfile.read(length)})
        status, body = type(self).script.pop(0) if type(self).script else (200, {})
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[tuple[str, type[Scripted]]]:
    handler = type("Handler", (Scripted,), {"script": [], "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", handler
    server.shutdown()


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_an_uncoded_503_is_retried(scripted) -> None:
    url, handler = scripted
    handler.script += [(503, {}), (503, {}), (200, {"appliance": {"id": "NSS-1"}})]
    assert NssClient(url, "t", retry=FAST).appliance() == {"id": "NSS-1"}
    assert len(handler.seen) == 3


def test_a_coded_answer_is_the_appliances_verdict_and_not_retried(scripted) -> None:
    url, handler = scripted
    handler.script += [(503, {"error": {"code": "quiesce-failed", "message": "agent db-1"}})]
    with pytest.raises(NssApiError) as err:
        NssClient(url, "t", retry=FAST).sync("rep-1", quiesce=True)
    assert (err.value.status, err.value.code) == (503, "quiesce-failed")
    assert len(handler.seen) == 1


def test_a_peer_link_can_choose_its_own_retry_rule(scripted) -> None:
    url, handler = scripted
    busy = (503, {"error": {"code": "replication-transient", "message": "busy"}})
    handler.script += [busy, busy, (200, {"ok": True})]
    client = NssClient(url, "t", retry=FAST,
                       retry_on=lambda e: e.code in ("unreachable", "replication-transient"))
    assert client.call("PUT", path("/replications/{}/delta", "rep 1"), data=b"\x00\xff",
                       headers={"Content-Type": "application/octet-stream"}) == {"ok": True}
    assert [s["path"] for s in handler.seen] == ["/api/v1/replications/rep%201/delta"] * 3
    assert handler.seen[-1]["body"] == b"\x00\xff"


def test_the_next_address_is_tried_when_one_is_dead(appliance) -> None:
    client = NssClient([dead_url(), appliance.url], appliance.token, retry=FAST)
    assert client.appliance()["id"].startswith("NSS-")


def test_nothing_answering_is_status_zero_unreachable() -> None:
    with pytest.raises(NssApiError) as err:
        NssClient([dead_url(), dead_url()], "t", retry=FAST).appliance()
    assert (err.value.status, err.value.code) == (0, "unreachable")


def test_the_token_and_url_credentials_never_reach_an_error(scripted) -> None:
    url, handler = scripted
    echo = url.replace("http://", "http://user:url-secret-1@")
    said = "got Bearer tok-secret-2 from user:url-secret-1"
    handler.script += [(400, {"error": {"code": "invalid-request", "message": said}})]
    client = NssClient(echo, "tok-secret-2", retry=FAST)
    with pytest.raises(NssApiError) as err:
        client.appliance()
    assert "tok-secret-2" not in str(err.value) and "url-secret-1" not in str(err.value)
    assert handler.seen[0]["auth"] == "Bearer tok-secret-2"  # credentials not sent as Basic
    assert "tok-secret-2" not in repr(client)


def test_strip_credentials() -> None:
    assert strip_credentials("https://u:p@h:1/x") == ("https://h:1/x", "u:p")
    assert strip_credentials("https://h:1") == ("https://h:1", "")


def test_block_data_and_jobs_on_a_real_appliance(appliance) -> None:
    client = appliance.client
    lun = client.create_lun("data", 1 << 20)
    client.write(lun["id"], 512, b"D" * 1024)
    assert client.read(lun["id"], 512, 1024) == b"D" * 1024
    with pytest.raises(NssApiError) as err:
        client.write(lun["id"], 3, b"x")
    assert err.value.status == 400 and err.value.code == "misaligned-io"
