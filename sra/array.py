"""The appliance's REST API (NSS-API.md) as one method per endpoint.

Every call goes through :meth:`ArrayClient._request`, the SRA's only HTTP boundary: it sets the
timeout, sends the bearer token, retries transient failures (connection errors, timeouts, 502, 503,
504) with tenacity, fails over to the next configured address, masks the token in anything it
logs or raises, and maps HTTP errors to :mod:`sra.errors` in one function, :func:`http_error`.

Imported lazily (only array verbs need it) so that query verbs start fast.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
import tenacity

from sra import errors
from sra.xmlio import Connection

API = "/api/v1"
TRANSIENT_STATUS = (502, 503, 504)
Json = dict[str, Any]


def base_url(address: str) -> str:
    """``host[:port]`` (https by default) or a full http(s) URL -> the API base URL."""
    address = address.strip().rstrip("/")
    if "://" not in address:
        address = "https://" + address
    scheme = address.split("://", 1)[0].lower()
    if scheme not in ("http", "https") or not address.split("://", 1)[1]:
        raise errors.InvalidParameter(f"Address {address!r} is not host[:port] or http(s)://")
    return address.removesuffix(API) + API


def client_for(conn: Connection, log: logging.Logger) -> ArrayClient:
    """The client for a request's Connection: Address(es), Password = API token, Opaques."""
    if not conn.addresses:
        raise errors.MissingConnection(f"Connection {conn.id!r} has no Address")
    if not conn.password:
        raise errors.MissingConnection(
            f"Connection {conn.id!r} has no Password (the appliance's API token)")
    verify = conn.opaque("verify_tls", "true").lower() not in ("false", "0", "no")
    try:
        timeout = float(conn.opaque("timeout", "30"))
        retries = int(conn.opaque("retries", "3"))
    except ValueError:
        raise errors.InvalidParameter("Opaque timeout/retries must be numbers") from None
    log.info("connection %r: %s as %r (verify_tls=%s, timeout=%ss)", conn.id,
             ", ".join(conn.addresses), conn.username, verify, timeout)
    return ArrayClient([base_url(a) for a in conn.addresses], conn.password, log=log,
                       verify=verify, timeout=timeout, retries=max(1, retries))


def http_error(method: str, path: str, status: int, body: Any) -> errors.SraError:
    """The one place an HTTP failure becomes an SRA error (code + message with the ids)."""
    detail = body.get("error", {}) if isinstance(body, dict) else {}
    code = detail.get("code", "") if isinstance(detail, dict) else ""
    message = detail.get("message", "") if isinstance(detail, dict) else ""
    text = f"{method} {path}: HTTP {status} {code} {message}".strip()
    if code == "peer-unreachable":
        return errors.PeerUnreachable(text, details={"status": status, "code": code})
    if code == "peer-refused":  # the peer answered, with an error: not worth retrying
        return errors.ArrayRejected(text, details={"status": status, "code": code})
    cls: type[errors.SraError] = {
        401: errors.ArrayAuthFailed, 403: errors.ArrayAuthFailed, 404: errors.ArrayNotFound,
        409: errors.ArrayConflict,
    }.get(status) or (errors.ArrayUnreachable if status in TRANSIENT_STATUS
                      else errors.ArrayInternal if status >= 500 else errors.ArrayRejected)
    extra = detail.get("details", {}) if isinstance(detail, dict) else {}
    return cls(text, details={"status": status, "code": code, "details": extra})


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, errors.SraError) and exc.name == "ArrayUnreachable"


