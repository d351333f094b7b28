"""Hostile and careless input: option values, ids that are not ids, passwords with line breaks,
credentials in an Address, a missing LogDirectory, an appliance that never answers."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from sra import errors
from sra.dispatch import respond
from sra.nss_client import NssApiError, NssClient
from tests.sra.sra_runner import NS, command, connection, rewrite, run_sra

CODE = {d.name: d.code for d in (*errors.ERRORS, *errors.WARNINGS)}


def codes(body: bytes) -> list[int]:
    from xml.etree import ElementTree as ET

    return [int(e.get("code")) for e in ET.fromstring(body).iter(f"{{{NS}}}Error")]


def in_process(request: str, tmp_path: Path) -> bytes:
    outcome = respond(rewrite(request, tmp_path).encode())
    assert outcome.exit_code == 0
    return outcome.body


@pytest.mark.parametrize("option", [
    "timeout=-1", "timeout=0", "timeout=inf", "timeout=nan", "timeout=1e309", "timeout=abc",
    "timeout=121", "retries=0", "retries=1.5", "retries=11", "deadline=5", "deadline=300",
    "deadline=-inf", "verify_tls=maybe", "quiesce=2", "colour=blue", "fingerprint=abc",
    "ca_file=/no/such/ca.pem", "timeout",
])
def test_out_of_range_options_are_invalid_parameters(option: str, tmp_path: Path) -> None:
    conn = connection("http://127.0.0.1:1", "token-1234567890") \
        .replace("http://127.0.0.1:1", f"http://127.0.0.1:1/?{option}")
    body = in_process(command("discoverArrays", "", connection=conn), tmp_path)
    assert codes(body) == [CODE["InvalidParameter"]], body
    assert (b"Address" in body and b"option" in body) or b"name=value" in body


@pytest.mark.parametrize("address", ["ftp://h", "https://", "http://h/some/path",
                                     "http://h/?a=1&&b"])
def test_bad_addresses_are_invalid_parameters(address: str, tmp_path: Path) -> None:
    conn = connection("ADDR", "token-1234567890").replace("ADDR", escape(address))
    body = in_process(command("discoverArrays", "", connection=conn), tmp_path)
    assert codes(body) == [CODE["InvalidParameter"]], body


@pytest.mark.parametrize("password", ["tok\nen", "tok\ren", "tok\ten"])
def test_a_password_with_a_line_break_is_invalid_input(password: str, tmp_path: Path) -> None:
    conn = connection("http://127.0.0.1:1", "PASSWORD").replace("PASSWORD", password)
    body = in_process(command("discoverArrays", "", connection=conn), tmp_path)
    assert codes(body) == [CODE["InvalidParameter"]]
    assert not errors.BY_NAME["InvalidParameter"].transient


def test_log_directory_is_created_when_missing(tmp_path: Path) -> None:
    logs = tmp_path / "not" / "yet" / "there"
    request = (f'<Command xmlns="{NS}"><Name>queryInfo</Name><OutputFile>{tmp_path}/o.xml'
               f"</OutputFile><LogDirectory>{logs}</LogDirectory></Command>")
    assert respond(request.encode()).exit_code == 0
    assert [p.name[:14] for p in logs.iterdir()] == ["sra_queryInfo_"]


def test_sync_ids_that_are_not_ids_are_refused(appliance, tmp_path: Path) -> None:
    array_id = appliance.client.appliance()["id"]
    params = (f'<QuerySyncStatusParameters><ArrayId>{array_id}</ArrayId><SourceDevices>'
              '<SourceDevice id="lun-1" syncId="../luns"/><SourceDevice id="lun-2" '
              'syncId=".."/></SourceDevices></QuerySyncStatusParameters>')
    run = run_sra(command("querySyncStatus", params,
                          connection=connection(appliance.url, appliance.token)), tmp_path)
    assert run.error_codes() == [CODE["InvalidParameter"]] * 2
    log = run.logs[0].read_text()
    assert "is not a sync id" in log and "job(" not in log  # refused before any request


def test_the_client_escapes_every_path_segment(appliance) -> None:
    client = appliance.client
    client.create_lun("one", 1 << 20)
    with pytest.raises(NssApiError) as err:  # not GET /luns (the list)
        client.get_lun("../luns")
    assert err.value.status == 404
    for bad in ("", ".", "..", "a\nb"):
        with pytest.raises(NssApiError) as err:
            client.job(bad)
        assert (err.value.status, err.value.code) == (0, "invalid-id")


def test_credentials_in_an_address_are_never_shown(appliance, tmp_path: Path) -> None:
    secret = "pw-in-url-Q7x9"
    address = appliance.url.replace("http://", f"http://srm-admin:{secret}@")
    for i, url in enumerate((address, f"http://srm-admin:{secret}@127.0.0.1:1")):
        work = tmp_path / str(i)
        work.mkdir()
        run = run_sra(command("discoverArrays", "", connection=connection(
            url, appliance.token, retries="1")), work)
        assert run.returncode == 0 and run.stderr == ""
        assert run.error_codes() == ([] if i == 0 else [CODE["ArrayUnreachable"]])
        for text in [run.response, run.status, *(p.read_bytes() for p in run.logs)]:
            assert secret.encode() not in text and b"srm-admin:" not in text


@pytest.fixture
def silent_ports() -> Iterator[list[int]]:
    """Two listening sockets that accept connections and never answer."""
    socks = []
    for _ in range(2):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        socks.append(sock)
    yield [s.getsockname()[1] for s in socks]
    for sock in socks:
        sock.close()


def test_an_unresponsive_array_costs_at_most_the_deadline(silent_ports: list[int],
                                                          tmp_path: Path) -> None:
    """Two silent addresses, three attempts, 30 s per request: still done by the 10 s deadline,
    and the StatusFile kept moving meanwhile."""
    addresses = "".join(f'<Address id="a{p}">http://127.0.0.1:{p}/?deadline=10</Address>'
                        for p in silent_ports)
    conn = connection("X", "token-1234567890").replace(
        '<Address id="address">X</Address>', addresses)
    began = time.monotonic()
    run = run_sra(command("discoverArrays", "", connection=conn), tmp_path, timeout=60)
    took = time.monotonic() - began
    assert run.error_codes() == [CODE["ArrayUnreachable"]]
    assert took < 14, took
    assert int(run.status.split(b">")[-2].split(b"<")[0]) >= 1  # the heartbeat moved it
    assert "deadline" in run.response.decode() or "timeout" in run.response.decode()


def test_the_client_deadline_bounds_every_attempt(silent_ports: list[int]) -> None:
    client = NssClient([f"http://127.0.0.1:{p}" for p in silent_ports], "t", 30.0,
                       deadline=time.monotonic() + 1.5)
    began = time.monotonic()
    with pytest.raises(NssApiError) as err:
        client.appliance()
    assert time.monotonic() - began < 3
    assert err.value.status == 0 and err.value.code in ("timeout", "deadline")


def test_legacy_opaques_are_checked_like_address_options(tmp_path: Path) -> None:
    conn = connection("http://127.0.0.1:1/?quiesce=true", "token-1234567890").replace(
        "</Password>", '</Password><Opaques><Opaque id="quiesce">false</Opaque></Opaques>')
    body = in_process(command("discoverArrays", "", connection=conn), tmp_path)
    assert codes(body) == [CODE["InvalidParameter"]] and b"given twice" in body
    bad = connection("http://127.0.0.1:1", "token-1234567890").replace(
        "</Password>", '</Password><Opaques><Opaque id="timeout">inf</Opaque></Opaques>')
    assert codes(in_process(command("discoverArrays", "", connection=bad), tmp_path)) == \
        [CODE["InvalidParameter"]]
