"""One iSCSI session (RFC 7143 3.4): its I_T nexus, the connection carrying it, its counters.

A session knows its connection only through :class:`Carrier`, the little it needs of one
(negotiated parameters, the stream to close, aborting tasks), so that ``connection.py`` may
name sessions without this module naming connections.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..context import utcnow
from .lunmap import Nexus
from .params import SessionParams


class Carrier(Protocol):
    """What a session and the target need of the connection carrying a session."""

    @property
    def params(self) -> SessionParams: ...

    @property
    def writer(self) -> asyncio.StreamWriter: ...

    def abort(self, itt: int | None = None, lun: int | None = None,
              everything: bool = False) -> int: ...


@dataclass
class Session:
    tsih: int
    initiator: str
    isid: bytes
    kind: str
    peer: str
    nexus: Nexus
    connection: Carrier
    created: str = field(default_factory=utcnow)
    commands: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"tsih": self.tsih, "initiator": self.initiator, "isid": self.isid.hex(),
                "type": self.kind, "peer": self.peer, "created": self.created,
                "commands": self.commands,
                "header_digest": "CRC32C" if self.connection.params.header_digest else "None",
                "data_digest": "CRC32C" if self.connection.params.data_digest else "None",
                "luns": sorted(self.nexus.lun_map()) if self.kind == "Normal" else []}
