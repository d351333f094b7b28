"""Run one appliance: ``drkit nss serve`` (uvicorn on loopback by default)."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

import uvicorn

from .api import create_app
from .appliance import Appliance


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


def serve(name: str, data_dir: Path, host: str, port: int, token_file: Path | None,
          fsync: bool = False, iscsi_port: int = 0, iscsi_chap: Path | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    token = load_token(token_file)
    appliance = Appliance(data_dir, name, fsync=fsync)
    portal = _start_iscsi(appliance, host, iscsi_port, iscsi_chap)
    app = create_app(appliance, token, f"http://{host}:{port}")
    app.state.iscsi = portal
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
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
