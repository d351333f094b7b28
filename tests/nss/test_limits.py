"""Resource limits of a real appliance process: descriptors, body sizes."""

from __future__ import annotations

import json
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from simulators.nss.api.deps import MAX_JSON_BYTES
from sra.nss_client import NssClient

pytestmark = pytest.mark.live
LUNS = 10_000
WORKERS = 4


def _block(i: int) -> bytes:
    return i.to_bytes(4, "big") * 128


def _create_write(client: NssClient, indexes: range) -> list[str]:
    ids = []
    for i in indexes:
        lun = client.create_lun(f"many-{i:05d}", 64 * 1024)
        client.write(lun["id"], 512 * (i % 128), _block(i))
        ids.append(lun["id"])
    return ids


def _read_back(client: NssClient, ids: list[str], indexes: range) -> list[int]:
    """Every fifth LUN, read back long after its descriptor left the cache (2,000 reads: the
    suite's time is bounded, and each one reopens an image the cache had closed)."""
    return [i for lun_id, i in zip(ids, indexes, strict=True)
            if i % 5 == 0 and client.read(lun_id, 512 * (i % 128), 512) != _block(i)]


def _slices(total: int, parts: int) -> list[range]:
    step = -(-total // parts)
    return [range(start, min(total, start + step)) for start in range(0, total, step)]


@pytest.mark.slow
def test_ten_thousand_luns_under_1024_descriptors(appliance_factory):
    """Under ``ulimit -n 1024`` every one of 10,000 LUNs is created and written, and a fifth of
    them read back: image descriptors are a bounded cache, not one per LUN kept forever."""
    app = appliance_factory("nss-fd", nofile=1024)
    slices = _slices(LUNS, WORKERS)
    clients = [NssClient(app.url, app.token) for _ in slices]
    with ThreadPoolExecutor(WORKERS) as pool:
        ids = list(pool.map(_create_write, clients, slices))
        bad = [i for part in pool.map(_read_back, clients, ids, slices) for i in part]
    assert bad == []
    assert len(app.client.list_luns()) == LUNS
    assert len(list(Path(f"/proc/{app.proc.pid}/fd").iterdir())) < 512
    assert requests.get(f"{app.url}/healthz", timeout=5).status_code == 200


def _raw_request(app, head: str, body: bytes) -> tuple[int, dict]:
    with socket.create_connection((app.host, app.port), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            part = sock.recv(65536)
            if not part:
                break
            reply += part
    status_line, _, rest = reply.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


def _head(app, extra: str) -> str:
    return (f"POST /api/v1/luns HTTP/1.1\r\nHost: {app.host}\r\n"
            f"Authorization: Bearer {app.token}\r\nContent-Type: application/json\r\n{extra}")


def test_json_body_over_the_limit_is_refused_before_it_is_read(appliance):
    """A declared 200 MiB body is answered 413 after only its first bytes were sent."""
    status, body = _raw_request(appliance, _head(appliance, f"Content-Length: {200 * 2**20}\r\n"),
                                b'{"name": "big", "size_bytes": 1048576, "pad": "')
    assert status == 413
    assert body["error"]["code"] == "payload-too-large"
    assert body["error"]["details"]["limit"] == MAX_JSON_BYTES
    assert appliance.client.list_luns() == []


def test_chunked_json_body_is_cut_at_the_limit(appliance):
    piece = b"x" * 65536
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(18))
    status, body = _raw_request(appliance, _head(appliance, "Transfer-Encoding: chunked\r\n"),
                                b'9\r\n{"pad": "\r\n' + chunks + b"0\r\n\r\n")
    assert status == 413 and body["error"]["code"] == "payload-too-large"


def test_json_body_under_the_limit_still_works(appliance):
    lun = appliance.client.create_lun("small", 2**20)
    assert lun["name"] == "small"
    resp = requests.post(f"{appliance.url}/api/v1/luns", data=b"{" + b" " * 2**19 + b"}",
                         headers={"Authorization": f"Bearer {appliance.token}",
                                  "Content-Type": "application/json"}, timeout=10)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "invalid-request"  # parsed: fields missing, not 413
