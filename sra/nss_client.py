"""The one HTTP client of the NSS appliance's REST API (NSS-API.md): one method per endpoint.

Shipped with the SRA (it needs only requests and tenacity) and used by everything else that talks
to an appliance: the ``nss`` CLI, the lab, the Snapshot Agent, tests and benchmarks.

Every call goes through :meth:`NssClient._request`, the one transport boundary. It

* escapes every path segment and refuses one that is empty, ``.`` or ``..``;
* sets a connect and a read timeout, never longer than what is left of an optional total
  ``deadline``;
* retries only transient failures (:func:`transient`, or the caller's ``retry_on``) with
  tenacity under a :class:`RetryPolicy`, trying every address in turn before each back-off;
* raises one error type, :class:`NssApiError` (``status`` 0 when nothing was answered), whose
  text never holds the token or URL credentials.

TLS: ``verify`` is ``True`` (system store), ``False``, or a CA bundle path; ``fingerprint``
(SHA-256 of the server certificate, hex, colons allowed) pins the certificate, with or without
verification.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests
import tenacity

from sra.nss_tls import pinned_session, untrusted

API = "/api/v1"
TRANSIENT_STATUS = (502, 503, 504)
Json = dict[str, Any]
MASK = "********"


class NssApiError(Exception):
    """An error answer of the appliance, or none: ``status`` 0 with code ``unreachable``,
    ``timeout``, ``tls-untrusted`` (certificate not verified or not the pinned one),
    ``tls-failed`` (no TLS handshake: not an HTTPS port?), ``deadline``, ``invalid-id`` or
    ``invalid-request``; a failed job raises its own code with ``status`` 200, a job that does
    not end in time ``job-timeout``."""

    def __init__(self, status: int, code: str, message: str,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.details = details or {}


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a transient failure is tried again."""

    attempts: int = 3
    wait_multiplier: float = 0.1
    wait_max: float = 2.0


