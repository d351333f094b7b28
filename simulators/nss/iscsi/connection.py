"""One iSCSI connection: login, then the full feature phase (RFC 7143).

The read loop takes PDUs in order and never blocks on a command: each SCSI command runs as its
own asyncio task (several in flight), collecting Data-Out and sending R2Ts as needed, then runs
its CDB through ``scsi.execute`` (inline for small transfers, on the target's thread pool for
large ones) and answers with Data-In (status in the last PDU) or a SCSI Response. This module is
the one place that turns errors into wire answers: ``LoginRefused`` into a Login Response
status, ``ScsiError`` into a status with sense data, ``ProtocolError`` into a dropped connection.

A connection sees the target that accepted it only as a :class:`Portal` (what it needs of one),
so nothing here imports ``target.py``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Protocol

from . import pdu as P
from . import scsi
from .commands import Task, lun_number
from .errors import (
    DATA_PHASE_ERROR,
    INTERNAL_TARGET_FAILURE,
    INVALID_FIELD_IN_IU,
    AbortedCommand,
    HardwareError,
    IllegalRequest,
    LoginRefused,
    ProtocolError,
    ScsiError,
)
from .login import FULL_FEATURE, ChapSecret, Login
from .params import OUR_MAX_RECV, encode_text, parse_text
from .sender import Sender
from .transfer import WRITES, data_out_length

if TYPE_CHECKING:
    from ..appliance import Appliance
    from .lunmap import Masking
    from .reservation_state import Reservations
    from .session import Session

log = logging.getLogger("drkit.nss.iscsi")
WINDOW = 128
INLINE_BYTES = 256 * 1024  # commands moving at most this much run on the event loop itself
DRAIN_ABOVE = 8 * 2**20  # let the socket catch up when this much waits to be sent
FLUSH_AT = 64 * 1024  # small answers are batched per loop turn, large ones leave at once


class Portal(Protocol):
    """What a connection needs of the target that accepted it."""

    @property
    def name(self) -> str: ...

    @property
    def app(self) -> Appliance: ...

    @property
    def masking(self) -> Masking: ...

    @property
    def reservations(self) -> Reservations: ...

    @property
    def pool(self) -> Executor: ...

    def chap_for(self, initiator: str) -> ChapSecret | None: ...

    def start_session(self, conn: Connection, isid: bytes) -> Session: ...

    def end_session(self, session: Session) -> None: ...

    def task_management(self, conn: Connection, function: int, req: P.Pdu) -> int: ...

    def send_targets(self, initiator: str) -> list[tuple[str, str]]: ...


class Connection:
    def __init__(self, target: Portal, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.target = target
        self.reader = reader
        self.writer = writer
        self.peer = "{}:{}".format(*writer.get_extra_info("peername")[:2])
        self.login = Login(target.name, target.masking.allowed, target.chap_for)
        self.params = self.login.result.params
        self.session: Session | None = None
        self.statsn = 0
        self.exp_cmdsn = 0
        self.tasks: dict[int, Task] = {}
        self.running: set[asyncio.Task] = set()
        self.ttt = 0
        self.digests = (False, False)
        self.closing = False
        self._pending: list[bytes | memoryview] = []
        self._pending_bytes = 0
        self._flush_handle: asyncio.Handle | None = None

    # ------------------------------------------------------------------ lifecycle
    async def serve(self) -> None:
        raw = self.writer.get_extra_info("socket")
        self.sock = socket.socket(fileno=os.dup(raw.fileno()))  # the sender thread's handle
        self.sender = Sender(self.sock, asyncio.get_running_loop(), DRAIN_ABOVE)
        try:
            if await self._login_phase():
                await self._full_feature()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except ProtocolError as exc:
            log.info("iSCSI connection from %s dropped: %s", self.peer, exc)
        finally:
            await self._close()

    async def _close(self) -> None:
        for task in list(self.running):
            task.cancel()
        self._flush()
        self.sender.close()
        self.sock.close()
        if self.session is not None:
            self.target.end_session(self.session)
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass

    # ------------------------------------------------------------------ login
    async def _login_phase(self) -> bool:
        while True:
            req = await P.read_pdu(self.reader, max_data=OUR_MAX_RECV)
            if req.opcode != P.LOGIN_REQ:
                raise ProtocolError(f"opcode 0x{req.opcode:02x} before login completed")
            if self.statsn == 0:
                self.statsn, self.exp_cmdsn = req.exp_statsn, req.cmdsn
            try:
                transit, nsg, keys = self.login.step((req.flags >> 2) & 3, req.flags & 3,
                                                     bool(req.flags & 0x80), req.data)
            except LoginRefused as exc:
                log.info("iSCSI login from %s refused: %s", self.peer, exc)
                await self._login_response(req, False, 0, [], exc.status_class,
                                           exc.status_detail)
                return False
            done = transit and nsg == FULL_FEATURE
            if done:
                self.session = self.target.start_session(self, bytes(req.bhs[8:14]))
            await self._login_response(req, transit, nsg, keys)
            if done:
                self.digests = (self.params.header_digest, self.params.data_digest)
                return True

    async def _login_response(self, req: P.Pdu, transit: bool, nsg: int, keys: list,
                              status_class: int = 0, status_detail: int = 0) -> None:
        bhs = P.new_bhs(P.LOGIN_RSP, (0x80 if transit else 0) | (req.flags & 0x0C)
                        | (nsg if transit else 0))
        bhs[8:14] = req.bhs[8:14]
        tsih = self.session.tsih if self.session else 0
        bhs[14:16] = tsih.to_bytes(2, "big")
        P.put32(bhs, 16, req.itt)
        self._sequence_numbers(bhs, advance=status_class == 0)
        bhs[36], bhs[37] = status_class, status_detail
        await self._send(bhs, encode_text(keys), digests=False)

    # ------------------------------------------------------------------ full feature phase
    async def _full_feature(self) -> None:
        hd, dd = self.digests
        while not self.closing:
            req = await P.read_pdu(self.reader, header_digest=hd, data_digest=dd,
                                   max_data=max(OUR_MAX_RECV, self.params.first_burst))
            op = req.opcode
            if op == P.DATA_OUT:
                self._data_out(req)
            elif not self._accept_cmdsn(req):
                continue  # outside the command window: silently ignored (RFC 7143 4.2.2.1)
            elif op == P.SCSI_CMD:
                self._scsi_command(req)
                if self.sender.queued > DRAIN_ABOVE:
                    self._flush()
                    await self.sender.drained()
            elif op == P.NOP_OUT:
                await self._nop(req)
            elif op == P.TMF_REQ:
                await self._task_management(req)
            elif op == P.TEXT_REQ:
                await self._text(req)
            elif op == P.LOGOUT_REQ:
                await self._logout(req)
            else:
                await self._reject(req, 0x05)

    def _accept_cmdsn(self, req: P.Pdu) -> bool:
        if req.immediate:
            return True
        ahead = (req.cmdsn - self.exp_cmdsn) & 0xFFFFFFFF
        if ahead >= WINDOW:
            return False
        self.exp_cmdsn = (req.cmdsn + 1) & 0xFFFFFFFF
        return True

    def _sequence_numbers(self, bhs: bytearray, advance: bool = True, at: int = 24) -> None:
        P.put32(bhs, at, self.statsn)
        if advance:
            self.statsn = (self.statsn + 1) & 0xFFFFFFFF
        P.put32(bhs, at + 4, self.exp_cmdsn)
        P.put32(bhs, at + 8, self.exp_cmdsn + WINDOW - 1)

    async def _send(self, bhs: bytearray, data: bytes | memoryview = b"", *,
                    digests: bool = True) -> None:
        """Send one PDU now (after every queued one) and wait for the socket to take it."""
        self._emit(bhs, data, digests=digests)
        self._flush()
        await self.sender.drained()

    def _emit(self, bhs: bytearray, data: bytes | memoryview = b"", *,
              digests: bool = True) -> None:
        """Queue one PDU; everything queued in one loop turn leaves in one write."""
        hd, dd = self.digests if digests else (False, False)
        self._pending += P.encode(bhs, data, header_digest=hd, data_digest=dd)
        self._pending_bytes += len(data)
        if self._pending_bytes >= FLUSH_AT:
            self._flush()
        elif self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._pending:
            self.sender.send(self._pending, self._pending_bytes)
        self._pending, self._pending_bytes = [], 0

    # ------------------------------------------------------------------ SCSI commands
    def _scsi_command(self, req: P.Pdu) -> None:
        flags = req.flags
        task = Task(req.itt, lun_number(req.lun_field), req.lun_field, bytes(req.bhs[32:48]),
                    req.u32(20), bool(flags & 0x40), bool(flags & 0x20), req.cmdsn)
        if task.writing:
            task.buf = bytearray(task.edtl)
            task.arrived = asyncio.Event()
            task.immediate(req.data)
            if flags & 0x80 or task.received >= task.edtl:
                task.arrived.set()
        elif task.edtl <= INLINE_BYTES:  # small reads and no-data commands: answered now
            self._respond(task, *self._scsi(task))
            return
        self.tasks[task.itt] = task
        runner = asyncio.ensure_future(self._run(task))
        self.running.add(runner)
        runner.add_done_callback(self.running.discard)

    def _data_out(self, req: P.Pdu) -> None:
        task = self.tasks.get(req.itt)
        if task is None or not task.writing or task.aborted:
            log.debug("Data-Out for ITT 0x%x, which is not waiting for data: dropped", req.itt)
            return  # e.g. the rest of an aborted task's data (RFC 7143 4.2.3.4)
        task.take(req)

    async def _run(self, task: Task) -> None:
        try:
            if task.writing:
                await self._collect(task)
            if task.aborted:
                return
            status, data, sense = await self._execute(task)
            if not task.aborted:
                self._respond(task, status, data, sense)
        finally:
            self.tasks.pop(task.itt, None)

    async def _collect(self, task: Task) -> None:
        assert task.arrived is not None
        await task.arrived.wait()
        while task.received < task.edtl and not (task.sequence_error or task.aborted):
            task.arrived.clear()
            length = min(self.params.max_burst, task.edtl - task.received)
            await self._r2t(task, task.received, length)
            await task.arrived.wait()

    async def _r2t(self, task: Task, offset: int, length: int) -> None:
        self.ttt = (self.ttt + 1) & 0x7FFFFFFF
        task.ttt, task.next_datasn = self.ttt, 0
        bhs = P.new_bhs(P.R2T)
        bhs[8:16] = task.lun_field
        P.put32(bhs, 16, task.itt)
        P.put32(bhs, 20, task.ttt)
        self._sequence_numbers(bhs, advance=False)
        P.put32(bhs, 36, task.r2tsn)
        task.r2tsn += 1
        struct.pack_into(">II", bhs, 40, offset, length)
        await self._send(bhs)

    async def _execute(self, task: Task) -> tuple[int, bytes, bytes]:
        if task.sequence_error:
            return _failure(AbortedCommand("Data-Out sequence error", *DATA_PHASE_ERROR))
        if task.writing:
            expected = data_out_length(task.cdb)
            if expected is not None and expected != task.edtl:
                task.residual = task.edtl - expected  # a WRITE moves what both allow
                if task.cdb[0] not in WRITES:
                    return _failure(IllegalRequest("iSCSI expected length differs from the "
                                                   "CDB's", *INVALID_FIELD_IN_IU))
        if task.edtl <= INLINE_BYTES:
            return self._scsi(task)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.target.pool, self._scsi, task)

    def _scsi(self, task: Task) -> tuple[int, bytes, bytes]:
        assert self.session is not None
        data = bytes(task.buf) if task.writing else b""
        try:
            out = scsi.execute(self.target.app, self.target.reservations, self.session.nexus,
                               task.lun, task.cdb, data)
        except ScsiError as exc:
            return _failure(exc)
        except Exception as exc:  # a bug of ours: the command fails, the connection stays
            log.exception("iSCSI command 0x%02x failed inside the target", task.cdb[0])
            return _failure(HardwareError(str(exc), *INTERNAL_TARGET_FAILURE))
        if task.reading or not task.writing:
            task.residual = task.edtl - len(out) if task.reading or out else 0
        return 0, out, b""

    def _respond(self, task: Task, status: int, data: bytes, sense: bytes) -> None:
        assert self.session is not None
        self.session.commands += 1
        if status == 0 and task.reading and data and task.edtl:
            self._data_in(task, memoryview(data)[:task.edtl])
            return
        bhs = P.new_bhs(P.SCSI_RSP, 0x80 | _residual_flags(task.residual))
        bhs[3] = status
        P.put32(bhs, 16, task.itt)
        self._sequence_numbers(bhs)
        P.put32(bhs, 44, abs(task.residual))
        payload = len(sense).to_bytes(2, "big") + sense if sense else b""
        self._emit(bhs, payload)

    def _data_in(self, task: Task, data: memoryview) -> None:
        step = self.params.max_send_data
        for datasn, offset in enumerate(range(0, len(data), step)):
            last = offset + step >= len(data)
            bhs = P.new_bhs(P.DATA_IN, 0x81 | _residual_flags(task.residual) if last else 0)
            P.put32(bhs, 16, task.itt)
            P.put32(bhs, 20, P.NO_TAG)
            self._sequence_numbers(bhs, advance=last)
            if not last:
                P.put32(bhs, 24, 0)
            struct.pack_into(">III", bhs, 36, datasn, offset, abs(task.residual) if last else 0)
            self._emit(bhs, data[offset:offset + step])

    # ------------------------------------------------------------------ other requests
    async def _nop(self, req: P.Pdu) -> None:
        if req.itt == P.NO_TAG:
            return  # the initiator's answer to a ping we never sent
        bhs = P.new_bhs(P.NOP_IN)
        bhs[8:16] = req.lun_field
        P.put32(bhs, 16, req.itt)
        P.put32(bhs, 20, P.NO_TAG)
        self._sequence_numbers(bhs)
        await self._send(bhs, req.data)

    async def _task_management(self, req: P.Pdu) -> None:
        function = req.flags & 0x7F
        response = self.target.task_management(self, function, req)
        bhs = P.new_bhs(P.TMF_RSP)
        bhs[2] = response
        P.put32(bhs, 16, req.itt)
        self._sequence_numbers(bhs)
        await self._send(bhs)
        if function == 7 and response == 0:  # target cold reset: connections close
            self.closing = True

    def abort(self, itt: int | None = None, lun: int | None = None,
              everything: bool = False) -> int:
        """Abort one task (by ITT), every task of a LUN, or all; returns how many."""
        hit = [t for t in self.tasks.values() if everything
               or (itt is not None and t.itt == itt) or (lun is not None and t.lun == lun)]
        for task in hit:
            task.aborted = True
            if task.arrived is not None:
                task.arrived.set()
        return len(hit)

    async def _text(self, req: P.Pdu) -> None:
        keys = dict(parse_text(req.data))
        out = self.target.send_targets(self.login.result.initiator) \
            if keys.get("SendTargets") else []
        bhs = P.new_bhs(P.TEXT_RSP, 0x80)
        P.put32(bhs, 16, req.itt)
        P.put32(bhs, 20, P.NO_TAG)
        self._sequence_numbers(bhs)
        await self._send(bhs, encode_text(out))

    async def _logout(self, req: P.Pdu) -> None:
        bhs = P.new_bhs(P.LOGOUT_RSP)
        P.put32(bhs, 16, req.itt)
        self._sequence_numbers(bhs)
        await self._send(bhs)
        self.closing = True

    async def _reject(self, req: P.Pdu, reason: int) -> None:
        bhs = P.new_bhs(P.REJECT)
        bhs[2] = reason
        P.put32(bhs, 16, P.NO_TAG)
        self._sequence_numbers(bhs)
        await self._send(bhs, bytes(req.bhs))


def _failure(exc: ScsiError) -> tuple[int, bytes, bytes]:
    return exc.status, b"", exc.sense()


def _residual_flags(residual: int) -> int:
    """Underflow (U, 0x02) when less moved than expected, overflow (O, 0x04) when more."""
    if residual > 0:
        return 0x02
    if residual < 0:
        return 0x04
    return 0
