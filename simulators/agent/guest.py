"""A guest: the reference application, its workload and its Snapshot Agent, in one process.

``Guest`` wires the pieces together (store over two devices, workload thread, flusher, agent HTTP
service, registration with the appliance). ``GuestProcess`` starts ``python -m simulators.agent
run ...`` as a real child process and waits for its ready file, for tests, trials and the lab.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from simulators.agent import layout as L
from simulators.agent.blockdev import ApplianceDevice, BlockDevice
from simulators.agent.quiesce import Quiescer
from simulators.agent.refstore import Store, StoreConfig
from simulators.agent.registration import deregister, register
from simulators.agent.service import AgentServer
from simulators.agent.workload import Workload

log = logging.getLogger(__name__)


@dataclass
class GuestConfig:
    name: str = "guest"
    rate_tps: float = 100.0
    seed: int | None = None
    n_accounts: int = 32
    wal_slots: int = 256
    record_bytes: int = 2048
    flush_interval_s: float = 0.1
    io_threads: int = 4
    hold_limit_s: float = 10.0
    timeout_ms: int = 5000


class Guest:
    def __init__(self, data: BlockDevice, wal: BlockDevice, config: GuestConfig,
                 token: str | None = None) -> None:
        self.config = config
        g = L.Geometry.new(config.n_accounts, config.record_bytes, config.wal_slots)
        store_cfg = StoreConfig(config.io_threads, config.flush_interval_s, config.seed)
        self.store = Store.format(data, wal, g, store_cfg)
        self.workload = Workload(self.store, config.rate_tps, config.seed)
        self.quiescer = Quiescer(self.store, config.hold_limit_s)
        self.token = token or secrets.token_urlsafe(24)
        self.server = AgentServer(self.quiescer, self.token, info=self.app_info)
        self.registration: dict[str, Any] | None = None
        self._client: Any = None

    def start(self) -> Guest:
        self.server.start()
        self.store.start_flusher()
        self.workload.start()
        return self

    def register(self, client: Any, luns: list[str]) -> dict[str, Any]:
        self._client = client
        self.registration = register(client, self.config.name, self.server.url, self.token,
                                     luns, self.config.timeout_ms)
        return self.registration

    def stop(self) -> None:
        if self.registration is not None:
            try:
                deregister(self._client, self.registration["id"])
            except Exception as exc:
                log.warning("deregistration failed: %s", exc)
        self.workload.stop()
        self.quiescer.close()
        self.server.stop()
        self.store.close()

    def app_info(self) -> dict[str, Any]:
        st = self.store.stats
        return {"app": {"lsn": self.store.lsn, "committed": st.committed, "flushes": st.flushes,
                        "write_requests": st.write_requests, "errors": self.workload.errors}}

    def ready_info(self) -> dict[str, Any]:
        return {"url": self.server.url, "pid": os.getpid(), "name": self.config.name,
                "agent_id": (self.registration or {}).get("id")}


def appliance_devices(url: str, token: str, data_lun: str, wal_lun: str,
                      fingerprint: str = "") -> tuple[ApplianceDevice, ApplianceDevice]:
    """The data and WAL LUNs at ``url`` (an https appliance: its certificate ``fingerprint``
    pinned)."""
    return (ApplianceDevice(url, token, data_lun, fingerprint),
            ApplianceDevice(url, token, wal_lun, fingerprint))


class GuestProcess:
    """A guest in a child process, on appliance LUNs; ``stop`` ends it with SIGTERM. An https
    appliance's certificate is pinned by its ``fingerprint``."""

    def __init__(self, workdir: Path, appliance_url: str, token_file: Path, data_lun: str,
                 wal_lun: str, config: GuestConfig, log_level: str = "WARNING", *,
                 fingerprint: str = "") -> None:
        self.workdir = Path(workdir)
        self.ready_file = self.workdir / f"{config.name}.ready.json"
        self.log_file = self.workdir / f"{config.name}.log"
        self.token_file = self.workdir / f"{config.name}.agent-token"
        self.token = secrets.token_urlsafe(24)
        self.cmd = [sys.executable, "-m", "simulators.agent", "--log-level", log_level, "run",
                    "--appliance-url", appliance_url, "--appliance-token-file", str(token_file),
                    "--data-lun", data_lun, "--wal-lun", wal_lun, "--ready-file",
                    str(self.ready_file), "--agent-token-file", str(self.token_file),
                    *(["--appliance-fingerprint", fingerprint] if fingerprint else []),
                    *_config_args(config)]
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    def start(self, timeout_s: float = 30.0) -> GuestProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ready_file.unlink(missing_ok=True)
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(self.token)
        with open(self.log_file, "ab") as out:
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.STDOUT,
                                         cwd=Path(__file__).resolve().parents[2])
        deadline = time.monotonic() + timeout_s
        while not self.ready_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"guest did not start: {self.log_tail()}")
            time.sleep(0.02)
        self.info = json.loads(self.ready_file.read_text())
        return self

    def stop(self, timeout_s: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        code, self.proc = self.proc.returncode, None
        return code

    def status(self) -> dict[str, Any]:
        """The agent's ``GET /status`` (quiesce statistics and application counters)."""
        resp = requests.get(f"{self.info['url']}/status", timeout=10,
                            headers={"Authorization": f"Bearer {self.token}"})
        resp.raise_for_status()
        return resp.json()

    def kill9(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)
            self.proc = None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _config_args(c: GuestConfig) -> list[str]:
    args = ["--name", c.name, "--rate", str(c.rate_tps), "--accounts", str(c.n_accounts),
            "--wal-slots", str(c.wal_slots), "--record-bytes", str(c.record_bytes),
            "--flush-interval", str(c.flush_interval_s), "--io-threads", str(c.io_threads),
            "--hold-limit", str(c.hold_limit_s), "--timeout-ms", str(c.timeout_ms)]
    return args + (["--seed", str(c.seed)] if c.seed is not None else [])
