"""Text keys and login/text negotiation (RFC 7143 sections 6 and 13).

Keys travel as ``key=value`` pairs separated by NUL. The target answers every key the initiator
offered, choosing by the key's rule (list: first shared value; numerical min/max; boolean
AND/OR), and declares its own receive limit. The agreed values land in :class:`SessionParams`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import NegotiationError

OUR_MAX_RECV = 256 * 1024  # the largest data segment we take in one PDU
MAX_BURST = 16 * 1024 * 1024 - 512
MAX_LEN = 16777215


def parse_text(data: bytes) -> list[tuple[str, str]]:
    out = []
    for item in data.split(b"\0"):
        if not item:
            continue
        key, sep, value = item.decode("utf-8", "replace").partition("=")
        if not sep:
            raise NegotiationError(f"text item {key!r} has no '='")
        out.append((key, value))
    return out


def encode_text(pairs: list[tuple[str, str]]) -> bytes:
    return b"".join(f"{k}={v}".encode() + b"\0" for k, v in pairs)


@dataclass
class SessionParams:
    """What a session agreed on; defaults are RFC 7143's."""

    header_digest: bool = False
    data_digest: bool = False
    initial_r2t: bool = True
    immediate_data: bool = True
    max_send_data: int = 8192          # the initiator's MaxRecvDataSegmentLength
    first_burst: int = 65536
    max_burst: int = 262144


def _number(key: str, value: str, low: int, high: int) -> int:
    if not value.isdigit() or not low <= int(value) <= high:
        raise NegotiationError(f"{key}={value!r} is not a number in {low}..{high}")
    return int(value)


def _boolean(key: str, value: str) -> bool:
    if value not in ("Yes", "No"):
        raise NegotiationError(f"{key}={value!r} is neither Yes nor No")
    return value == "Yes"


def _yes_no(flag: bool) -> str:
    return "Yes" if flag else "No"


def _digest(key: str, value: str) -> str:
    for choice in value.split(","):
        if choice in ("None", "CRC32C"):
            return choice
    raise NegotiationError(f"{key}={value!r}: no digest this target supports (None, CRC32C)")


class Negotiator:
    """Operational keys of one session's login, applied to ``params``."""

    FIXED = {"MaxConnections": "1", "MaxOutstandingR2T": "1", "ErrorRecoveryLevel": "0",
             "DataPDUInOrder": "Yes", "DataSequenceInOrder": "Yes", "IFMarker": "No",
             "OFMarker": "No", "DefaultTime2Wait": "2", "DefaultTime2Retain": "0"}
    DECLARED = ("InitiatorName", "InitiatorAlias", "SessionType", "TargetName",
                "AuthMethod")

    def __init__(self, params: SessionParams) -> None:
        self.params = params
        self.declared_recv = False

    def answer(self, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        out = []
        for key, value in pairs:
            reply = self._one(key, value)
            if reply is not None:
                out.append((key, reply))
        return out

    def finish(self) -> list[tuple[str, str]]:
        """Keys the target declares once, at the end of the operational stage."""
        p = self.params
        if p.first_burst > p.max_burst:
            p.first_burst = p.max_burst
        if self.declared_recv:
            return []
        self.declared_recv = True
        return [("MaxRecvDataSegmentLength", str(OUR_MAX_RECV))]

    def _one(self, key: str, value: str) -> str | None:
        p = self.params
        if key in self.DECLARED or key.startswith("CHAP_"):
            return None
        if key in ("HeaderDigest", "DataDigest"):
            choice = _digest(key, value)
            setattr(p, "header_digest" if key == "HeaderDigest" else "data_digest",
                    choice == "CRC32C")
            return choice
        if key == "MaxRecvDataSegmentLength":
            p.max_send_data = _number(key, value, 512, MAX_LEN)
            return None
        if key == "InitialR2T":
            p.initial_r2t = _boolean(key, value)  # OR with our No
            return _yes_no(p.initial_r2t)
        if key == "ImmediateData":
            p.immediate_data = _boolean(key, value)  # AND with our Yes
            return _yes_no(p.immediate_data)
        if key in ("MaxBurstLength", "FirstBurstLength"):
            agreed = min(_number(key, value, 512, MAX_LEN), MAX_BURST)
            setattr(p, "max_burst" if key == "MaxBurstLength" else "first_burst", agreed)
            return str(agreed)
        if key in self.FIXED:
            return self.FIXED[key]
        return "NotUnderstood"
