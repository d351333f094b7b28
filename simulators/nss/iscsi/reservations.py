"""Reservation commands: SPC-2 RESERVE/RELEASE(6) and SPC-4 PERSISTENT RESERVE IN/OUT.

Each handler takes the reservations lock for its whole decision and changes the per-LUN state
of ``reservation_state.py``; what a reservation blocks is checked there, by the dispatcher.
"""

from __future__ import annotations

import struct

from .errors import PARAMETER_LIST_LENGTH_ERROR, ReservationConflict, illegal
from .reservation_state import ALL_REGISTRANTS, TYPES, LunReservations
from .scsi import Request, command


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
