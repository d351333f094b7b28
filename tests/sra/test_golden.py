"""Golden files: tests/golden/<case>/request.xml through the real command.pl == response.xml.

Responses are compared after canonicalisation (C14N, whitespace between elements stripped).
Regenerate with ``SRA_GOLDEN_UPDATE=1 pytest tests/sra/test_golden.py`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tests.sra.sra_runner import REPO, run_sra

GOLDEN = REPO / "tests" / "golden"
# Cases with a ``cassette`` file are array-backed: test_cassettes.py replays them in-process.
CASES = sorted(p.name for p in GOLDEN.iterdir()
               if (p / "request.xml").exists() and not (p / "cassette").exists())


def normalise(xml: bytes) -> str:
    return ET.canonicalize(xml.decode(), strip_text=True)


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, tmp_path: Path) -> None:
    run = run_sra((GOLDEN / case / "request.xml").read_text(), tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert run.response is not None
    expected = GOLDEN / case / "response.xml"
    if os.environ.get("SRA_GOLDEN_UPDATE") or not expected.exists():
        expected.write_bytes(run.response)
        assert os.environ.get("SRA_GOLDEN_UPDATE"), f"{expected} was missing: written, review it"
    assert normalise(run.response) == normalise(expected.read_bytes())
    assert b"Traceback" not in run.response
