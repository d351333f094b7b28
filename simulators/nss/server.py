"""Run one appliance: ``drkit nss serve`` (uvicorn on loopback by default)."""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from .api import create_app
from .appliance import Appliance
from .guard import Limits, guarded_protocol, limits_for, raise_nofile
from .jobs import Retention
from .replication.records import KEEP_EVENTS
from .tls import ensure_certificate, fingerprint


class ServeError(Exception):
    """The appliance cannot start as asked (names the file, directory or address)."""


def load_token(token_file: Path | None) -> str:
    """The API token: ``DRKIT_NSS_TOKEN``, else the token file (created, mode 0600, if absent)."""
    env = os.environ.get("DRKIT_NSS_TOKEN")
    if env:
        return env.strip()
    if token_file is None:
        raise ServeError("give --token-file FILE or set DRKIT_NSS_TOKEN")
    if token_file.is_dir():
        raise ServeError(f"token file {token_file} is a directory")
    if not token_file.exists():
        token_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
    token = token_file.read_text().strip()
    if not token:
        raise ServeError(f"token file {token_file} is empty")
    return token


def _tls_files(tls: Tls, data_dir: Path, name: str,
               host: str) -> tuple[dict[str, str], str | None]:
    if tls.insecure:
        return {}, None
    if (tls.cert is None) != (tls.key is None):
        raise ServeError("give both --tls-cert and --tls-key, or neither")
    cert, key = (tls.cert, tls.key) if tls.cert and tls.key else \
        ensure_certificate(data_dir, name, [host])
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}, fingerprint(cert.read_bytes())


def uvicorn_options(limits: Limits) -> dict[str, Any]:
    """uvicorn's own bounds plus the guarded protocol (guard.py) for what it lacks."""
    return {"http": guarded_protocol(limits), "timeout_keep_alive": limits.keep_alive,
            "limit_concurrency": limits.max_connections + 64,
            "h11_max_incomplete_event_size": limits.max_header_bytes}


@dataclass(frozen=True)
class Tls:
    """``insecure``: plain HTTP (labs); else HTTPS with ``cert``/``key`` or a self-signed pair."""

    insecure: bool = False
    cert: Path | None = None
    key: Path | None = None


def serve(name: str, data_dir: Path, host: str, port: int, token_file: Path | None,
          fsync: bool = False, seal_key: Path | None = None,
          header_timeout: float = Limits.header_timeout, tls: Tls = Tls(),
          iscsi_port: int = 0, iscsi_chap: Path | None = None,
          job_retention: Retention = Retention(), keep_events: int = KEEP_EVENTS) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    os.umask(0o077)  # every file the appliance makes (staging, journals, images) is 0600
    token = load_token(token_file)
    lock = _lock_data_dir(data_dir)
    sock = _listen(host, port)
    appliance = Appliance(data_dir, name, fsync=fsync, seal_key=seal_key,
                          job_retention=job_retention, keep_events=keep_events)
    ssl, fp = _tls_files(tls, data_dir, name, host)
    url = f"{'http' if tls.insecure else 'https'}://{host}:{sock.getsockname()[1]}"
    portal = _start_iscsi(appliance, host, iscsi_port, iscsi_chap)
    app = create_app(appliance, token, url, fingerprint=fp, insecure=tls.insecure)
    app.state.iscsi = portal
    print(f"NSS appliance {name!r} ({appliance.id}) serving {url}" +
          (f"\nTLS certificate SHA-256 fingerprint: {fp}" if fp else " (insecure: plain HTTP)"),
          flush=True)
    try:
        uvicorn_server(app, {**ssl, **uvicorn_options(
            limits_for(raise_nofile(), header_timeout=header_timeout))}).run(sockets=[sock])
    finally:
        if portal is not None:
            portal.stop()
        appliance.close()
        os.close(lock)


def uvicorn_server(app: Any, options: dict[str, Any]) -> uvicorn.Server:
    """uvicorn, to be run on the listening socket itself (``run(sockets=[sock])``). Not with
    ``fd=``: uvicorn rebuilds a socket from a descriptor as AF_UNIX, so asyncio would not set
    TCP_NODELAY on the connections, and every answer on a keep-alive connection would wait
    ~40 ms for the client's delayed ACK (Nagle): measured 44 ms per GET, 1.2 ms without."""
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, **options))


def _lock_data_dir(data_dir: Path) -> int:
    """Hold ``data_dir``'s lock for the appliance's life: two appliances on one directory would
    corrupt each other. A file where the directory should be is refused by name."""
    if data_dir.exists() and not data_dir.is_dir():
        raise ServeError(f"data directory {data_dir} is a file")
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ServeError(f"data directory {data_dir}: a part of its path is a file") from None
    fd = os.open(data_dir / "appliance.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise ServeError(f"data directory {data_dir} is in use by another appliance (pid "
                         f"{holder})") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def _listen(host: str, port: int) -> socket.socket:
    """The API's listening socket (port 0: a free one, reported in the printed URL)."""
    try:
        sock = socket.create_server((host, port), reuse_port=False)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def _start_iscsi(appliance: Appliance, host: str, port: int, chap: Path | None):
    """The iSCSI portal beside the REST API (``--iscsi-port``; 0 leaves it off)."""
    if not port:
        return None
    from .iscsi import IscsiError, Target, load_chap

    try:
        target = Target(appliance, host, port, load_chap(chap)).start()
    except IscsiError as exc:
        raise ServeError(f"iSCSI portal {host}:{port}: {exc}") from None
    appliance.san.listeners.append(target.masking.changed)
    logging.getLogger("drkit.nss.iscsi").info("iSCSI target %s on %s:%d", target.name, host,
                                              target.port)
    return target
