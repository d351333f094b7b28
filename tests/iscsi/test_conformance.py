"""libiscsi's conformance suite (iscsi-test-cu, Debian libiscsi-bin) against a live appliance.

Every test of the suites the issue names (111 tests; tgtd, measured here, passes 105 of them)
and of the suites for the other commands the target implements is one pytest case, so a failure
names the libiscsi test and its failing assertion.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from defusedxml import ElementTree

from simulators.nss.process import ApplianceProcess
from tests.iscsi.conftest import HOST_IQN, OTHER_IQN, IscsiLab, require, run

SUITES = ("Inquiry", "Mandatory", "ReadCapacity10", "ReadCapacity16", "Read10", "Read16",
          "Write10", "Write16", "TestUnitReady", "CompareAndWrite", "Unmap", "WriteSame10",
          "WriteSame16", "ModeSense6", "ReportSupportedOpcodes", "PrinReadKeys",
          "ProutRegister", "ProutReserve", "Reserve6", "iSCSIcmdsn", "iSCSIdatasn",
          "iSCSIResiduals", "iSCSITMF",
          # beyond the list: other commands the target implements
          "Read12", "Write12", "Verify10", "Verify12", "Verify16", "WriteVerify10",
          "WriteVerify12", "WriteVerify16", "GetLBAStatus", "PrinServiceactionRange",
          "PrinReportCapabilities", "ProutClear", "ProutPreempt")


def _listed() -> list[str]:
    """``Suite.Test`` names of the suites above, as this iscsi-test-cu lists them."""
    if shutil.which("iscsi-test-cu") is None:
        return ["iscsi-test-cu-missing"]
    out = subprocess.run(["iscsi-test-cu", "-l"], capture_output=True, text=True).stdout
    names = [line.strip()[4:] for line in out.splitlines() if line.count(".") == 2]
    return [n for n in names if n.split(".")[0] in SUITES]


def _results(xml: Path) -> dict[str, str | None]:
    """``Suite.Test`` -> None when it passed, else its failed assertions."""
    out: dict[str, str | None] = {}
    for suite in ElementTree.parse(xml).getroot().iter("CUNIT_RUN_SUITE"):
        suite_name = suite.findtext(".//SUITE_NAME", "").strip()
        for record in suite.iter("CUNIT_RUN_TEST_RECORD"):
            for node in record:
                name = f"{suite_name}.{node.findtext('TEST_NAME', '').strip()}"
                if node.tag == "CUNIT_RUN_TEST_SUCCESS":
                    out.setdefault(name, None)
                else:
                    where = f"{node.findtext('FILE_NAME', '').strip()}:" \
                            f"{node.findtext('LINE_NUMBER', '').strip()} " \
                            f"{node.findtext('CONDITION', '').strip()}"
                    out[name] = ((out.get(name) or "") + "\n" + where).strip()
    return out


def _run_suites(work: Path) -> dict[str, str | None]:
    """Every suite against one fresh appliance with a portal."""
    proc = ApplianceProcess("nss-cu", work / "nss", iscsi_port=0).start()
    try:
        lab = IscsiLab(proc)
        host = lab.host("cu-host", HOST_IQN, OTHER_IQN)
        lab.lun("cu-lun", 64 * 2**20, host["id"], 0)
        results: dict[str, str | None] = {}
        for suite in SUITES:
            cwd = work / suite
            cwd.mkdir()
            run(["iscsi-test-cu", "-d", "-x", f"--test=ALL.{suite}", "-i", HOST_IQN, "-I",
                 OTHER_IQN, lab.url(0)], timeout=120, cwd=cwd, check=False)
            xml = cwd / "CUnitAutomated-Results.xml"
            assert xml.exists(), f"iscsi-test-cu wrote no results for suite {suite}"
            results.update(_results(xml))
        return results
    finally:
        proc.kill9()


@pytest.fixture(scope="session")
def conformance(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    """The suites run once per pytest run, even when xdist workers share the cases."""
    require("iscsi-test-cu")
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    saved = root / "iscsi-test-cu.json"
    with open(root / "iscsi-test-cu.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not saved.exists():
            saved.write_text(json.dumps(_run_suites(Path(tempfile.mkdtemp(dir=root)))))
    return json.loads(saved.read_text())


@pytest.mark.parametrize("name", _listed())
def test_libiscsi(conformance: dict[str, str | None], name: str) -> None:
    assert name in conformance, f"iscsi-test-cu did not run {name}"
    assert conformance[name] is None, f"{name} failed:\n{conformance[name]}"
