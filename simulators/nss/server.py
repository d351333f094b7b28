"""Run one appliance: ``drkit nss serve`` (uvicorn on loopback by default)."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from .api import create_app
from .appliance import Appliance
from .guard import Limits, guarded_protocol, limits_for, raise_nofile
from .tls import ensure_certificate, fingerprint


def load_token(token_file: Path | None) -> str:
    """The API token: ``DRKIT_NSS_TOKEN``, else the token file (created, mode 0600, if absent)."""
    env = os.environ.get("DRKIT_NSS_TOKEN")
    if env:
        return env.strip()
    if token_file is None:
        raise SystemExit("drkit nss serve: give --token-file FILE or set DRKIT_NSS_TOKEN")
    if not token_file.exists():
        token_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
    token = token_file.read_text().strip()
    if not token:
        raise SystemExit(f"drkit nss serve: token file {token_file} is empty")
    return token


def _tls_files(tls: Tls, data_dir: Path, name: str,
               host: str) -> tuple[dict[str, str], str | None]:
    if tls.insecure:
        return {}, None
    if (tls.cert is None) != (tls.key is None):
        raise SystemExit("drkit nss serve: give both --tls-cert and --tls-key, or neither")
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
          iscsi_port: int = 0, iscsi_chap: Path | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    os.umask(0o077)  # every file the appliance makes (staging, journals, images) is 0600
    token = load_token(token_file)
    appliance = Appliance(data_dir, name, fsync=fsync, seal_key=seal_key)
    ssl, fp = _tls_files(tls, data_dir, name, host)
    url = f"{'http' if tls.insecure else 'https'}://{host}:{port}"
    portal = _start_iscsi(appliance, host, iscsi_port, iscsi_chap)
    app = create_app(appliance, token, url, fingerprint=fp, insecure=tls.insecure)
    app.state.iscsi = portal
    print(f"NSS appliance {name!r} ({appliance.id}) serving {url}" +
          (f"\nTLS certificate SHA-256 fingerprint: {fp}" if fp else " (insecure: plain HTTP)"),
          flush=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, **ssl,
                    **uvicorn_options(limits_for(raise_nofile(), header_timeout=header_timeout)))
    finally:
        if portal is not None:
            portal.stop()
        appliance.close()


def _start_iscsi(appliance: Appliance, host: str, port: int, chap: Path | None):
    """The iSCSI portal beside the REST API (``--iscsi-port``; 0 leaves it off)."""
    if not port:
        return None
    from .iscsi import IscsiError, Target, load_chap

    try:
        target = Target(appliance, host, port, load_chap(chap)).start()
    except IscsiError as exc:
        raise SystemExit(f"drkit nss serve: {exc}") from None
    appliance.san.listeners.append(target.masking.changed)
    logging.getLogger("drkit.nss.iscsi").info("iSCSI target %s on %s:%d", target.name, host,
                                              target.port)
    return target
