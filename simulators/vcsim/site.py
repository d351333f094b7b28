"""One simulated vSphere site: a vcsim process on loopback with a chosen inventory.

``VcsimSite(spec, data_dir).start()`` runs drkit's vcsim (see binary.py) on 127.0.0.1 with a port
the OS picks, in its own process group, with its datastore directories under ``data_dir`` and a
random password passed through the environment. ``stop()`` ends the whole process group (SIGTERM,
then SIGKILL), so no vcsim or guest emulator outlives the site. With ``guest=True`` a guest
emulator (guest.py) runs beside it and makes VMware Tools report running after each VM's boot
delay.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from simulators.vcsim.binary import vcsim_binary
from simulators.vcsim.errors import VcsimStartError

URL_PREFIX = "DRKIT_VCSIM_URL="


@dataclass(frozen=True)
class SiteSpec:
    """Inventory and timing of one site. Names follow vcsim: DC0, DC0_C0, DC0_C0_H0, LocalDS_0."""

    name: str = "site"
    datacenters: int = 1
    clusters: int = 1
    hosts_per_cluster: int = 2
    standalone_hosts: int = 0
    datastores: int = 1
    vms: int = 0
    portgroups: int = 1
    delay_ms: int = 0
    jitter: float = 0.0
    method_delay_ms: dict[str, int] = field(default_factory=dict)
    boot_delay_s: float = 1.0
    user: str = "administrator@vsphere.local"
    port: int = 0  # 0: any free port

    def args(self) -> list[str]:
        delays = ",".join(f"{k}:{v}" for k, v in sorted(self.method_delay_ms.items()))
        return [
            "-l", f"127.0.0.1:{self.port}", "-site", self.name, "-dc", str(self.datacenters),
            "-cluster", str(self.clusters), "-host", str(self.hosts_per_cluster),
            "-standalone-host", str(self.standalone_hosts), "-ds", str(self.datastores),
            "-vm", str(self.vms), "-pg", str(self.portgroups), "-delay", str(self.delay_ms),
            "-jitter", str(self.jitter), "-method-delay", delays,
        ]


class VcsimSite:
    """A running (or stopped) vcsim process for one site."""

    def __init__(self, spec: SiteSpec, data_dir: Path, *, guest: bool = True,
                 password: str | None = None) -> None:
        self.spec = spec
        self.data_dir = Path(data_dir)
        self.guest = guest
        self.password = password or secrets.token_urlsafe(16)
        self.url: str | None = None
        self._procs: list[subprocess.Popen[bytes]] = []

    def __repr__(self) -> str:  # never shows the password
        return f"VcsimSite({self.spec.name!r}, url={self.url!r})"

    @property
    def user(self) -> str:
        return self.spec.user

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.poll() is None]

    def processes(self) -> list[tuple[str, int]]:
        """(role, pid) of every process of the site: "vcsim", then "guest" if emulated."""
        return list(zip(("vcsim", "guest"), (p.pid for p in self._procs), strict=False))

    def start(self, timeout: float = 30.0) -> VcsimSite:
        (self.data_dir / "tmp").mkdir(parents=True, exist_ok=True)
        binary = vcsim_binary()
        out = self.data_dir / "vcsim.out"
        out.write_text("")
        self._procs.append(self._spawn([str(binary), *self.spec.args()], out, "vcsim.log"))
        self.url = self._wait_for_url(out, timeout)
        self._wait_for_sdk(timeout)
        if self.guest:
            cmd = [sys.executable, "-m", "simulators.vcsim.guest", "--url", self.url,
                   "--user", self.user, "--boot-delay", str(self.spec.boot_delay_s)]
            self._procs.append(self._spawn(cmd, self.data_dir / "guest.out", "guest.log"))
        return self

    def _env(self) -> dict[str, str]:
        return {**os.environ, "TMPDIR": str(self.data_dir / "tmp"),
                "DRKIT_VCSIM_USER": self.user, "DRKIT_VCSIM_PASSWORD": self.password}

    def _spawn(self, cmd: list[str], out: Path, log: str) -> subprocess.Popen[bytes]:
        with open(out, "ab") as stdout, open(self.data_dir / log, "ab") as stderr:
            return subprocess.Popen(cmd, stdout=stdout, stderr=stderr, env=self._env(),
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    cwd=Path(__file__).resolve().parents[2])

    def _wait_for_url(self, out: Path, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in out.read_text().splitlines():
                if line.startswith(URL_PREFIX):
                    return line[len(URL_PREFIX):].strip()
            if self._procs[0].poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise VcsimStartError(
            f"vcsim for site {self.spec.name!r} did not start: {self._log_tail()}")

    def _wait_for_sdk(self, timeout: float) -> None:
        about = self.url.rsplit("/sdk", 1)[0] + "/about"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if requests.get(about, timeout=2).ok:
                    return
            time.sleep(0.05)
        self.stop()
        raise VcsimStartError(f"vcsim for site {self.spec.name!r} never answered at {about}")

    def _log_tail(self) -> str:
        log = self.data_dir / "vcsim.log"
        return log.read_text(errors="replace")[-1000:] if log.exists() else "(no log)"

    def stop(self, timeout: float = 10.0) -> None:
        """End every process of the site: SIGTERM to each process group, SIGKILL if it lingers."""
        for proc in reversed(self._procs):
            _kill_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self._procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(proc, signal.SIGKILL)
                proc.wait(5)
        self._procs.clear()

    def __enter__(self) -> VcsimSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
