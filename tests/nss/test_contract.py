"""The published API contract holds on a real appliance: strict types, and schemathesis over
every operation (stateful links included) finds no server error, no response that violates the
document and no undocumented status."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from simulators.nss.api.contract import render

pytestmark = pytest.mark.live
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance")


def _post(appliance, path: str, body: dict) -> requests.Response:
    return requests.post(f"{appliance.url}/api/v1{path}", json=body, timeout=10,
                         headers={"Authorization": f"Bearer {appliance.token}"})


def test_types_are_strict(appliance):
    resp = _post(appliance, "/luns", {"name": "strict", "size_bytes": "1024"})
    assert resp.status_code == 400
    assert resp.json()["error"]["message"].startswith("size_bytes:")
    assert _post(appliance, "/luns", {"name": "strict", "size_bytes": 1024}).status_code == 201
    resp = _post(appliance, "/luns/nope/snapshots", {"quiesce": "true"})
    assert resp.status_code == 400 and "quiesce" in resp.json()["error"]["message"]


def test_every_error_status_is_documented_with_the_error_schema(appliance):
    spec = requests.get(f"{appliance.url}/openapi.json", timeout=10).json()
    ops = [op for path in spec["paths"].values() for op in path.values()]
    assert len(ops) >= 51
    for op in ops:
        assert "422" not in op["responses"]
        for status in ("400", "401", "404", "409", "413", "500"):
            schema = op["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}
    put = spec["paths"]["/api/v1/luns/{lun_id}/data"]["put"]
    assert "application/octet-stream" in put["requestBody"]["content"]
    lun = spec["components"]["schemas"]["LunCreate"]["properties"]["size_bytes"]
    assert lun["type"] == "integer"


@pytest.mark.slow
def test_schemathesis_finds_nothing(appliance, tmp_path):
    cmd = [sys.executable, "-m", "schemathesis.cli", "run", f"{appliance.url}/openapi.json",
           "-H", f"Authorization: Bearer {appliance.token}", "--checks", CHECKS,
           "--phases", "coverage,fuzzing,stateful", "--max-examples", "4", "--seed", "1",
           "--workers", "1", "--request-timeout", "20", "--no-shrink",
           "--report-dir", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    summary = done.stdout[done.stdout.find("SUMMARY"):]
    assert done.returncode == 0, done.stdout[-6000:]
    selected = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", summary)
    assert selected and len(set(selected.groups())) == 1 and int(selected[1]) >= 51
    assert "✅ Stateful" in summary and "✅ Fuzzing" in summary


def test_the_contract_document_matches_the_served_openapi(appliance):
    """docs/NSS-API.md's operation table is what the appliance publishes (regenerate it with
    ``python -m simulators.nss.api.contract``)."""
    spec = requests.get(f"{appliance.url}/openapi.json", timeout=10).json()
    document = (Path(__file__).resolve().parents[2] / "docs" / "NSS-API.md").read_text()
    section = render(spec)
    assert section in document, "docs/NSS-API.md is stale: run python -m " \
        "simulators.nss.api.contract"
    assert section.count("\n| `") == sum(len(ops) for ops in spec["paths"].values())
