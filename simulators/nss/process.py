"""Start, stop, kill and restart a real appliance process (tests, the lab, the demo)."""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from sra.nss_client import NssClient
from sra.nss_tls import pinned_session

from .tls import fingerprint


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ApplianceProcess:
    """One ``drkit nss serve`` child process on loopback, restartable on the same data dir."""

    def __init__(self, name: str, data_dir: Path, port: int | None = None,
                 host: str = "127.0.0.1", fsync: bool = False,
                 nofile: int | None = None, serve_args: tuple[str, ...] = (),
                 tls: bool = False, iscsi_port: int | None = None,
                 iscsi_chap: Path | None = None, tree: Path | None = None) -> None:
        self.name = name
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or free_port(host)
        self.fsync = fsync
        self.nofile = nofile  # RLIMIT_NOFILE (soft and hard) of the child, like `ulimit -n`
        self.serve_args = serve_args  # more `drkit nss serve` options: ("--header-timeout", "2")
        self.tls = tls  # HTTPS with a self-signed certificate; else --insecure (plain HTTP)
        #: None: no iSCSI portal; 0: one on a free port (chosen now, kept across restarts).
        self.iscsi_port = free_port(host) if iscsi_port == 0 else iscsi_port
        self.iscsi_chap = iscsi_chap
        self.tree = tree  # the checkout whose appliance runs (an older release); None: this one
        self.token_file = self.data_dir / "api.token"
        self.log_file = self.data_dir / "appliance.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def fingerprint(self) -> str | None:
        """SHA-256 of the certificate it serves (what an operator confirms when pairing)."""
        cert = self.data_dir / "tls" / "cert.pem"
        return fingerprint(cert.read_bytes()) if self.tls and cert.exists() else None

    @property
    def iscsi_portal(self) -> str | None:
        """``host:port`` of the iSCSI portal, if this appliance serves one."""
        return f"{self.host}:{self.iscsi_port}" if self.iscsi_port else None

    @property
    def token(self) -> str:
        return self.token_file.read_text().strip()

    @property
    def client(self) -> NssClient:
        return NssClient(self.url, self.token, fingerprint=self.fingerprint or "")

    def start(self, timeout: float = 30.0) -> ApplianceProcess:
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "simulators.nss", "serve", "--name", self.name,
               "--data", str(self.data_dir), "--host", self.host, "--port", str(self.port),
               "--token-file", str(self.token_file)]
        if self.fsync:
            cmd.append("--fsync")
        if not self.tls:
            cmd.append("--insecure")
        cmd += self.serve_args
        if self.iscsi_port:
            cmd += ["--iscsi-port", str(self.iscsi_port)]
        if self.iscsi_chap:
            cmd += ["--iscsi-chap", str(self.iscsi_chap)]
        hidden = {"DRKIT_NSS_TOKEN", *(("PYTHONPATH",) if self.tree else ())}
        env = {k: v for k, v in os.environ.items() if k not in hidden}
        fd = os.open(self.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True, cwd=self.tree or _repo_root(),
                                         preexec_fn=self._limits if self.nofile else None)
        try:
            self._wait_ready(timeout)
        except BaseException:  # never leave a half-started child behind (a test's teardown
            self.kill9()       # only knows the appliances whose start returned)
            raise
        return self

    def _limits(self) -> None:
        """In the child before exec: the descriptor limit, as ``ulimit -n`` would set it."""
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def image_sha256(self, lun_id: str) -> str:
        """SHA-256 of a LUN's image file as it is on disk (for comparing replicas)."""
        h = hashlib.sha256()
        with open(self.data_dir / "luns" / f"{lun_id}.img", "rb") as fh:
            while block := fh.read(16 * 2**20):
                h.update(block)
        return h.hexdigest()

    def kill9(self) -> None:
        self._signal(signal.SIGKILL)

    def stop(self, timeout: float = 10.0) -> None:
        if not self.running:
            return
        self._signal(signal.SIGTERM, timeout)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _signal(self, sig: int, timeout: float = 10.0) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"appliance {self.name!r} exited with {self.proc.returncode}:"
                                   f"\n{self._log_tail()}")
            try:
                if self._healthy():
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.kill9()
        raise RuntimeError(f"appliance {self.name!r} not ready after {timeout}s:\n"
                           f"{self._log_tail()}")

    def _healthy(self) -> bool:
        if self.tls and self.fingerprint is None:
            return False  # the certificate is made at first start
        with pinned_session(self.fingerprint) as session:
            return session.get(f"{self.url}/healthz", timeout=1).status_code == 200

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _repo_root() -> str:
    return str(Path(__file__).resolve().parents[2])
