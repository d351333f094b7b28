"""A live appliance with its iSCSI portal, and the outside tools the tests drive it with."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from simulators.nss.iscsi import target_name
from simulators.nss.process import ApplianceProcess

HOST_IQN = "iqn.2026-12.io.drkit.test:host1"
OTHER_IQN = "iqn.2026-12.io.drkit.test:host2"
FOREIGN_IQN = "iqn.2026-12.io.drkit.test:stranger"
PACKAGES = {"iscsi-test-cu": "libiscsi-bin", "iscsi-ls": "libiscsi-bin",
            "iscsi-inq": "libiscsi-bin", "iscsi-perf": "libiscsi-bin",
            "qemu-img": "qemu-utils", "qemu-io": "qemu-utils", "mkfs.ext4": "e2fsprogs"}


def require(*tools: str) -> None:
    """Skip (naming the Debian package) when an outside tool is not installed."""
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is missing: install the Debian package {PACKAGES[tool]}")
    if "qemu-img" in tools or "qemu-io" in tools:
        formats = subprocess.run(["qemu-img", "--help"], capture_output=True, text=True).stdout
        if "iscsi" not in formats:
            pytest.skip("qemu-img has no iscsi driver: install the Debian package "
                        "qemu-block-extra")


class IscsiLab:
    """One appliance with a portal, and helpers to give hosts LUNs."""

    def __init__(self, proc: ApplianceProcess) -> None:
        self.proc = proc
        self.api = proc.client
        self.portal = proc.iscsi_portal or ""
        self.target = target_name(self.api.appliance()["id"])

    def host(self, name: str, *iqns: str) -> dict[str, Any]:
        return self.api.create_client(name, [{"type": "iSCSI", "id": i} for i in iqns])

    def lun(self, name: str, size: int, client_id: str | None = None,
            number: int | None = None) -> dict[str, Any]:
        lun = self.api.create_lun(name, size)
        if client_id:
            self.api.present(lun["id"], client_id=client_id, lun_number=number)
        return lun

    def url(self, number: int = 0) -> str:
        return f"iscsi://{self.portal}/{self.target}/{number}"

    def image_opts(self, number: int = 0, iqn: str = HOST_IQN) -> str:
        return (f"driver=iscsi,transport=tcp,portal={self.portal},target={self.target},"
                f"lun={number},initiator-name={iqn}")


@pytest.fixture
def lab(appliance_factory: Callable[..., ApplianceProcess]) -> IscsiLab:
    return IscsiLab(appliance_factory("nss-iscsi", iscsi_port=0))


def run(cmd: list[str], timeout: float = 120, cwd: Path | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    if check and done.returncode:
        raise AssertionError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}\n"
                             f"{done.stderr}")
    return done