class ArrayClient:
    """One appliance, reached at one of ``urls`` with ``token``."""

    def __init__(self, urls: list[str], token: str, *, log: logging.Logger,
                 verify: bool = True, timeout: float = 30.0, retries: int = 3) -> None:
        self.urls, self.log, self.timeout, self.retries = urls, log, timeout, retries
        self._token = token
        self.session = requests.Session()
        self.session.verify = verify
        self.session.headers["Authorization"] = f"Bearer {token}"

    def _mask(self, text: str) -> str:
        return text.replace(self._token, "********") if self._token else text

    def _request(self, method: str, path: str, *, json: Json | None = None,
                 params: Json | None = None) -> Json:
        """Send with retries of transient failures; return the decoded JSON body."""
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_transient), reraise=True,
            stop=tenacity.stop_after_attempt(self.retries),
            wait=tenacity.wait_exponential(multiplier=0.1, max=2.0))
        return retrying(self._once, method, path, json, params)

    def _once(self, method: str, path: str, json: Json | None, params: Json | None) -> Json:
        failure = ""
        for url in self.urls:
            try:
                resp = self.session.request(method, url + path, json=json, params=params,
                                            timeout=(min(5.0, self.timeout), self.timeout))
            except requests.RequestException as exc:
                failure = self._mask(f"{method} {url}{path}: {type(exc).__name__}")
                self.log.warning("%s", failure)
                continue
            return self._decode(method, path, resp)
        raise errors.ArrayUnreachable(failure or "no address")

    def _decode(self, method: str, path: str, resp: requests.Response) -> Json:
        try:
            body = resp.json() if resp.content else {}
        except ValueError:
            body = {}
        self.log.debug("%s %s -> %d", method, path, resp.status_code)
        if resp.status_code >= 400:
            raise http_error(method, path, resp.status_code, body)
        return body if isinstance(body, dict) else {"items": body}

    # -- endpoints: one method each ---------------------------------------------------------

    def appliance(self) -> Json:
        return self._request("GET", "/appliance")["appliance"]

    def peers(self) -> list[Json]:
        return self._request("GET", "/peers")["peers"]

    def luns(self) -> list[Json]:
        return self._request("GET", "/luns")["luns"]

    def lun(self, lun_id: str) -> Json:
        return self._request("GET", f"/luns/{lun_id}")["lun"]

    def set_access(self, lun_id: str, access: str) -> Json:
        return self._request("PATCH", f"/luns/{lun_id}", json={"access": access})["lun"]

    def delete_lun(self, lun_id: str) -> None:
        self._request("DELETE", f"/luns/{lun_id}")

    def groups(self) -> list[Json]:
        return self._request("GET", "/groups")["groups"]

    def replications(self) -> list[Json]:
        return self._request("GET", "/replications")["replications"]

    def replication(self, rep_id: str) -> Json:
        return self._request("GET", f"/replications/{rep_id}")["replication"]

    def sync(self, rep_id: str, quiesce: bool = False) -> Json:
        """``{"job": {...}}``, plus ``"warning"`` when a cycle was already running."""
        body = {"quiesce": True} if quiesce else {}
        return self._request("POST", f"/replications/{rep_id}/sync", json=body)

    def role_change(self, rep_id: str, action: str) -> Json:
        """promote | demote | split | reverse | resume: ``{"replication", "warning"?, "job"?}``."""
        return self._request("POST", f"/replications/{rep_id}/{action}")

    def job(self, job_id: str) -> Json:
        return self._request("GET", f"/jobs/{job_id}")["job"]

    def recovery_points(self, lun_id: str) -> list[Json]:
        return self._request("GET", f"/luns/{lun_id}/recovery-points")["recovery_points"]

    def create_timeview(self, snapshot_id: str, name: str) -> Json:
        body = {"name": name, "writable": True}
        return self._request("POST", f"/snapshots/{snapshot_id}/timeviews", json=body)["timeview"]

    def clients(self) -> list[Json]:
        return self._request("GET", "/clients")["clients"]

    def create_client(self, name: str, initiators: list[Json]) -> Json:
        body = {"name": name, "initiators": initiators}
        return self._request("POST", "/clients", json=body)["client"]

    def presentations(self, lun_id: str) -> list[Json]:
        return self._request("GET", f"/luns/{lun_id}/presentations")["presentations"]

    def present(self, lun_id: str, client_id: str) -> Json:
        path = f"/luns/{lun_id}/presentations"
        return self._request("POST", path, json={"client_id": client_id})["presentation"]

    def present_initiators(self, lun_id: str, initiators: list[Json]) -> Json:
        path = f"/luns/{lun_id}/presentations"
        return self._request("POST", path, json={"initiators": initiators})["presentation"]

    def unpresent(self, lun_id: str, presentation_id: str) -> None:
        self._request("DELETE", f"/luns/{lun_id}/presentations/{presentation_id}")
