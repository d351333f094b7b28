"""The login phase of one connection (RFC 7143 sections 6 and 11.12-11.13).

:class:`Login` takes each Login Request and returns the response's flags and keys; it raises
:class:`~.errors.LoginRefused` to end the login with a status. It checks the target name, lets in
only initiators the appliance's masking knows (discovery sessions excepted: they only ever list
what the initiator may see), runs CHAP when the initiator's client has a secret, and negotiates
operational keys into :class:`~.params.SessionParams`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import LoginRefused, NegotiationError
from .params import Negotiator, SessionParams, parse_text

SECURITY, OPERATIONAL, FULL_FEATURE = 0, 1, 3
NOT_AUTHORIZED, AUTH_FAILED, NOT_FOUND, MISSING_PARAMETER = 0x02, 0x01, 0x03, 0x07


@dataclass(frozen=True)
class ChapSecret:
    user: str
    secret: str = field(repr=False)


@dataclass
class LoginResult:
    """What the login decided, once it reaches full feature phase."""

    initiator: str = ""
    session_type: str = "Normal"
    params: SessionParams = field(default_factory=SessionParams)


class Login:
    """One connection's login conversation."""

    def __init__(self, target_name: str, allowed: Callable[[str], bool],
                 chap_for: Callable[[str], ChapSecret | None]) -> None:
        self.target_name = target_name
        self.allowed = allowed
        self.chap_for = chap_for
        self.result = LoginResult()
        self.negotiator = Negotiator(self.result.params)
        self.first = True
        self.chap: ChapSecret | None = None
        self.chap_state: tuple[int, bytes] | None = None
        self.authenticated = False

    def step(self, csg: int, nsg: int, transit: bool, data: bytes) -> tuple[bool, int, list]:
        """Returns (transit, next stage, response keys) for one Login Request."""
        pairs = parse_text(data)
        keys = dict(pairs)
        out: list[tuple[str, str]] = []
        if self.first:
            out += self._first(keys)
            self.first = False
        if csg == SECURITY:
            out += self._security(keys)
        elif not self.authenticated and self.chap is not None:
            raise LoginRefused("CHAP is required for this initiator", 2, AUTH_FAILED)
        out += self.negotiator.answer([(k, v) for k, v in pairs if k != "AuthMethod"])
        if transit and (csg == OPERATIONAL or nsg in (OPERATIONAL, FULL_FEATURE)):
            if csg == SECURITY and self.chap is not None and not self.authenticated:
                transit = False
            elif nsg == FULL_FEATURE or csg == OPERATIONAL:
                out += self.negotiator.finish()
        return transit, nsg, out

    def _first(self, keys: dict[str, str]) -> list[tuple[str, str]]:
        initiator = keys.get("InitiatorName")
        if not initiator:
            raise LoginRefused("InitiatorName is missing", 2, MISSING_PARAMETER)
        self.result.initiator = initiator.lower()
        self.result.session_type = keys.get("SessionType", "Normal")
        if self.result.session_type not in ("Normal", "Discovery"):
            raise NegotiationError(f"SessionType={self.result.session_type!r}")
        if self.result.session_type == "Discovery":
            return []
        if keys.get("TargetName") != self.target_name:
            raise LoginRefused(f"target {keys.get('TargetName')!r} is not here", 2, NOT_FOUND)
        if not self.allowed(self.result.initiator):
            raise LoginRefused(f"initiator {initiator} is not a client of this appliance",
                               2, NOT_AUTHORIZED)
        self.chap = self.chap_for(self.result.initiator)
        return [("TargetPortalGroupTag", "1")]

    def _security(self, keys: dict[str, str]) -> list[tuple[str, str]]:
        out = []
        if "AuthMethod" in keys:
            offered = keys["AuthMethod"].split(",")
            wanted = "CHAP" if self.chap is not None else "None"
            if wanted not in offered:
                raise LoginRefused(f"AuthMethod {wanted} is required", 2, AUTH_FAILED)
            out.append(("AuthMethod", wanted))
        if "CHAP_A" in keys:
            out += self._challenge(keys["CHAP_A"])
        if "CHAP_R" in keys:
            self._verify(keys.get("CHAP_N", ""), keys["CHAP_R"])
        return out

    def _challenge(self, algorithms: str) -> list[tuple[str, str]]:
        if self.chap is None or "5" not in algorithms.split(","):
            raise LoginRefused("CHAP with MD5 (CHAP_A=5) only", 2, AUTH_FAILED)
        ident, challenge = secrets.randbelow(256), secrets.token_bytes(16)
        self.chap_state = (ident, challenge)
        return [("CHAP_A", "5"), ("CHAP_I", str(ident)), ("CHAP_C", "0x" + challenge.hex())]

    def _verify(self, name: str, response: str) -> None:
        if self.chap is None or self.chap_state is None:
            raise LoginRefused("CHAP response without a challenge", 2, AUTH_FAILED)
        ident, challenge = self.chap_state
        expected = hashlib.md5(bytes([ident]) + self.chap.secret.encode() + challenge).digest()
        got = _chap_bytes(response)
        if name != self.chap.user or not hmac.compare_digest(expected, got):
            raise LoginRefused("CHAP authentication failed", 2, AUTH_FAILED)
        self.authenticated = True


def _chap_bytes(value: str) -> bytes:
    try:
        if value[:2].lower() == "0x":
            return bytes.fromhex(value[2:])
        if value[:2].lower() == "0b":
            return base64.b64decode(value[2:])
    except (ValueError, binascii.Error):
        pass
    return b""
