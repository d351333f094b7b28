"""LUN masking seen from iSCSI: which initiator may log in, and which LUN numbers it sees.

The answer is the appliance's own (``San.visible_to``, the same as ``GET /visible-devices``):
an initiator logs in only if a SAN client holds its IQN or a LUN is presented to it directly,
and sees exactly the LUNs presented to it, under their presentation's LUN numbers. The SAN layer
calls :meth:`Masking.changed` after every presentation change; each I_T nexus then re-reads its
map on its next command and, if it differs, raises REPORTED LUNS DATA HAS CHANGED on every LUN.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ..errors import NssError
from ..model import Initiator, Lun
from .errors import REPORTED_LUNS_CHANGED

if TYPE_CHECKING:
    from ..appliance import Appliance


class Masking:
    """The appliance's masking, with a version that moves on each presentation change."""

    def __init__(self, app: Appliance) -> None:
        self.app = app
        self.version = 0
        self.records = LunRecords(app)

    def changed(self) -> None:
        self.version += 1

    def allowed(self, iqn: str) -> bool:
        held = self.app.store.one("SELECT 1 FROM initiators WHERE type='iSCSI' AND iid=?",
                                  iqn.lower())
        return held is not None or bool(self.luns_for(iqn))

    def luns_for(self, iqn: str) -> dict[int, str]:
        visible = self.app.san.visible_to(Initiator("iSCSI", iqn.lower()))
        return {p.lun_number: p.lun_id for p in visible}


class LunRecords:
    """The LUN records commands run against, read again as soon as anything in the store changed.

    A SCSI command needs its LUN's record (size, access, role) each time; reading it costs more
    than a 4 KiB read. The store's change counter tells when a kept record may be stale.
    """

    def __init__(self, app: Appliance) -> None:
        self.app = app
        self._stamp = -1
        self._kept: dict[str, Lun | None] = {}

    def get(self, lun_id: str) -> Lun | None:
        stamp = self.app.store.changes()  # read before the record: a change after it shows
        if stamp != self._stamp:
            self._kept, self._stamp = {}, stamp
        if lun_id not in self._kept:
            try:
                self._kept[lun_id] = self.app.luns.get(lun_id)
            except NssError:
                self._kept[lun_id] = None  # deleted since the map was read
        return self._kept[lun_id]


class Nexus:
    """One I_T nexus (initiator name + ISID): its LUN map and pending unit attentions."""

    def __init__(self, masking: Masking, initiator: str, isid: bytes, target_name: str) -> None:
        self.masking = masking
        self.initiator = initiator
        self.isid = isid
        self.target_name = target_name
        self.key = f"{initiator},i,0x{isid.hex()}"
        self._lock = threading.Lock()
        self._map: dict[int, str] = masking.luns_for(initiator)
        self._seen = masking.version
        self._attention: dict[int, tuple[int, int]] = {}

    def lun_map(self) -> dict[int, str]:
        if self._seen != self.masking.version:
            self._refresh()
        return self._map

    def take_unit_attention(self, lun_number: int) -> tuple[int, int] | None:
        with self._lock:
            return self._attention.pop(lun_number, None)

    def clear_luns_changed(self) -> None:
        with self._lock:
            for number, code in list(self._attention.items()):
                if code == REPORTED_LUNS_CHANGED:
                    del self._attention[number]

    def raise_attention(self, code: tuple[int, int]) -> None:
        with self._lock:
            for number in self._map:
                self._attention.setdefault(number, code)

    def _refresh(self) -> None:
        seen = self.masking.version
        fresh = self.masking.luns_for(self.initiator)
        with self._lock:
            changed = fresh != self._map
            self._map, self._seen = fresh, seen
            if changed:
                for number in fresh:
                    self._attention[number] = REPORTED_LUNS_CHANGED
