"""Secrets at rest: peer API tokens, pair keys and agent tokens sealed with AES-256-GCM.

The sealing key lives in its own file (32 random bytes, mode 0600), by default beside the data
directory (``<data>.key``), never inside it: a copy of the data directory (a backup, a
support bundle) does not carry the means to open its secrets. Each sealed value is bound to its
place (``table.column:row-id`` as associated data), so a sealed token cannot be moved to another
row. Stored form: ``sealed:v1:`` + base64(nonce ‖ ciphertext ‖ tag).

``seal_clear_rows`` migrates an appliance written before sealing: every clear secret is sealed
in one transaction, and with ``secure_delete`` and a WAL checkpoint the clear bytes leave the
database file and its WAL.
"""

from __future__ import annotations

import base64
import logging
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import ApplianceFault
from .store import Store

log = logging.getLogger(__name__)
PREFIX = "sealed:v1:"
KEY_BYTES = 32
#: (table, secret column, id column) of every secret the appliance keeps
SECRET_COLUMNS = (("peers", "token", "id"), ("peers", "key", "id"), ("agents", "token", "id"))


class SealError(ApplianceFault):
    """A sealed secret does not open with this key (wrong key file, or tampered)."""

    code = "sealed-secret-unreadable"


def default_key_path(data_dir: Path) -> Path:
    return data_dir.with_name(f"{data_dir.name}.key")


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise SealError(f"sealing key must be {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    @classmethod
    def from_file(cls, path: Path) -> SecretBox:
        """Read the key file, creating it (0600) with a fresh key if it does not exist."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(os.urandom(KEY_BYTES))
                fh.flush()
                os.fsync(fh.fileno())
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            log.warning("sealing key %s was readable by others; mode set to 0600", path)
            path.chmod(0o600)
        return cls(path.read_bytes())

    def seal(self, secret: str | bytes, place: str) -> str:
        plain = secret.encode() if isinstance(secret, str) else secret
        nonce = os.urandom(12)
        blob = nonce + self._aead.encrypt(nonce, plain, place.encode())
        return PREFIX + base64.b64encode(blob).decode()

    def open(self, sealed: str, place: str) -> bytes:
        blob = base64.b64decode(sealed.removeprefix(PREFIX))
        try:
            return self._aead.decrypt(blob[:12], blob[12:], place.encode())
        except InvalidTag:
            raise SealError(f"the sealed secret of {place} does not open with this "
                            "appliance's sealing key", place=place) from None

    def open_text(self, sealed: str, place: str) -> str:
        return self.open(sealed, place).decode()


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def place(table: str, column: str, row_id: str) -> str:
    return f"{table}.{column}:{row_id}"


def seal_clear_rows(store: Store, box: SecretBox) -> int:
    """Seal every secret still stored in clear; returns how many were sealed."""
    sealed = 0
    with store.tx() as db:
        for table, column, id_col in SECRET_COLUMNS:
            rows = db.execute(f"SELECT {id_col}, {column} FROM {table}").fetchall()
            for row_id, value in rows:
                if is_sealed(value):
                    continue
                db.execute(f"UPDATE {table} SET {column}=? WHERE {id_col}=?",
                           (box.seal(value, place(table, column, row_id)), row_id))
                sealed += 1
    if sealed:
        store.checkpoint()
        log.info("sealed %d secrets that were stored in clear", sealed)
    return sealed
