"""What every part of the appliance shares: metadata store, image files, the sealing box, the I/O
lock, ids, time."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .blockdev import ImageFiles
from .sealing import SecretBox
from .store import Store


def utcnow() -> str:
    """UTC ISO 8601 with microseconds: the one timestamp format of the appliance."""
    return stamp(datetime.now(UTC))


def stamp(when: datetime) -> str:
    """``when`` (aware, UTC) in the appliance's timestamp format (they compare as strings)."""
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(5)}"


@dataclass
class Context:
    """The appliance's shared state.

    ``io_lock`` orders every device write, snapshot and TimeView change: a group snapshot holds
    it while it snapshots every member, so no write can land between member snapshots.
    """

    store: Store
    files: ImageFiles
    box: SecretBox  # seals the secrets kept in ``store`` (sealing.py)
    io_lock: threading.RLock = field(default_factory=threading.RLock)
