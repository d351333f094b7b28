"""Pairing two appliances and talking to a paired peer.

``POST /peers {url, token, fingerprint}`` on appliance A connects to B over HTTPS, accepting only
the certificate whose SHA-256 fingerprint the operator confirmed (B shows it at start and in
``GET /appliance``), checks B's token (``GET /appliance``), makes a fresh 256-bit pair key and
hands B its own URL, certificate fingerprint, token and the key (``POST /peers/handshake``).
Each side then calls the other with the other's bearer token over the pinned connection, and
every delta is sealed with the pair key. Plain ``http://`` pairing is refused unless both
appliances run ``--insecure`` (labs). A wrong token or fingerprint is a 400 naming it.

Unpairing is mutual: ``DELETE /peers/{id}`` tells the peer (``POST /peers/{me}/unpaired``) and
then forgets it; if the peer cannot be told, pairing again later replaces its stale record
(a handshake from an already known appliance, with the peer's own token, while no replication
uses the record). Tokens and keys are sealed in the metadata store (``sealing.py``) and never
returned by the API.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from sra.nss_client import NssApiError, NssClient, RetryPolicy

from ..context import Context, utcnow
from ..errors import AlreadyExists, InUse, InvalidRequest, NssError, PeerUnreachable, not_found
from ..sealing import place
from ..tls import normalize_fingerprint
from .logic.aead import new_pair_key
from .throttle import TokenBucket

log = logging.getLogger(__name__)


class PeerRefused(NssError):
    """The peer answered with an error (its code and message are passed through)."""

    status = 502
    code = "peer-refused"


class PairingRefused(NssError):
    """The peer refused the handshake (4xx): its status and code are passed through."""

    status = 409
    code = "pairing-refused"


class PeerCertificateMismatch(NssError):
    """The peer's TLS certificate is not the one whose fingerprint was confirmed."""

    status = 400
    code = "peer-fingerprint-mismatch"


class PeerLink:
    """The link to one peer: the repository's one appliance client (sra/nss_client.py) with
    replication's timeouts and retries; :func:`peer_error` turns its errors into the
    appliance's peer errors, in one place."""

    def __init__(self, peer: dict[str, Any], timeout: float = 30.0, attempts: int = 4) -> None:
        self.peer = peer
        self.client = NssClient(peer["url"], peer["token"], timeout,
                                retry=RetryPolicy(attempts, wait_multiplier=0.2, wait_max=3),
                                fingerprint=peer.get("fingerprint") or "", retry_on=_retryable)

    def get(self, path: str) -> dict[str, Any]:
        return self.request("GET", path)

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.request("POST", path, json=body or {})

    def put_bytes(self, path: str, data: bytes) -> dict[str, Any]:
        return self.request("PUT", path, data=data,
                            headers={"Content-Type": "application/octet-stream"})

    def put_part(self, path: str, blob: bytes, bucket: TokenBucket) -> dict[str, Any]:
        """One delta part, paced by the link's token bucket (a cycle resumes from the replica's
        acknowledgements rather than resending a whole delta)."""
        body = bucket.paced(blob) if bucket.rate > 0 else blob
        return self.request("PUT", path, data=body,
                            headers={"Content-Type": "application/octet-stream"})

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return self.client.call(method, path, **kwargs)
        except NssApiError as exc:
            raise peer_error(self.peer, method, path, exc) from None


def _retryable(exc: NssApiError) -> bool:
    """Nothing answered, or the peer (or a proxy) said it is unavailable: try again."""
    return (exc.status == 0 and exc.code in ("unreachable", "timeout")) or \
        exc.status in (502, 503, 504)


