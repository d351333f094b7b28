"""Passwords/tokens never appear in any log file, Response, StatusFile or stderr."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sra.sra_runner import command, connection, run_sra

pytestmark = pytest.mark.live

WRONG = "wrong-token-ZZ9-never-shown"


def _requests(url: str, token: str, array_id: str) -> list[str]:
    conn = connection(url, token)
    arr = f"<ArrayId>{array_id}</ArrayId>"
    return [
        command("discoverArrays", "", connection=conn),
        command("discoverDevices", f"<DiscoverDevicesParameters>{arr}</DiscoverDevicesParameters>",
                connection=conn),
        command("syncOnce", f"<SyncOnceParameters>{arr}<SourceDevices><SourceDevice id='x'/>"
                "</SourceDevices></SyncOnceParameters>", connection=conn),
        command("testFailoverStart", f"<TestFailoverStartParameters>{arr}<TargetDevices>"
                "<TargetDevice key='k'/></TargetDevices></TestFailoverStartParameters>",
                connection=conn),
        command("discoverArrays", "", connection=connection(url, WRONG)),
        command("discoverArrays", "", connection=connection("http://127.0.0.1:1", token,
                                                            retries="1")),
        command("discoverArrays", "", connection=connection(f"http://user:{token}@127.0.0.1:1",
                                                            token, retries="1")),
    ]


def test_no_secret_anywhere(appliance, tmp_path: Path) -> None:
    token = appliance.token
    array_id = appliance.client.appliance()["id"]
    for i, request in enumerate(_requests(appliance.url, token, array_id)):
        work = tmp_path / str(i)
        work.mkdir()
        run = run_sra(request, work)
        assert run.returncode == 0 and run.stderr == ""
        texts = [run.response or b"", run.status or b""] + [p.read_bytes() for p in run.logs]
        assert run.logs, "verbose commands must write a log file"
        for text in texts:
            assert token.encode() not in text
            assert WRONG.encode() not in text
