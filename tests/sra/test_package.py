"""``drkit sra package``: the folder and the zip run on their own, the container context is
complete.

The packaged command.pl runs from a clean directory with a clean environment (PATH=/usr/bin:/bin,
no PYTHONPATH, no DRKIT_PYTHON), so the interpreter is the machine's python3 and the SRA can use
nothing but what the package holds (command.pl runs Python with -S: no site-packages).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from sra.cli import sra
from sra.package import DEPENDENCIES, NAME
from tests.sra.sra_runner import command, connection

CLEAN_PATH = "/usr/bin:/bin"
MiB = 1 << 20


def _build(fmt: str, out: Path) -> Path:
    result = CliRunner().invoke(sra, ["package", "--format", fmt, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return Path(result.output.strip())


def _python_on_clean_path() -> str:
    found = shutil.which("python3", path=CLEAN_PATH)
    if found is None:
        pytest.skip("no python3 in /usr/bin:/bin")
    version = subprocess.run([found, "-c", "import sys; print(sys.version_info >= (3, 11))"],
                             capture_output=True, text=True).stdout.strip()
    if version != "True":
        pytest.skip(f"{found} is older than Python 3.11")
    return found


def run_packaged(folder: Path, request: str, workdir: Path) -> bytes:
    """Run ``folder``/command.pl as SRM would, from an empty directory, with a bare environment."""
    workdir.mkdir()
    request = request.replace("C:\\Windows\\TEMP\\vmware-SYSTEM\\sra-output-1-0",
                              str(workdir / "out.xml"))
    request = request.replace("C:\\ProgramData\\VMware\\SRM\\Logs\\SRAs\\drkit NSS",
                              str(workdir / "logs"))
    request = request.replace("C:\\Windows\\TEMP\\vmware-SYSTEM\\sra-status-2-0",
                              str(workdir / "status.xml"))
    proc = subprocess.run(["perl", str(folder / "command.pl")], input=request.encode(),
                          cwd=workdir, env={"PATH": CLEAN_PATH}, capture_output=True,
                          timeout=120)
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr
    return (workdir / "out.xml").read_bytes()


@pytest.fixture
def replicated(appliance_factory: Callable) -> tuple[object, str]:
    """Two paired appliances with one replicated LUN: (recovery appliance, replica LUN id)."""
    a, b = appliance_factory("site-a"), appliance_factory("site-b")
    peer = a.client.pair(b.url, b.token)
    lun = a.client.create_lun("vm disk", MiB)
    a.client.wait_job(a.client.create_replication(lun["id"], peer["id"])["job"]["id"])
    return b, b.client.list_replications()[0]["devices"][0]["local"]


def _check_runs(folder: Path, replicated: tuple, workdir: Path) -> None:
    _python_on_clean_path()
    info = run_packaged(folder, command("queryInfo"), workdir / "info")
    assert b"<AdapterInfo>" in info
    ap, key = replicated
    params = (f"<DiscoverDevicesParameters><ArrayId>{ap.client.appliance()['id']}</ArrayId>"
              "</DiscoverDevicesParameters>")
    devices = run_packaged(folder, command("discoverDevices", params, connection=connection(
        ap.url, ap.token)), workdir / "devices")
    assert f'key="{key}"'.encode() in devices and b"<Error" not in devices
    assert list((workdir / "devices" / "logs").glob("sra_discoverDevices_*.log"))


@pytest.mark.live
def test_the_packaged_folder_runs_on_its_own(replicated: tuple, tmp_path: Path) -> None:
    folder = _build("folder", tmp_path / "dist")
    assert folder.name == NAME and (folder / "command.pl").is_file()
    assert {p.name for p in (folder / "lib").iterdir()} == set(DEPENDENCIES)
    assert not list(folder.rglob("__pycache__")) and not (folder / "sra" / "cli.py").exists()
    _check_runs(folder, replicated, tmp_path)


@pytest.mark.live
def test_the_zip_unpacks_to_a_folder_with_command_pl_at_its_root(replicated: tuple,
                                                                  tmp_path: Path) -> None:
    archive = _build("zip", tmp_path / "dist")
    assert archive.name == f"{NAME}.zip" and [p.name for p in archive.parent.iterdir()] == \
        [archive.name]
    with zipfile.ZipFile(archive) as zf:
        assert f"{NAME}/command.pl" in zf.namelist()
        zf.extractall(tmp_path / "SRAs")
    _check_runs(tmp_path / "SRAs" / NAME, replicated, tmp_path)


def test_the_container_context(tmp_path: Path) -> None:
    context = _build("container", tmp_path / "dist")
    dockerfile = (context / "Dockerfile").read_text()
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert f"FROM python:{python}-slim" in dockerfile
    assert f"COPY {NAME}/ /srm/sra/" in dockerfile
    assert 'CMD ["perl", "/srm/sra/command.pl"]' in dockerfile
    assert (context / NAME / "command.pl").is_file()
    assert (context / NAME / "sra" / "__main__.py").is_file()
    assert {p.name for p in (context / NAME / "lib").iterdir()} == set(DEPENDENCIES)
    assert (context / ".dockerignore").is_file()


def test_nothing_is_overwritten_and_bad_formats_are_refused(tmp_path: Path) -> None:
    _build("folder", tmp_path)
    again = CliRunner().invoke(sra, ["package", "--format", "folder", "--out", str(tmp_path)])
    assert again.exit_code != 0 and "already exists" in again.output
    bad = CliRunner().invoke(sra, ["package", "--format", "tarball", "--out", str(tmp_path)])
    assert bad.exit_code != 0 and "tarball" in bad.output
