"""Reservations: SPC-2 RESERVE/RELEASE(6) and SPC-4 persistent reservations.

State is per LUN and lives in the target (one :class:`Reservations` per appliance portal), in
memory: it does not persist across an appliance restart (APTPL is not offered). An I_T nexus is
named by ``"<initiator iqn>,i,0x<isid>"``.

Access under a persistent reservation (SPC-4 table 46), for a nexus that does not hold it:

    type            non-holder registrant        unregistered
    WE  (1)         reads only                   reads only
    EA  (3)         nothing                      nothing
    WE_RO/WE_AR     everything (all registrants  reads only
    (5, 7)          may write)
    EA_RO/EA_AR     everything                   nothing
    (6, 8)
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass, field

from .errors import PARAMETER_LIST_LENGTH_ERROR, ReservationConflict, illegal
from .scsi import Request, command

WE, EA, WE_RO, EA_RO, WE_AR, EA_AR = 1, 3, 5, 6, 7, 8
TYPES = (WE, EA, WE_RO, EA_RO, WE_AR, EA_AR)
ALL_REGISTRANTS = (WE_AR, EA_AR)
# Commands a reservation never blocks: INQUIRY, REPORT LUNS, REQUEST SENSE, PR IN/OUT,
# READ CAPACITY, REPORT SUPPORTED OPCODES, TEST UNIT READY (SPC-4 5.13.1).
ALWAYS_ALLOWED = {0x12, 0xA0, 0x03, 0x5E, 0x5F, 0x25, 0x9E, 0xA3, 0x00, 0x17}


@dataclass
class LunReservations:
    keys: dict[str, int] = field(default_factory=dict)
    holder: str | None = None
    type: int = 0
    generation: int = 0
    reserve6: str | None = None

    def holds(self, nexus: str) -> bool:
        if not self.type:
            return False
        if self.type in ALL_REGISTRANTS:
            return nexus in self.keys
        return self.holder == nexus

    def release(self) -> None:
        self.holder, self.type = None, 0


class Reservations:
    """Every LUN's reservations; each call holds one lock for its whole decision."""

    def __init__(self) -> None:
        self._luns: dict[str, LunReservations] = {}
        self.lock = threading.Lock()

    def of(self, lun_id: str) -> LunReservations:
        return self._luns.setdefault(lun_id, LunReservations())

    def check(self, lun_id: str, nexus: str, access: str, opcode: int) -> None:
        with self.lock:
            res = self._luns.get(lun_id)
            if res is None or opcode in ALWAYS_ALLOWED:
                return
            if res.reserve6 is not None and res.reserve6 != nexus:
                raise ReservationConflict(f"lun {lun_id} is reserved by another initiator")
            if res.type and not res.holds(nexus) and _blocked(res, nexus, access):
                raise ReservationConflict(f"lun {lun_id} has a persistent reservation")

    def nexus_lost(self, nexus: str) -> None:
        """A session ended: its RESERVE(6) goes; persistent registrations stay."""
        with self.lock:
            for res in self._luns.values():
                if res.reserve6 == nexus:
                    res.reserve6 = None

    def reset(self, lun_id: str | None = None) -> None:
        """LUN or target reset: RESERVE(6) reservations are released."""
        with self.lock:
            for key, res in self._luns.items():
                if lun_id is None or key == lun_id:
                    res.reserve6 = None


def _blocked(res: LunReservations, nexus: str, access: str) -> bool:
    if access == "none":
        return False
    if res.type in (WE_RO, WE_AR, EA_RO, EA_AR) and nexus in res.keys:
        return False
    if res.type in (WE, WE_RO, WE_AR):
        return access == "write"
    return True


# ------------------------------------------------------------------ RESERVE/RELEASE(6)
@command(0x16, 6)
def reserve6(req: Request) -> bytes:
    assert req.lun is not None
    with req.reservations.lock:
        res = req.reservations.of(req.lun.id)
        if res.reserve6 not in (None, req.nexus.key) or (res.type and not res.holds(
                req.nexus.key)):
            raise ReservationConflict("RESERVE(6): already reserved")
        res.reserve6 = req.nexus.key
    return b""


@command(0x17, 6)
def release6(req: Request) -> bytes:
    assert req.lun is not None
    with req.reservations.lock:
        res = req.reservations.of(req.lun.id)
        if res.reserve6 == req.nexus.key:
            res.reserve6 = None
    return b""


# ------------------------------------------------------------------ PERSISTENT RESERVE IN
@command(0x5E, 10, service_action=0x00)
@command(0x5E, 10, service_action=0x01)
@command(0x5E, 10, service_action=0x02)
@command(0x5E, 10, service_action=0x03)
def persistent_reserve_in(req: Request) -> bytes:
    assert req.lun is not None
    action, length = req.cdb[1] & 0x1F, struct.unpack_from(">H", req.cdb, 7)[0]
    with req.reservations.lock:
        res = req.reservations.of(req.lun.id)
        if action == 0:
            keys = b"".join(k.to_bytes(8, "big") for k in res.keys.values())
            out = struct.pack(">II", res.generation, len(keys)) + keys
        elif action == 1:
            out = _read_reservation(res)
        elif action == 3:
            out = _read_full_status(res)
        else:
            out = bytes([0, 8, 0x00, 0x80, 0xEA, 0x01, 0, 0])  # TMV; every type offered
    return out[:length]


