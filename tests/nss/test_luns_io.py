"""Block I/O through the REST API of a real appliance process."""

from __future__ import annotations

import os

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
    """The appliance answers 413 from the Content-Length, before reading the body, and closes
    the connection; a client still sending may see the close before it can read the answer (an
    HTTP client's limit, not the server's). Either way nothing was written."""
    c = appliance.client
    lun = c.create_lun("big", 128 * MiB)
    with pytest.raises(NssApiError) as err:
        c.write(lun["id"], 0, b"\xee" * (64 * MiB + 512))
    refused = (err.value.status, err.value.code) == (413, "payload-too-large")
    cut = err.value.status == 0 and err.value.code in ("invalid-request", "unreachable")
    assert refused or cut, err.value
    assert c.read(lun["id"], 0, MiB) == bytes(MiB)
    with pytest.raises(NssApiError) as err:
        c.read(lun["id"], 0, 64 * MiB + 512)
    assert err.value.status == 413


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
