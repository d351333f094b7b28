"""Block I/O through the REST API of a real appliance process."""

from __future__ import annotations

import os
import socket
import time

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sra.nss_client import NssApiError

pytestmark = pytest.mark.live
MiB = 2**20


def test_new_lun_reads_zeros_and_costs_no_disk(appliance):
    c = appliance.client
    lun = c.create_lun("thin", 1024 * MiB)
    assert lun["size_bytes"] == 1024 * MiB and lun["sector_size"] == 512
    assert len(lun["wwn"]) == 32 and lun["wwn"].startswith("6")
    assert c.read(lun["id"], 512 * MiB, 4096) == bytes(4096)
    image = appliance.data_dir / "luns" / f"{lun['id']}.img"
    assert image.stat().st_blocks * 512 < MiB


def test_wwns_are_unique_and_stable(appliance):
    c = appliance.client
    wwns = {c.create_lun(f"l{i}", MiB)["wwn"] for i in range(5)}
    assert len(wwns) == 5
    first = c.list_luns()[0]
    assert c.get_lun(first["id"])["wwn"] == first["wwn"]


OPS = st.lists(st.tuples(st.integers(0, 255), st.integers(1, 24), st.binary(min_size=1,
                                                                             max_size=8)),
               min_size=1, max_size=8)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_random_writes_round_trip(appliance, ops):
    """Writes at random sector offsets read back exactly, also across chunk boundaries."""
    c = appliance.client
    size = 256 * 512 * 8
    lun = c.create_lun(f"rt-{os.urandom(4).hex()}", size)
    model = bytearray(size)
    for sector, count, pattern in ops:
        offset = sector * 512 * 8 % (size - count * 512)
        offset -= offset % 512
        data = (pattern * (count * 512 // len(pattern) + 1))[: count * 512]
        c.write(lun["id"], offset, data)
        model[offset:offset + len(data)] = data
    assert c.read(lun["id"], 0, size) == bytes(model)


def test_read_only_device_refuses_writes(appliance):
    c = appliance.client
    lun = c.create_lun("ro", MiB)
    c.write(lun["id"], 0, b"a" * 512)
    c.update_lun(lun["id"], access="read-only")
    with pytest.raises(NssApiError) as err:
        c.write(lun["id"], 0, b"b" * 512)
    assert err.value.status == 409 and err.value.code == "read-only-device"
    assert c.read(lun["id"], 0, 512) == b"a" * 512


@pytest.mark.parametrize("offset,length,code", [
    (1, 512, "misaligned-io"), (0, 100, "misaligned-io"), (1024 * 1024, 512, "out-of-range"),
    (1024 * 1024 - 512, 1024, "out-of-range"),
])
def test_bad_io_is_refused_and_changes_nothing(appliance, offset, length, code):
    c = appliance.client
    lun = c.create_lun("bad", MiB)
    c.write(lun["id"], MiB - 4096, b"z" * 4096)
    with pytest.raises(NssApiError) as err:
        c.write(lun["id"], offset, b"x" * length)
    assert err.value.status == 400 and err.value.code == code
    assert c.read(lun["id"], MiB - 4096, 4096) == b"z" * 4096
    with pytest.raises(NssApiError) as err:
        c.read(lun["id"], offset, length)
    assert err.value.code == code


@pytest.mark.parametrize("body,code,field", [
    ({"name": "a", "size_bytes": 1000}, "invalid-request", "size_bytes"),
    ({"name": "a", "size_bytes": -512}, "invalid-request", "size_bytes"),
    ({"name": "a"}, "invalid-request", "size_bytes"),
    ({"name": "a", "size_bytes": 512, "colour": "red"}, "invalid-request", "colour"),
    ({"name": "bad/name", "size_bytes": 512}, "invalid-request", "name"),
])
def test_bad_lun_create_names_the_field(appliance, body, code, field):
    resp = requests.post(f"{appliance.url}/api/v1/luns", json=body,
                         headers={"Authorization": f"Bearer {appliance.token}"})
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert err["code"] == code and field in err["message"]
    assert appliance.client.list_luns() == []


def test_malformed_json_and_unknown_ids(appliance):
    headers = {"Authorization": f"Bearer {appliance.token}", "Content-Type": "application/json"}
    resp = requests.post(f"{appliance.url}/api/v1/luns", data=b"{nope", headers=headers)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "malformed-json"
    for call in (lambda c: c.get_lun("lun-nope"), lambda c: c.read("lun-nope", 0, 512),
                 lambda c: c.delete_snapshot("snap-nope"), lambda c: c.get_group("g-x"),
                 lambda c: c.job("job-x"), lambda c: c.delete_client("c-x")):
        with pytest.raises(NssApiError) as err:
            call(appliance.client)
        assert err.value.status == 404 and err.value.code.endswith("-not-found")
        assert "nope" in err.value.message or "x" in err.value.message


def test_duplicate_names_are_refused(appliance):
    c = appliance.client
    c.create_lun("same", MiB)
    with pytest.raises(NssApiError) as err:
        c.create_lun("same", 2 * MiB)
    assert err.value.status == 409 and err.value.code == "already-exists"
    assert len(c.list_luns()) == 1


def test_oversized_body_is_refused(appliance):
    """The appliance refuses from the Content-Length, writes nothing, and drains the rest of the
    body before answering, so a client still sending reads the 413 (not a reset)."""
    c = appliance.client
    lun = c.create_lun("big", 128 * MiB)
    for _ in range(3):
        with pytest.raises(NssApiError) as err:
            c.write(lun["id"], 0, b"\xee" * (64 * MiB + 512))
        assert (err.value.status, err.value.code) == (413, "payload-too-large"), err.value
        assert "67109376 bytes exceeds the limit of 67108864" in err.value.message
    assert c.read(lun["id"], 0, MiB) == bytes(MiB)
    with pytest.raises(NssApiError) as err:
        c.read(lun["id"], 0, 64 * MiB + 512)
    assert err.value.status == 413


def test_a_client_still_sending_an_oversized_body_reads_the_413(appliance):
    """The answer to a refused body must reach a client that is still sending it: the server
    reads the rest first. (Closing with the body unread resets the connection, and the client
    loses the 413: recv fails with ECONNRESET.)"""
    lun = appliance.client.create_lun("slow", 128 * MiB)
    size = 64 * MiB + 512
    head = (f"PUT /api/v1/luns/{lun['id']}/data?offset=0 HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {appliance.token}\r\nContent-Length: {size}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    with socket.create_connection((appliance.host, appliance.port), timeout=30) as sock:
        sock.sendall(head + bytes(MiB))
        time.sleep(0.5)                    # the server has seen the headers and decided
        sock.sendall(bytes(size - MiB))
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            assert chunk, answer
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 ") and b"payload-too-large" in answer


def test_oversized_json_and_chunked_bodies_get_their_413(appliance):
    url, auth = f"{appliance.url}/api/v1", {"Authorization": f"Bearer {appliance.token}"}
    big = b'{"name": "' + b"x" * (4 * MiB) + b'", "size": 1048576}'
    for body in (big, iter([big[i : i + MiB] for i in range(0, len(big), MiB)])):
        resp = requests.post(f"{url}/luns", data=body, timeout=30,
                             headers={**auth, "Content-Type": "application/json"})
        assert resp.status_code == 413 and resp.json()["error"]["code"] == "payload-too-large"
    lun = appliance.client.create_lun("chunked", 128 * MiB)
    pieces = iter([b"\1" * (8 * MiB)] * 9)               # 72 MiB, chunked: no Content-Length
    resp = requests.put(f"{url}/luns/{lun['id']}/data", params={"offset": 0}, data=pieces,
                        headers=auth, timeout=60)
    assert resp.status_code == 413 and "exceeds the limit" in resp.json()["error"]["message"]
    assert appliance.client.read(lun["id"], 0, MiB) == bytes(MiB)
    assert [x["name"] for x in appliance.client.list_luns()] == ["chunked"]


def test_auth_is_required_everywhere_but_healthz(appliance):
    assert requests.get(f"{appliance.url}/api/v1/healthz").status_code == 200
    for method, path in (("GET", "/appliance"), ("GET", "/luns"), ("POST", "/luns"),
                         ("GET", "/clients"), ("GET", "/groups"), ("GET", "/metrics"),
                         ("GET", "/jobs/job-1"), ("PUT", "/luns/x/data?offset=0")):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
            resp = requests.request(method, f"{appliance.url}/api/v1{path}", headers=headers)
            assert resp.status_code == 401, (method, path, headers)
            assert resp.json()["error"]["code"] == "unauthorized"


def test_appliance_identity_and_metrics(appliance):
    info = appliance.client.appliance()
    assert info["id"].startswith("NSS-") and info["name"] == "nss-a"
    resp = requests.get(f"{appliance.url}/api/v1/metrics",
                        headers={"Authorization": f"Bearer {appliance.token}"})
    assert "nss_luns 0" in resp.text