def _read_reservation(res: LunReservations) -> bytes:
    if not res.type:
        return struct.pack(">II", res.generation, 0)
    key = res.keys.get(res.holder or "", 0) if res.type not in ALL_REGISTRANTS else 0
    body = struct.pack(">QIBBH", key, 0, 0, res.type, 0)
    return struct.pack(">II", res.generation, len(body)) + body


def _read_full_status(res: LunReservations) -> bytes:
    """One descriptor per registered I_T nexus, with its iSCSI TransportID (SPC-4 6.15.5)."""
    body = b""
    for nexus, key in res.keys.items():
        holder = res.holds(nexus)
        name = nexus.split(",")[0].encode() + b"\0"
        name += bytes(-len(name) % 4 or 0) + bytes(max(0, 20 - 4 - len(name)))
        transport = bytes([0x05, 0]) + len(name).to_bytes(2, "big") + name
        body += struct.pack(">Q4xBB4xHI", key, 0x01 if holder else 0,
                            res.type if holder else 0, 1, len(transport)) + transport
    return struct.pack(">II", res.generation, len(body)) + body


# ------------------------------------------------------------------ PERSISTENT RESERVE OUT
@command(0x5F, 10, service_action=0x00)
@command(0x5F, 10, service_action=0x01)
@command(0x5F, 10, service_action=0x02)
@command(0x5F, 10, service_action=0x03)
@command(0x5F, 10, service_action=0x04)
@command(0x5F, 10, service_action=0x05)
@command(0x5F, 10, service_action=0x06)
def persistent_reserve_out(req: Request) -> bytes:
    assert req.lun is not None
    action, rtype = req.cdb[1] & 0x1F, req.cdb[2] & 0x0F
    if struct.unpack_from(">I", req.cdb, 5)[0] != 24 or len(req.data) < 24:
        raise illegal("PERSISTENT RESERVE OUT: parameter list must be 24 bytes",
                      PARAMETER_LIST_LENGTH_ERROR)
    key, sa_key = struct.unpack_from(">QQ", req.data, 0)
    if action in (1, 2, 4, 5) and rtype not in TYPES:
        raise illegal(f"PERSISTENT RESERVE OUT: type {rtype} is not supported")
    with req.reservations.lock:
        res = req.reservations.of(req.lun.id)
        ACTIONS[action](res, req.nexus.key, key, sa_key, rtype)
    return b""


def _register(res: LunReservations, nexus: str, key: int, sa_key: int, rtype: int,
              ignore: bool = False) -> None:
    have = res.keys.get(nexus)
    if not ignore and (have or 0) != key:
        raise ReservationConflict("REGISTER: reservation key does not match")
    if sa_key:
        res.keys[nexus] = sa_key
    elif have is not None:
        _unregister(res, nexus)
    res.generation += 1


def _unregister(res: LunReservations, nexus: str) -> None:
    del res.keys[nexus]
    last = res.type in ALL_REGISTRANTS and not res.keys
    if last or (res.type not in ALL_REGISTRANTS and res.holder == nexus):
        res.release()


def _registered(res: LunReservations, nexus: str, key: int) -> None:
    if res.keys.get(nexus) != key:
        raise ReservationConflict("the nexus is not registered with this key")


def _reserve(res: LunReservations, nexus: str, key: int, sa_key: int, rtype: int) -> None:
    _registered(res, nexus, key)
    if res.type:
        if not res.holds(nexus) or res.type != rtype:
            raise ReservationConflict("RESERVE: another reservation is held")
        return
    res.holder, res.type = nexus, rtype


def _release(res: LunReservations, nexus: str, key: int, sa_key: int, rtype: int) -> None:
    _registered(res, nexus, key)
    if not res.holds(nexus):
        return
    if res.type != rtype:
        raise illegal("RELEASE: type differs from the reservation's", (0x26, 0x04))
    res.release()


def _clear(res: LunReservations, nexus: str, key: int, sa_key: int, rtype: int) -> None:
    _registered(res, nexus, key)
    res.keys.clear()
    res.release()
    res.generation += 1


def _preempt(res: LunReservations, nexus: str, key: int, sa_key: int, rtype: int) -> None:
    _registered(res, nexus, key)
    victims = [n for n, k in res.keys.items() if k == sa_key and n != nexus]
    holder_key = res.keys.get(res.holder or "")
    if not victims and not (res.type and sa_key == holder_key):
        if sa_key == 0 and res.type in ALL_REGISTRANTS:
            victims = [n for n in res.keys if n != nexus]
        else:
            raise ReservationConflict("PREEMPT: no registration has that key")
    take = res.type and ((res.type in ALL_REGISTRANTS and sa_key == 0) or holder_key == sa_key)
    for victim in victims:
        del res.keys[victim]
    if take:
        res.holder, res.type = nexus, rtype
    res.generation += 1


ACTIONS = {
    0: _register, 1: _reserve, 2: _release, 3: _clear, 4: _preempt, 5: _preempt,
    6: lambda res, nexus, key, sa_key, rtype: _register(res, nexus, key, sa_key, rtype, True),
}