def peer_error(peer: dict[str, Any], method: str, path: str, exc: NssApiError) -> NssError:
    """The one place a peer's answer (or its silence) becomes an appliance error."""
    if exc.code == "tls-untrusted" and peer.get("fingerprint"):
        return PeerCertificateMismatch(
            f"the appliance at {peer['url']} presented a certificate whose SHA-256 fingerprint "
            f"is not {peer.get('fingerprint')}; nothing was sent", field="fingerprint")
    if exc.status == 0 or exc.status in (502, 503, 504):
        return PeerUnreachable(f"peer {peer['id']!r} at {peer['url']} did not answer {method} "
                               f"{path}: {exc.code}", peer=peer["id"])
    if exc.code == "http-error":
        return PeerRefused(f"peer {peer['id']!r} answered {exc.status}", peer=peer["id"])
    return PeerRefused(f"peer {peer['id']!r} refused: {exc.message}", code=exc.code,
                       peer=peer["id"], peer_status=exc.status)


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
        box = self.ctx.box
        return {**dict(row), "token": box.open_text(row["token"], place("peers", "token", peer_id)),
                "key": box.open(row["key"], place("peers", "key", peer_id))}

    def link(self, peer_id: str, **kwargs: Any) -> PeerLink:
        return PeerLink(self.secret(peer_id), **kwargs)

    def pair(self, url: str, token: str, fingerprint: str | None = None) -> dict[str, Any]:
        url = url.rstrip("/")
        pinned = self._check_channel(url, fingerprint, "url")
        probe = PeerLink({"id": url, "url": url, "token": token, "fingerprint": pinned},
                         timeout=10, attempts=2)
        info = _as_pairing_error(lambda: probe.get("/appliance"))["appliance"]
        if info["id"] == self.identity["id"]:
            raise InvalidRequest("an appliance cannot pair with itself", field="url")
        if self.ctx.store.one("SELECT 1 FROM peers WHERE id=?", info["id"]):
            raise AlreadyExists(f"already paired with {info['id']!r}", id=info["id"])
        key = new_pair_key()
        _as_pairing_error(lambda: probe.post("/peers/handshake", {
            "id": self.identity["id"], "name": self.identity["name"],
            "url": self.identity["url"], "token": self.identity["token"],
            "key": base64.b64encode(key).decode(),
            "fingerprint": self.identity.get("fingerprint")}))
        self._store(info["id"], info["name"], url, token, key, pinned)
        return self.get(info["id"])

    def accept(self, peer_id: str, name: str, url: str, token: str, key_b64: str,
               fingerprint: str | None = None) -> None:
        """The other half of ``pair``: called by the appliance that initiated pairing."""
        try:
            key = base64.b64decode(key_b64, validate=True)
        except ValueError:
            raise InvalidRequest("key is not base64", field="key") from None
        if len(key) != 32:
            raise InvalidRequest("key must be 32 bytes", field="key")
        url = url.rstrip("/")
        pinned = self._check_channel(url, fingerprint, "url")
        if self.ctx.store.one("SELECT 1 FROM peers WHERE id=?", peer_id):
            self._forget(peer_id, "re-paired: it was unpaired while this side was unreachable")
        self._store(peer_id, name, url, token, key, pinned)

    def unpair(self, peer_id: str) -> bool:
        """Forget the peer on both sides; returns whether the peer could be told."""
        self._refuse_if_used(peer_id)
        try:
            self.link(peer_id, attempts=1, timeout=10).post(
                f"/peers/{self.identity['id']}/unpaired")
            told = True
        except NssError as exc:
            log.warning("unpairing %s: the peer was not told (%s); pairing again replaces its "
                        "stale record", peer_id, exc.code)
            told = False
        self._delete(peer_id)
        return told

    def unpaired_by_peer(self, peer_id: str) -> None:
        """The peer forgot this appliance: forget it too (refused while replications use it)."""
        self._forget(peer_id, "unpaired by the peer")

    # ---------------------------------------------------------------- internals
    def _check_channel(self, url: str, fingerprint: str | None, field: str) -> str | None:
        """The pinned fingerprint for ``url``; plain HTTP only on an ``--insecure`` appliance."""
        if url.startswith("http://"):
            if not self.identity.get("insecure"):
                raise InvalidRequest(
                    f"{field} {url!r}: pairing over plain HTTP would send API tokens and the "
                    "pair key in clear; give the peer's https:// URL and its certificate "
                    "fingerprint (plain HTTP only between appliances run with --insecure)",
                    field=field, code="plain-http-refused")
            return None
        if not url.startswith("https://"):
            raise InvalidRequest(f"{field} {url!r} is not an http(s) URL", field=field)
        pinned = normalize_fingerprint(fingerprint or "")
        if pinned is None:
            raise InvalidRequest(
                "fingerprint: the peer's certificate SHA-256 fingerprint (64 hex digits, as "
                "`drkit nss serve` and GET /appliance on the peer show it) is required to pair "
                f"over https, got {fingerprint!r}", field="fingerprint")
        return pinned

    def _refuse_if_used(self, peer_id: str) -> None:
        self.get(peer_id)
        used = self.ctx.store.all("SELECT id FROM replications WHERE peer_id=?", peer_id)
        if used:
            ids = [r[0] for r in used]
            raise InUse(f"peer {peer_id!r} is used by replications {', '.join(ids)}",
                        id=peer_id, replications=ids)

    def _forget(self, peer_id: str, why: str) -> None:
        self._refuse_if_used(peer_id)
        self._delete(peer_id)
        log.info("forgot peer %s: %s", peer_id, why)

    def _delete(self, peer_id: str) -> None:
        with self.ctx.store.tx() as db:
            db.execute("DELETE FROM peers WHERE id=?", (peer_id,))

    def _store(self, peer_id: str, name: str, url: str, token: str, key: bytes,
               fingerprint: str | None) -> None:
        box = self.ctx.box
        sealed_token = box.seal(token, place("peers", "token", peer_id))
        sealed_key = box.seal(key, place("peers", "key", peer_id))
        with self.ctx.store.tx() as db:
            db.execute("INSERT INTO peers(id, name, url, token, key, fingerprint, created) "
                       "VALUES(?,?,?,?,?,?,?)",
                       (peer_id, name, url, sealed_token, sealed_key, fingerprint, utcnow()))
        log.info("paired with %s at %s", peer_id, url)


def _as_pairing_error(call: Any) -> dict[str, Any]:
    """During pairing the peer's refusal is about this request: a 4xx, not 502."""
    try:
        return call()
    except PeerRefused as exc:
        status = exc.details.get("peer_status", 502)
        if status == 401:
            raise InvalidRequest("token: the peer rejected the API token given for it (401); "
                                 "nothing was paired", field="token",
                                 code="peer-token-rejected") from None
        if 400 <= status < 500:
            refused = PairingRefused(exc.message, code=exc.code, peer_status=status)
            refused.status = status
            raise refused from None
        raise
