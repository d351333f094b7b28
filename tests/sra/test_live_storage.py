"""The real command.pl against real appliance processes: what storage-core offers today
(arrays, errors from the appliance boundary, secrets never leaking)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sra import errors
from tests.sra.sra_runner import NS, command, connection, run_sra

pytestmark = pytest.mark.live

CODE = {d.name: d.code for d in errors.ERRORS}


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def test_discover_arrays(appliance, tmp_path: Path) -> None:
    info = appliance.client.appliance()
    run = run_sra(command("discoverArrays", "<DiscoverArraysParameters/>",
                          connection=connection(appliance.url, appliance.token)), tmp_path)
    assert run.returncode == 0 and run.stderr == ""
    array = run.root.find(f"{_q('Arrays')}/{_q('Array')}")
    assert array is not None and array.get("id") == info["id"]
    assert array.findtext(_q("Name")) == info["name"]
    assert run.status is not None and b">100<" in run.status


def test_address_without_scheme_defaults_to_https_and_fails_cleanly(appliance,
                                                                    tmp_path: Path) -> None:
    address = appliance.url.removeprefix("http://")
    run = run_sra(command("discoverArrays", "", connection=connection(
        address, appliance.token, timeout="2", retries="1")), tmp_path)
    assert run.returncode == 0 and run.stderr == ""
    assert run.error_codes() == [CODE["ArrayUnreachable"]]


def test_wrong_token(appliance, tmp_path: Path) -> None:
    run = run_sra(command("discoverArrays", "", connection=connection(appliance.url, "nope")),
                  tmp_path)
    assert run.error_codes() == [CODE["ArrayAuthFailed"]]


def test_array_id_of_another_appliance(appliance, tmp_path: Path) -> None:
    params = "<DiscoverDevicesParameters><ArrayId>NSS-OTHER</ArrayId></DiscoverDevicesParameters>"
    run = run_sra(command("discoverDevices", params,
                          connection=connection(appliance.url, appliance.token)), tmp_path)
    assert run.error_codes() == [CODE["ArrayIdMismatch"]]


def test_unknown_devices_fail_one_by_one(appliance, tmp_path: Path) -> None:
    array_id = appliance.client.appliance()["id"]
    params = (f"<TestFailoverStopParameters><ArrayId>{array_id}</ArrayId><TargetDevices>"
              '<TargetDevice key="async-LUN 11"/><TargetDevice key="lun-x"/></TargetDevices>'
              "</TestFailoverStopParameters>")
    run = run_sra(command("testFailoverStop", params,
                          connection=connection(appliance.url, appliance.token)), tmp_path)
    devices = run.root.findall(f".//{_q('TargetDevice')}")
    assert [d.get("key") for d in devices] == ["async-LUN 11", "lun-x"]
    assert run.error_codes() == [CODE["UnknownDevice"]] * 2


def test_unreachable_after_kill(appliance_factory: Callable, tmp_path: Path) -> None:
    ap = appliance_factory("gone")
    url, token = ap.url, ap.token
    ap.kill9()
    run = run_sra(command("discoverArrays", "", connection=connection(url, token, retries="2")),
                  tmp_path)
    assert run.returncode == 0 and run.stderr == ""
    assert run.error_codes() == [CODE["ArrayUnreachable"]]
    assert token not in "".join(p.read_text() for p in run.logs)


def test_second_address_is_used_when_the_first_is_down(appliance, tmp_path: Path) -> None:
    conn = (f'<Connections><Connection id="nss"><Addresses>'
            f'<Address id="address">http://127.0.0.1:1</Address>'
            f'<Address id="address2">{appliance.url}</Address></Addresses>'
            f"<Username>u</Username><Password>{appliance.token}</Password>"
            "</Connection></Connections>")
    run = run_sra(command("discoverArrays", "", connection=conn), tmp_path)
    assert run.error_codes() == []
    assert run.root.find(f"{_q('Arrays')}/{_q('Array')}").get("id") == \
        appliance.client.appliance()["id"]
