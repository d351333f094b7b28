"""The appliance's iSCSI target: one portal, one target, its sessions, on its own event loop.

The target's name is derived from the appliance id (``iqn.2026-12.io.drkit:nss-…``). The portal
runs an asyncio server in a thread of the appliance process, next to the REST API, and enters
the same domain objects (``Appliance.luns``, ``.data``, ``.san``). Nothing here is global: every
piece of state (sessions, reservations, masking version, thread pool) hangs off a
:class:`Target`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import pdu as P
from .commands import lun_number
from .connection import Connection
from .errors import IscsiError
from .login import ChapSecret
from .lunmap import Masking, Nexus
from .reservation_state import Reservations
from .session import Session

if TYPE_CHECKING:
    from ..appliance import Appliance

IQN_PREFIX = "iqn.2026-12.io.drkit"
ABORT_TASK, ABORT_TASK_SET, CLEAR_TASK_SET, LUN_RESET, WARM_RESET, COLD_RESET = 1, 2, 4, 5, 6, 7
TMF_COMPLETE, TMF_NO_TASK, TMF_NO_LUN, TMF_UNSUPPORTED = 0, 1, 2, 5


def target_name(appliance_id: str) -> str:
    return f"{IQN_PREFIX}:{appliance_id.lower()}"


def load_chap(path: Path | None) -> dict[str, ChapSecret]:
    """``{"<initiator iqn or client name>": {"user": ..., "secret": ...}}``; secrets stay here."""
    if path is None:
        return {}
    try:
        raw = json.loads(path.read_text())
        return {key.lower(): ChapSecret(str(v["user"]), str(v["secret"]))
                for key, v in raw.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        kind = type(exc).__name__
        raise IscsiError(f"CHAP file {path}: expected {{name: {{user, secret}}}} ({kind})"
                         ) from None


class Target:
    """One appliance's iSCSI portal and target."""

    def __init__(self, app: Appliance, host: str, port: int,
                 chap: dict[str, ChapSecret] | None = None) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.name = target_name(app.id)
        self.masking = Masking(app)
        self.reservations = Reservations()
        self.pool = ThreadPoolExecutor(4, thread_name_prefix="iscsi-io")
        self.sessions: dict[int, Session] = {}
        self._chap = chap or {}
        self._tsih = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Target:
        ready = threading.Event()
        errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(ready, errors),
                                        name="iscsi-portal", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise IscsiError(f"iSCSI portal {self.host}:{self.port}: {errors[0]}")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self.pool.shutdown(wait=False)

    def _run(self, ready: threading.Event, errors: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._accept, self.host, self.port, limit=2**20))
            self.port = self._server.sockets[0].getsockname()[1]
        except OSError as exc:
            errors.append(exc)
            ready.set()
            return
        ready.set()
        loop.run_forever()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await Connection(self, reader, writer).serve()

    # ------------------------------------------------------------------ sessions
    def start_session(self, conn: Connection, isid: bytes) -> Session:
        result = conn.login.result
        nexus = Nexus(self.masking, result.initiator, bytes(isid), self.name)
        session = Session(next(self._tsih) & 0xFFFF or 1, result.initiator, bytes(isid),
                          result.session_type, conn.peer, nexus, conn)
        for old in [s for s in self.sessions.values() if s.nexus.key == nexus.key]:
            old.connection.writer.close()  # the same I_T nexus logging in again replaces it
        self.sessions[session.tsih] = session
        return session

    def end_session(self, session: Session) -> None:
        self.sessions.pop(session.tsih, None)
        if not any(s.nexus.key == session.nexus.key for s in self.sessions.values()):
            self.reservations.nexus_lost(session.nexus.key)

    def list_sessions(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in list(self.sessions.values())]

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "portal": f"{self.host}:{self.port}",
                "sessions": len(self.sessions), "chap_clients": len(self._chap)}

    def chap_for(self, initiator: str) -> ChapSecret | None:
        found = self._chap.get(initiator.lower())
        if found is not None:
            return found
        row = self.app.store.one("SELECT c.name FROM initiators i JOIN clients c ON "
                                 "c.id = i.client_id WHERE i.type='iSCSI' AND i.iid=?",
                                 initiator.lower())
        return self._chap.get(row[0].lower()) if row else None

    def send_targets(self, initiator: str) -> list[tuple[str, str]]:
        if not self.masking.allowed(initiator):
            return []
        return [("TargetName", self.name), ("TargetAddress", f"{self.host}:{self.port},1")]

    # ------------------------------------------------------------------ task management
    def task_management(self, conn: Connection, function: int, req: P.Pdu) -> int:
        lun = lun_number(req.lun_field)
        if function == ABORT_TASK:  # a task already answered no longer exists
            return TMF_COMPLETE if conn.abort(itt=req.u32(20)) else TMF_NO_TASK
        if function in (ABORT_TASK_SET, CLEAR_TASK_SET):
            conn.abort(lun=lun)
            return TMF_COMPLETE
        if function == LUN_RESET:
            assert conn.session is not None
            lun_id = conn.session.nexus.lun_map().get(lun)
            if lun_id is None:
                return TMF_NO_LUN
            for session in list(self.sessions.values()):
                session.connection.abort(lun=lun)
            self.reservations.reset(lun_id)
            return TMF_COMPLETE
        if function in (WARM_RESET, COLD_RESET):
            for session in list(self.sessions.values()):
                session.connection.abort(everything=True)
            self.reservations.reset()
            return TMF_COMPLETE
        return TMF_UNSUPPORTED
