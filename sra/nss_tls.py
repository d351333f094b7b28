"""TLS helpers of the appliance client: certificate pinning and why a handshake was refused."""

from __future__ import annotations

import re
from typing import Any

import requests
from requests.adapters import HTTPAdapter


class PinnedAdapter(HTTPAdapter):
    """An adapter whose connections check the server certificate's SHA-256 fingerprint. The pin
    replaces the CA chain and host name checks (an appliance's certificate is self-signed, and
    a CA bundle from the environment would otherwise turn those checks back on)."""

    def __init__(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["assert_fingerprint"] = self.fingerprint
        super().init_poolmanager(*args, **kwargs)

    def send(self, request: Any, **kwargs: Any) -> Any:
        kwargs["verify"] = False
        return super().send(request, **kwargs)


def pinned_session(fingerprint: str | None) -> requests.Session:
    """A session that talks HTTPS only to the certificate ``fingerprint`` names (no pin: a plain
    session)."""
    session = requests.Session()
    if fingerprint:
        session.mount("https://", PinnedAdapter(normal_fingerprint(fingerprint)))
    return session


def normal_fingerprint(value: str) -> str:
    """SHA-256 fingerprint as 64 lower-case hex digits (colons and spaces dropped)."""
    digits = re.sub(r"[\s:]", "", value).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digits):
        raise ValueError("a certificate fingerprint is 64 hex digits (SHA-256)")
    return digits


def untrusted(exc: Exception) -> str:
    """Why the server's certificate was refused ('' if the handshake failed otherwise)."""
    text = str(exc)
    reasons = {"CERTIFICATE_VERIFY_FAILED": "certificate not verified",
               "Fingerprints did not match": "certificate is not the pinned one",
               "doesn't match": "certificate is for another host name"}
    return next((why for marker, why in reasons.items() if marker in text), "")
