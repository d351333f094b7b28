"""Reservation state: who holds or is registered on each LUN, and what that blocks.

The state behind SPC-2 RESERVE/RELEASE(6) and SPC-4 persistent reservations (the commands that
change it live in ``reservations.py``; the dispatcher in ``scsi.py`` asks :meth:`Reservations.check`
before every command). State is per LUN and lives in the target (one :class:`Reservations` per
appliance portal), in memory: it does not persist across an appliance restart (APTPL is not
offered). An I_T nexus is named by ``"<initiator iqn>,i,0x<isid>"``.

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

import threading
from dataclasses import dataclass, field

from .errors import ReservationConflict

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
