"""The NSS appliance's iSCSI target (RFC 7143; SPC-4 and SBC-3 commands).

Modules, bottom up: ``errors`` (the error tree), ``pdu`` (wire format, digests), ``params``
(text keys, negotiation), ``login`` (login phase, CHAP), ``lunmap`` (masking, I_T nexus, unit
attentions), ``reservation_state`` (who holds or is registered on a LUN, what that blocks),
``scsi`` (dispatcher) with ``spc``, ``sbc`` and ``reservations`` (the command set),
``transfer`` and ``commands`` (Data-Out bookkeeping), ``session`` (one session and its
nexus), ``connection`` (one TCP connection; it sees its target only as the ``Portal`` it
defines), ``target`` (the portal, sessions, task management; only this package's ``__init__``
imports it).
"""

from . import reservations, sbc, spc  # noqa: F401  (register their SCSI commands)
from .errors import IscsiError
from .target import Target, load_chap, target_name

__all__ = ["IscsiError", "Target", "load_chap", "target_name"]