def strip_credentials(url: str) -> tuple[str, str]:
    """``http://user:pw@host`` -> (``http://host``, ``user:pw``); URLs without them unchanged."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, ""
    userinfo, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=host)), userinfo


def segment(value: object) -> str:
    """One URL path segment, escaped; an empty, ``.`` or ``..`` id is refused."""
    text = str(value)
    if text in ("", ".", "..") or any(ord(c) < 0x20 for c in text):
        raise NssApiError(0, "invalid-id", f"{text!r} is not an id")
    return quote(text, safe="")


def path(template: str, *ids: object) -> str:
    """``path("/luns/{}/data", lun_id)`` with every id escaped as one segment."""
    return template.format(*(segment(i) for i in ids))


def transient(exc: NssApiError) -> bool:
    """The default retry rule: nothing answered (no connection), or a 502/503/504 that carries
    no appliance error code (a proxy or a restarting server). A coded answer (``quiesce-failed``,
    ``peer-unreachable`` ...) is the appliance's verdict and goes to the caller at once; a read
    timeout is not retried either (the request may have been carried out)."""
    if exc.status == 0:
        return exc.code == "unreachable"
    return exc.status in TRANSIENT_STATUS and exc.code == "http-error"


class NssClient:
    """One appliance, reached at one of ``urls`` (tried in order) with ``token``."""

    def __init__(self, url: str | Sequence[str], token: str, timeout: float = 30.0, *,
                 connect_timeout: float = 5.0, retry: RetryPolicy = RetryPolicy(),
                 verify: bool | str = True, fingerprint: str = "",
                 deadline: float | None = None,
                 on_attempt: Callable[[], None] | None = None,
                 retry_on: Callable[[NssApiError], bool] | None = None) -> None:
        urls = [url] if isinstance(url, str) else list(url)
        cleaned = [strip_credentials(u.rstrip("/")) for u in urls]
        self.urls = [u.removesuffix(API) for u, _ in cleaned]
        self.url = self.urls[0]
        self.fingerprint = fingerprint  # of the certificate pinned ('' when none is)
        self.timeout, self.connect_timeout, self.retry = timeout, connect_timeout, retry
        self.deadline, self.on_attempt = deadline, on_attempt
        self.retry_on = retry_on or transient
        # a secret of a few characters guards nothing and would garble every message
        self._secrets = [s for s in [token, *(c for _, c in cleaned)] if len(s or "") >= 4]
        self.verify = verify  # passed on every request: a session's verify loses to
        self._session = pinned_session(fingerprint)  # $REQUESTS_CA_BUNDLE, an explicit one not
        self._session.headers["Authorization"] = f"Bearer {token}"

    def __repr__(self) -> str:  # never show the token
        return f"NssClient({self.url!r})"

    # ------------------------------------------------------------ appliance
    def healthz(self) -> bool:
        return self._request("GET", "/healthz")["status"] == "ok"

    def appliance(self) -> Json:
        return self._request("GET", "/appliance")["appliance"]

    # ------------------------------------------------------------ luns & data
    def list_luns(self, role: str | None = None) -> list[Json]:
        return self._request("GET", "/luns", params={"role": role} if role else None)["luns"]

    def create_lun(self, name: str, size_bytes: int) -> Json:
        return self._request("POST", "/luns", json={"name": name, "size_bytes": size_bytes})["lun"]

    def get_lun(self, lun_id: str) -> Json:
        return self._request("GET", path("/luns/{}", lun_id))["lun"]

    def update_lun(self, lun_id: str, **fields: Any) -> Json:
        return self._request("PATCH", path("/luns/{}", lun_id), json=fields)["lun"]

    def delete_lun(self, lun_id: str) -> None:
        self._request("DELETE", path("/luns/{}", lun_id))

    def write(self, lun_id: str, offset: int, data: bytes) -> None:
        self._request("PUT", path("/luns/{}/data", lun_id), params={"offset": offset},
                      data=data, headers={"Content-Type": "application/octet-stream"})

    def read(self, lun_id: str, offset: int, length: int) -> bytes:
        return self._request("GET", path("/luns/{}/data", lun_id), raw=True,
                             params={"offset": offset, "length": length})

    def read_snapshot(self, snap_id: str, offset: int, length: int) -> bytes:
        return self._request("GET", path("/snapshots/{}/data", snap_id), raw=True,
                             params={"offset": offset, "length": length})

    # ------------------------------------------------------------ san
    def list_clients(self) -> list[Json]:
        return self._request("GET", "/clients")["clients"]

    def create_client(self, name: str, initiators: list[dict[str, str]] | None = None) -> Json:
        body = {"name": name, "initiators": initiators or []}
        return self._request("POST", "/clients", json=body)["client"]

    def get_client(self, client_id: str) -> Json:
        return self._request("GET", path("/clients/{}", client_id))["client"]

    def delete_client(self, client_id: str) -> None:
        self._request("DELETE", path("/clients/{}", client_id))

    def present(self, lun_id: str, client_id: str | None = None,
                initiators: list[dict[str, str]] | None = None,
                lun_number: int | None = None) -> Json:
        body = {k: v for k, v in (("client_id", client_id), ("initiators", initiators),
                                  ("lun_number", lun_number)) if v is not None}
        return self._request("POST", path("/luns/{}/presentations", lun_id),
                             json=body)["presentation"]

    def list_presentations(self, lun_id: str) -> list[Json]:
        return self._request("GET", path("/luns/{}/presentations", lun_id))["presentations"]

    def unpresent(self, lun_id: str, pres_id: str) -> None:
        self._request("DELETE", path("/luns/{}/presentations/{}", lun_id, pres_id))

    def visible_devices(self, kind: str, initiator: str) -> list[Json]:
        params = {"type": kind, "id": initiator}
        return self._request("GET", "/visible-devices", params=params)["devices"]

    # ------------------------------------------------------------ snapshots, groups, timeviews
    def create_snapshot(self, lun_id: str, quiesce: bool = False,
                        on_quiesce_failure: str = "crash") -> Json:
        body = {"quiesce": quiesce, "on_quiesce_failure": on_quiesce_failure}
        return self._request("POST", path("/luns/{}/snapshots", lun_id), json=body)["snapshot"]

    def list_snapshots(self, lun_id: str) -> list[Json]:
        return self._request("GET", path("/luns/{}/snapshots", lun_id))["snapshots"]

    def get_snapshot(self, snap_id: str) -> Json:
        return self._request("GET", path("/snapshots/{}", snap_id))["snapshot"]

    def delete_snapshot(self, snap_id: str) -> None:
        self._request("DELETE", path("/snapshots/{}", snap_id))

    def create_group(self, name: str, lun_ids: list[str]) -> Json:
        return self._request("POST", "/groups", json={"name": name, "luns": lun_ids})["group"]

    def list_groups(self) -> list[Json]:
        return self._request("GET", "/groups")["groups"]

    def get_group(self, group_id: str) -> Json:
        return self._request("GET", path("/groups/{}", group_id))["group"]

    def delete_group(self, group_id: str) -> None:
        self._request("DELETE", path("/groups/{}", group_id))

    def group_snapshot(self, group_id: str, quiesce: bool = False,
                       on_quiesce_failure: str = "crash") -> Json:
        body = {"quiesce": quiesce, "on_quiesce_failure": on_quiesce_failure}
        return self._request("POST", path("/groups/{}/snapshots", group_id),
                             json=body)["group_snapshot"]

    def create_timeview(self, snap_id: str, name: str | None = None,
                        writable: bool = True) -> Json:
        body = {"writable": writable, **({"name": name} if name else {})}
        return self._request("POST", path("/snapshots/{}/timeviews", snap_id),
                             json=body)["timeview"]

    # ------------------------------------------------------------ peers & replication
    def pair(self, url: str, token: str, fingerprint: str | None = None) -> Json:
        """Pair with the appliance at ``url``; over https ``fingerprint`` (its certificate's
        SHA-256, as it shows it) is required, and pinned for every later call to it."""
        body = {"url": url, "token": token, **({"fingerprint": fingerprint} if fingerprint
                                                else {})}
        return self._request("POST", "/peers", json=body)["peer"]

    def iscsi_targets(self) -> list[Json]:
        return self._request("GET", "/iscsi/targets")["targets"]

    def iscsi_sessions(self) -> list[Json]:
        return self._request("GET", "/iscsi/sessions")["sessions"]

    def list_peers(self) -> list[Json]:
        return self._request("GET", "/peers")["peers"]

    def create_replication(self, source: str, peer: str, policy: Json | None = None,
                           **options: Any) -> Json:
        """Create a replication (``policy``: when cycles run, the RPO objective, the link's
        bandwidth); answers ``{"replication": ..., "job": <initial sync>}``."""
        body = {"source": source, "peer": peer, "options": options,
                **({"policy": policy} if policy is not None else {})}
        return self._request("POST", "/replications", json=body)

    def update_replication(self, rep_id: str, **changes: Any) -> Json:
        """PATCH a replication: ``policy={...}`` (fields merge), ``xor=bool``,
        ``keep_points=N`` (recovery points the replica keeps)."""
        return self._request("PATCH", path("/replications/{}", rep_id),
                             json=changes)["replication"]

    def replication_events(self, rep_id: str, kind: str | None = None) -> list[Json]:
        params = {"kind": kind} if kind else None
        return self._request("GET", path("/replications/{}/events", rep_id),
                             params=params)["events"]

    def list_replications(self) -> list[Json]:
        return self._request("GET", "/replications")["replications"]

    def get_replication(self, rep_id: str) -> Json:
        return self._request("GET", path("/replications/{}", rep_id))["replication"]

    def delete_replication(self, rep_id: str) -> None:
        self._request("DELETE", path("/replications/{}", rep_id))

    def sync(self, rep_id: str, quiesce: bool = False) -> Json:
        """Start a cycle; answers the job (with ``warning`` if one was already running)."""
        answer = self._request("POST", path("/replications/{}/sync", rep_id),
                               json={"quiesce": quiesce})
        return {**answer["job"], **({"warning": answer["warning"]} if "warning" in answer
                                    else {})}

    def sync_wait(self, rep_id: str, quiesce: bool = False, timeout: float = 120) -> Json:
        return self.wait_job(self.sync(rep_id, quiesce)["id"], timeout)

    def role(self, rep_id: str, verb: str) -> Json:
        """promote | demote | split | reverse | resume: ``{"replication", "warning"?, "job"?}``."""
        return self._request("POST", path("/replications/{}/{}", rep_id, verb))

    def replication_stats(self, rep_id: str) -> Json:
        return self._request("GET", path("/replications/{}/stats", rep_id))["stats"]

    def recovery_points(self, lun_id: str) -> list[Json]:
        return self._request("GET", path("/luns/{}/recovery-points", lun_id))["recovery_points"]

    # ------------------------------------------------------------ agents & jobs
    def register_agent(self, name: str, url: str, token: str, luns: list[str],
                       timeout_ms: int = 5000) -> Json:
        body = {"name": name, "url": url, "token": token, "luns": luns, "timeout_ms": timeout_ms}
        return self._request("POST", "/agents", json=body)["agent"]

    def list_agents(self) -> list[Json]:
        return self._request("GET", "/agents")["agents"]

    def delete_agent(self, agent_id: str) -> None:
        self._request("DELETE", path("/agents/{}", agent_id))

    def job(self, job_id: str) -> Json:
        return self._request("GET", path("/jobs/{}", job_id))["job"]

    def wait_job(self, job_id: str, timeout: float = 60.0, interval: float = 0.05) -> Json:
        """Poll until the job ends; a failed job raises its error as :class:`NssApiError`."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["state"] == "succeeded":
                return job
            if job["state"] == "failed":
                err = job.get("error") or {}
                raise NssApiError(200, err.get("code", "job-failed"),
                                  err.get("message", "job failed"), {"job": job_id})
            if time.monotonic() > deadline:
                raise NssApiError(0, "job-timeout", f"job {job_id} still {job['state']} after "
                                  f"{timeout}s", {"job": job_id})
            time.sleep(interval)

    # ------------------------------------------------------------ raw bodies (peer links)
    def call(self, method: str, api_path: str, **kwargs: Any) -> Any:
        """Any endpoint: ``api_path`` below /api/v1 (ids already escaped with :func:`path`),
        ``json=``/``data=``/``params=``/``headers=``, ``raw=True`` for the body's bytes."""
        return self._request(method, api_path, **kwargs)

    # ------------------------------------------------------------ transport
    def _request(self, method: str, api_path: str, *, raw: bool = False, **kwargs: Any) -> Any:
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(self._retryable), reraise=True,
            stop=tenacity.stop_after_attempt(max(1, self.retry.attempts)),
            wait=tenacity.wait_exponential(multiplier=self.retry.wait_multiplier,
                                           max=self.retry.wait_max))
        resp = retrying(self._any_address, method, api_path, kwargs)
        if raw:
            return resp.content
        try:
            return resp.json() if resp.content else {}
        except ValueError:
            raise NssApiError(resp.status_code, "bad-answer",
                              f"{method} {api_path}: the answer is not JSON") from None

    def _retryable(self, exc: BaseException) -> bool:
        return (isinstance(exc, NssApiError) and self._remaining() != 0.0
                and self.retry_on(exc))

    def _remaining(self) -> float | None:
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def _timeouts(self) -> tuple[float, float]:
        left = self._remaining()
        if left == 0.0:
            raise NssApiError(0, "deadline", "the command's time is used up")
        read = self.timeout if left is None else min(self.timeout, left)
        return min(self.connect_timeout, read), read

    def _any_address(self, method: str, api_path: str, kwargs: dict) -> requests.Response:
        failure: NssApiError | None = None
        for url in self.urls:
            if self.on_attempt:
                self.on_attempt()
            try:
                return self._once(method, url, api_path, kwargs)
            except NssApiError as exc:
                if exc.status or exc.code != "unreachable":
                    raise
                failure = exc
        raise failure or NssApiError(0, "unreachable", "no address")

    def _once(self, method: str, url: str, api_path: str, kwargs: dict) -> requests.Response:
        try:
            resp = self._session.request(method, f"{url}{API}{api_path}",
                                         timeout=self._timeouts(), verify=self.verify,
                                         **kwargs)
        except requests.exceptions.SSLError as exc:
            reason = untrusted(exc)
            raise NssApiError(0, "tls-untrusted" if reason else "tls-failed", self.mask(
                f"{method} {url}{API}{api_path}: TLS: {reason or 'handshake failed'}")) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            code = "timeout" if isinstance(exc, requests.ReadTimeout) else "unreachable"
            raise NssApiError(0, code, self.mask(
                f"{method} {url}{API}{api_path}: {type(exc).__name__}")) from None
        except (requests.RequestException, ValueError) as exc:
            raise NssApiError(0, "invalid-request", self.mask(
                f"{method} {url}{API}{api_path}: {type(exc).__name__}")) from None
        if resp.status_code >= 400:
            raise self._error(resp)
        return resp

    def _error(self, resp: requests.Response) -> NssApiError:
        try:
            err = resp.json()["error"]
            return NssApiError(resp.status_code, str(err["code"]), self.mask(str(err["message"])),
                               err.get("details") or {})
        except (ValueError, KeyError, TypeError):  # not the appliance's error shape: say what came
            body = " ".join(resp.text.split())[:200] or "(empty body)"
            what = f"HTTP {resp.status_code} {resp.reason or ''}".strip()
            return NssApiError(resp.status_code, "http-error",
                               self.mask(f"{what} from {resp.url}, not an appliance answer: "
                                         f"{body}"))

    def mask(self, text: str) -> str:
        """``text`` with the token and any URL credentials replaced by ********."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text
