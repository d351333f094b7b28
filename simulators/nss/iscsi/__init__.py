"""The NSS appliance's iSCSI target (RFC 7143; SPC-4 and SBC-3 commands).

Modules, bottom up: ``errors`` (the error tree), ``pdu`` (wire format, digests), ``params``
(text keys, negotiation), ``login`` (login phase, CHAP), ``lunmap`` (masking, I_T nexus, unit
attentions), ``scsi`` (dispatcher) with ``spc``, ``sbc`` and ``reservations`` (the command set),
``transfer`` and ``commands`` (Data-Out bookkeeping), ``connection`` (one TCP connection),
``target`` (the portal, sessions, task management).
"""

from . import reservations, sbc, spc  # noqa: F401  (register their SCSI commands)
from .errors import IscsiError
from .target import Target, load_chap, target_name

__all__ = ["IscsiError", "Target", "load_chap", "target_name"]
