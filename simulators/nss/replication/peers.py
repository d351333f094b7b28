"""Pairing two appliances and talking to a paired peer.

``POST /peers {url, token}`` on appliance A checks B's token (``GET /appliance``), makes a fresh
256-bit pair key and hands B its own URL, token and the key (``POST /peers/handshake``). Each
side then calls the other with the other's bearer token, and every delta is sealed with the pair
key. Tokens and keys are stored in the metadata store and never returned by the API.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import requests
from tenacity import (
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from ..context import Context, utcnow
from ..errors import AlreadyExists, InUse, InvalidRequest, NssError, PeerUnreachable, not_found
from .logic.errors import is_transient
from .logic.wire import new_pair_key
from .throttle import TokenBucket

log = logging.getLogger(__name__)


class PeerRefused(NssError):
    """The peer answered with an error (its code and message are passed through)."""

    status = 502
    code = "peer-refused"


class PeerLink:
    """The HTTP client to one peer: one ``_request`` with timeouts and retries."""

    def __init__(self, peer: dict[str, Any], timeout: float = 30.0, attempts: int = 4) -> None:
        self.peer = peer
        self.timeout = timeout
        self.attempts = attempts
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {peer['token']}"

    def get(self, path: str) -> dict[str, Any]:
        return self.request("GET", path)

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.request("POST", path, json=body or {})

    def put_bytes(self, path: str, data: bytes) -> dict[str, Any]:
        return self.request("PUT", path, data=data,
                            headers={"Content-Type": "application/octet-stream"})

    def put_part(self, path: str, blob: bytes, bucket: TokenBucket) -> dict[str, Any]:
        """One delta part, paced by the link's token bucket (no retry here: a cycle resumes
        from the replica's acknowledgements instead)."""
        body = bucket.paced(blob) if bucket.rate > 0 else blob
        return self.request("PUT", path, data=body,
                            headers={"Content-Type": "application/octet-stream"})

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        call = retry(retry=retry_if_exception(_retryable), reraise=True,
                     stop=stop_after_attempt(self.attempts),
                     wait=wait_exponential(multiplier=0.2, max=3))(self._once)
        return call(method, path, **kwargs)

    def _once(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        url = f"{self.peer['url']}/api/v1{path}"
        try:
            resp = self._session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise PeerUnreachable(f"peer {self.peer['id']!r} at {self.peer['url']} did not "
                                  f"answer {method} {path}: {type(exc).__name__}",
                                  peer=self.peer["id"]) from None
        if resp.status_code in (502, 503, 504):
            raise PeerUnreachable(f"peer {self.peer['id']!r} answered {resp.status_code} to "
                                  f"{method} {path}", peer=self.peer["id"])
        if resp.status_code >= 400:
            raise _refused(self.peer["id"], resp)
        return resp.json() if resp.content else {}


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, PeerUnreachable) or is_transient(exc)


def _refused(peer_id: str, resp: requests.Response) -> PeerRefused:
    try:
        err = resp.json()["error"]
        return PeerRefused(f"peer {peer_id!r} refused: {err['message']}",
                           code=err.get("code", "peer-refused"), peer=peer_id,
                           peer_status=resp.status_code)
    except (ValueError, KeyError, TypeError):
        return PeerRefused(f"peer {peer_id!r} answered {resp.status_code}", peer=peer_id)


class Peers:
    def __init__(self, ctx: Context, identity: dict[str, Any]) -> None:
        self.ctx = ctx
        self.identity = identity  # {"id", "name", "url", "token"} of this appliance

    def list(self) -> list[dict[str, Any]]:
        rows = self.ctx.store.all("SELECT id, name, url, created FROM peers ORDER BY created")
        return [dict(r) for r in rows]

    def get(self, peer_id: str) -> dict[str, Any]:
        row = self.ctx.store.one("SELECT id, name, url, created FROM peers WHERE id=?", peer_id)
        if row is None:
            raise not_found("peer", peer_id)
        return dict(row)

    def secret(self, peer_id: str) -> dict[str, Any]:
        """The peer with its token and key: for PeerLink and delta sealing only."""
        row = self.ctx.store.one("SELECT * FROM peers WHERE id=?", peer_id)
        if row is None:
            raise not_found("peer", peer_id)
        return dict(row)

    def link(self, peer_id: str, **kwargs: Any) -> PeerLink:
        return PeerLink(self.secret(peer_id), **kwargs)

    def pair(self, url: str, token: str) -> dict[str, Any]:
        url = url.rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise InvalidRequest(f"url {url!r} is not an http(s) URL", field="url")
        probe = PeerLink({"id": url, "url": url, "token": token}, timeout=10, attempts=2)
        info = probe.get("/appliance")["appliance"]
        if info["id"] == self.identity["id"]:
            raise InvalidRequest("an appliance cannot pair with itself", field="url")
        if self.ctx.store.one("SELECT 1 FROM peers WHERE id=?", info["id"]):
            raise AlreadyExists(f"already paired with {info['id']!r}", id=info["id"])
        key = new_pair_key()
        probe.post("/peers/handshake", {
            "id": self.identity["id"], "name": self.identity["name"],
            "url": self.identity["url"], "token": self.identity["token"],
            "key": base64.b64encode(key).decode()})
        self._store(info["id"], info["name"], url, token, key)
        return self.get(info["id"])

    def accept(self, peer_id: str, name: str, url: str, token: str, key_b64: str) -> None:
        """The other half of ``pair``: called by the appliance that initiated pairing."""
        try:
            key = base64.b64decode(key_b64, validate=True)
        except ValueError:
            raise InvalidRequest("key is not base64", field="key") from None
        if len(key) != 32:
            raise InvalidRequest("key must be 32 bytes", field="key")
        if self.ctx.store.one("SELECT 1 FROM peers WHERE id=?", peer_id):
            raise AlreadyExists(f"already paired with {peer_id!r}", id=peer_id)
        self._store(peer_id, name, url.rstrip("/"), token, key)

    def unpair(self, peer_id: str) -> None:
        self.get(peer_id)
        used = self.ctx.store.all("SELECT id FROM replications WHERE peer_id=?", peer_id)
        if used:
            ids = [r[0] for r in used]
            raise InUse(f"peer {peer_id!r} is used by replications {', '.join(ids)}",
                        id=peer_id, replications=ids)
        with self.ctx.store.tx() as db:
            db.execute("DELETE FROM peers WHERE id=?", (peer_id,))

    def _store(self, peer_id: str, name: str, url: str, token: str, key: bytes) -> None:
        with self.ctx.store.tx() as db:
            db.execute("INSERT INTO peers(id, name, url, token, key, created) "
                       "VALUES(?,?,?,?,?,?)", (peer_id, name, url, token, key, utcnow()))
        log.info("paired with %s at %s", peer_id, url)
