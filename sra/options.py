"""A request's Connection -> the appliance's URLs, its token and the SRA's connection options.

SRM shows the user only what queryConnectionParameters declares: Address, Username, Password.
The options travel in the Address as a query string (documented in sra/README.md)::

    https://nss-a.example:8443/?verify_tls=false&quiesce=true&timeout=20

Legacy input: ``Connection/Opaques/Opaque@id`` (what older drkit SRAs declared, and what drkit's
orchestrator still sends) is read as more options with the same names and checks; a value that
differs from the Address's is refused. SRM never sends them, since they are not declared.

Every value is checked here; a wrong one is :class:`~sra.errors.InvalidParameter` (1006) naming
the option, never an internal error. Credentials written into an Address
(``https://user:pw@host``) are ignored, and :func:`secrets` lists them so that they are masked in
every log line and message.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from sra import errors
from sra.xmlio import Connection

API = "/api/v1"
TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
# name -> (low, high) for numbers; SRM kills a command after 300 s, so the deadline stays inside.
RANGES = {"timeout": (1.0, 120.0), "retries": (1, 10), "deadline": (10.0, 270.0)}
KNOWN = ("verify_tls", "ca_file", "fingerprint", "timeout", "retries", "deadline", "quiesce")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Options:
    verify_tls: bool = True
    ca_file: str = ""
    fingerprint: str = ""
    timeout: float = 30.0
    retries: int = 3
    deadline: float = 200.0
    quiesce: bool = False

    @property
    def verify(self) -> bool | str:
        """What requests takes as ``verify``: False, True (system store) or a CA file."""
        return (self.ca_file or True) if self.verify_tls else False


@dataclass(frozen=True)
class Target:
    """Where and how to reach the appliance."""

    urls: tuple[str, ...]
    token: str
    options: Options


def userinfo(address: str) -> str:
    """The ``user:pw`` of an Address written as a URL with credentials ('' if none)."""
    netloc = urlsplit(address.strip()).netloc if "://" in address else ""
    return netloc.rpartition("@")[0]


def secrets(conn: Connection) -> list[str]:
    """Everything of ``conn`` that must never be shown: the password and URL credentials."""
    found = [conn.password]
    for address in conn.addresses:
        info = userinfo(address)
        found += [info, info.partition(":")[2]]
    return sorted({s for s in found if s}, key=len, reverse=True)


def scrub(address: str) -> str:
    """An Address as it may be logged: no credentials."""
    info = userinfo(address)
    return address.replace(info + "@", "") if info else address


def _split(address: str) -> tuple[str, dict[str, str]]:
    """``address`` -> (API base URL, options of its query string)."""
    text = address.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    host = parts.netloc.rpartition("@")[2]
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise errors.InvalidParameter(
            f"Address {scrub(address)!r} is not host[:port] or http(s)://host[:port]")
    if parts.path.rstrip("/") not in ("", API):
        raise errors.InvalidParameter(
            f"Address {scrub(address)!r}: the path must be empty or {API}")
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise errors.InvalidParameter(
            f"Address {scrub(address)!r}: the query string is not name=value&...") from None
    base = urlunsplit((parts.scheme.lower(), host, API, "", ""))
    return base, dict(pairs)


def _merge(found: list[dict[str, str]]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for opts in found:
        for key, value in opts.items():
            if key not in KNOWN:
                raise errors.InvalidParameter(
                    f"Address option {key!r} is unknown (known: {', '.join(KNOWN)})")
            if merged.setdefault(key, value) != value:
                raise errors.InvalidParameter(
                    f"Address option {key!r} is given twice with different values")
    return merged


def _bool(opts: dict[str, str], key: str, default: bool) -> bool:
    value = opts.get(key, "").strip().lower()
    if not value:
        return default
    if value not in TRUE + FALSE:
        raise errors.InvalidParameter(f"Address option {key}={value!r} is not true or false")
    return value in TRUE


def _number(opts: dict[str, str], key: str, default: float) -> float:
    if key not in opts:
        return default
    low, high = RANGES[key]
    try:
        value = float(opts[key])
    except ValueError:
        value = math.nan
    whole = isinstance(low, int)
    if not (low <= value <= high) or (whole and not value.is_integer()):
        kind = "a whole number" if whole else "a number"
        raise errors.InvalidParameter(
            f"Address option {key}={opts[key][:40]!r} is not {kind} from {low} to {high}")
    return value


def _tls(opts: dict[str, str]) -> tuple[str, str]:
    from sra.nss_tls import normal_fingerprint

    ca_file, fingerprint = opts.get("ca_file", ""), opts.get("fingerprint", "")
    if ca_file and not os.path.isfile(ca_file):
        raise errors.InvalidParameter(f"Address option ca_file={ca_file!r} is not a file")
    try:
        return ca_file, normal_fingerprint(fingerprint) if fingerprint else ""
    except ValueError as exc:
        raise errors.InvalidParameter(f"Address option fingerprint: {exc}") from None


def options(opts: dict[str, str]) -> Options:
    ca_file, fingerprint = _tls(opts)
    return Options(
        verify_tls=_bool(opts, "verify_tls", True), ca_file=ca_file, fingerprint=fingerprint,
        timeout=_number(opts, "timeout", 30.0), retries=int(_number(opts, "retries", 3)),
        deadline=_number(opts, "deadline", 200.0), quiesce=_bool(opts, "quiesce", False))


def _token(conn: Connection) -> str:
    if not conn.password:
        raise errors.MissingConnection(
            f"Connection {conn.id!r} has no Password (the appliance's API token)")
    if _CONTROL.search(conn.password):
        raise errors.InvalidParameter(
            f"Connection {conn.id!r}: the Password contains a line break or control character")
    return conn.password


def target(conn: Connection) -> Target:
    """The checked URLs, token and options of ``conn``."""
    if not conn.addresses:
        raise errors.MissingConnection(f"Connection {conn.id!r} has no Address")
    token = _token(conn)
    split = [_split(a) for a in conn.addresses]
    found = [o for _, o in split] + [dict(conn.opaques)]
    return Target(tuple(u for u, _ in split), token, options(_merge(found)))
