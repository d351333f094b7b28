"""Bad input through the real command.pl: a declared error code, exit 0, nothing on stderr;
exit non-zero with exactly one stderr line only when there is no OutputFile to answer in."""

from __future__ import annotations

from pathlib import Path

from sra import errors
from tests.sra.sra_runner import NS, run_sra

DECLARED = {d.code for d in errors.ERRORS}


def test_missing_output_file_exits_nonzero_with_one_line(tmp_path: Path) -> None:
    run = run_sra(f'<Command xmlns="{NS}"><Name>queryInfo</Name></Command>', tmp_path)
    assert run.returncode != 0
    assert run.response is None
    assert run.stderr.count("\n") == 1 and "OutputFile" in run.stderr
    assert "Traceback" not in run.stderr


def test_garbage_without_output_file(tmp_path: Path) -> None:
    run = run_sra("\x00\xff not xml at all", tmp_path)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr


def test_unwritable_output_file(tmp_path: Path) -> None:
    request = (f'<Command xmlns="{NS}"><Name>queryInfo</Name>'
               f"<OutputFile>{tmp_path}/no/such/dir/out.xml</OutputFile></Command>")
    run = run_sra(request, tmp_path, keep_paths=True)
    assert run.returncode == 3
    assert run.stderr.count("\n") == 1 and "OutputFile" in run.stderr


def test_malformed_xml_still_answers_in_salvaged_output_file(tmp_path: Path) -> None:
    request = (f'<Command xmlns="{NS}"><Name>queryInfo<OutputFile>{tmp_path}/o.xml'
               "</OutputFile><broken></Command>")
    run = run_sra(request, tmp_path, keep_paths=True)
    assert run.returncode == 0 and run.stderr == ""
    body = (tmp_path / "o.xml").read_bytes()
    assert b'code="1001"' in body


def test_missing_name(tmp_path: Path) -> None:
    run = run_sra(f'<Command xmlns="{NS}"><OutputFile>x</OutputFile></Command>', tmp_path)
    assert run.returncode == 0 and run.stderr == ""
    assert run.error_codes() == [errors.BY_NAME["MissingParameter"].code]


def test_root_is_not_command(tmp_path: Path) -> None:
    run = run_sra(f'<Response xmlns="{NS}"><OutputFile>x</OutputFile></Response>', tmp_path)
    assert run.returncode == 0
    assert run.error_codes() == [errors.BY_NAME["MalformedRequest"].code]


def test_every_answered_code_is_declared(tmp_path: Path) -> None:
    run = run_sra(f'<Command xmlns="{NS}"><Name>nope</Name><OutputFile>x</OutputFile>'
                  "</Command>", tmp_path)
    assert set(run.error_codes()) <= DECLARED


def test_status_file_and_log_file_are_written(tmp_path: Path) -> None:
    request = (f'<Command xmlns="{NS}"><Name>queryInfo</Name><OutputFile>x</OutputFile>'
               "<StatusFile>s</StatusFile><LogLevel>verbose</LogLevel>"
               "<LogDirectory>d</LogDirectory></Command>")
    run = run_sra(request, tmp_path)
    assert run.status is not None and b"<ProgressUpdate" in run.status
    assert b">100</ProgressUpdate>" in run.status
    assert len(run.logs) == 1 and run.logs[0].name.startswith("sra_queryInfo_")
    assert "queryInfo" in run.logs[0].read_text()


def test_log_level_error_writes_no_info_lines(tmp_path: Path) -> None:
    request = (f'<Command xmlns="{NS}"><Name>queryInfo</Name><OutputFile>x</OutputFile>'
               "<LogLevel>error</LogLevel><LogDirectory>d</LogDirectory></Command>")
    run = run_sra(request, tmp_path)
    assert run.logs and run.logs[0].read_text() == ""


def test_python_m_sra_works_without_perl(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.sra.sra_runner import REPO

    request = (f'<Command xmlns="{NS}"><Name>queryInfo</Name><OutputFile>out.xml</OutputFile>'
               "</Command>")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "sra"], input=request.encode(), cwd=tmp_path,
                          capture_output=True, env=env, timeout=60)
    assert proc.returncode == 0 and proc.stderr == b""
    assert b"<AdapterInfo>" in (tmp_path / "out.xml").read_bytes()


def test_command_pl_finds_the_venv_beside_the_repository(tmp_path: Path) -> None:
    import os
    import subprocess

    from tests.sra.sra_runner import COMMAND_PL, REPO

    if not (REPO / ".venv" / "bin" / "python").exists():
        import pytest

        pytest.skip("no .venv beside the repository")
    env = {k: v for k, v in os.environ.items() if k not in ("DRKIT_PYTHON", "PYTHONPATH")}
    request = (f'<Command xmlns="{NS}"><Name>queryInfo</Name><OutputFile>out.xml</OutputFile>'
               "</Command>")
    proc = subprocess.run(["perl", str(COMMAND_PL)], input=request.encode(), cwd=tmp_path,
                          capture_output=True, env=env, timeout=60)
    assert proc.returncode == 0 and proc.stderr == b""
    assert b"<AdapterInfo>" in (tmp_path / "out.xml").read_bytes()
