"""A small Python client of the appliance REST API, for the CLI, tests, the lab and peers.

Every call goes through ``_request``: one timeout, one error translation
(HTTP error body → :class:`NssApiError` with the appliance's stable code).
"""

from __future__ import annotations

import time
from typing import Any

import requests


class NssApiError(Exception):
    """An error answer from the appliance (or no answer: status 0, code ``unreachable``)."""

    def __init__(self, status: int, code: str, message: str,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


class NssClient:
    def __init__(self, url: str, token: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {token}"

    def __repr__(self) -> str:  # never show the token
        return f"NssClient({self.url!r})"

    # ------------------------------------------------------------ appliance
    def healthz(self) -> bool:
        return self._request("GET", "/healthz")["status"] == "ok"

    def appliance(self) -> dict[str, Any]:
        return self._request("GET", "/appliance")["appliance"]

    # ------------------------------------------------------------ luns & data
    def list_luns(self, role: str | None = None) -> list[dict[str, Any]]:
        return self._request("GET", "/luns", params={"role": role} if role else None)["luns"]

    def create_lun(self, name: str, size_bytes: int) -> dict[str, Any]:
        return self._request("POST", "/luns", json={"name": name, "size_bytes": size_bytes})["lun"]

    def get_lun(self, lun_id: str) -> dict[str, Any]:
        return self._request("GET", f"/luns/{lun_id}")["lun"]

    def update_lun(self, lun_id: str, **fields: Any) -> dict[str, Any]:
        return self._request("PATCH", f"/luns/{lun_id}", json=fields)["lun"]

    def delete_lun(self, lun_id: str) -> None:
        self._request("DELETE", f"/luns/{lun_id}")

    def write(self, lun_id: str, offset: int, data: bytes) -> None:
        self._request("PUT", f"/luns/{lun_id}/data", params={"offset": offset}, data=data,
                      headers={"Content-Type": "application/octet-stream"})

    def read(self, lun_id: str, offset: int, length: int) -> bytes:
        return self._request("GET", f"/luns/{lun_id}/data", raw=True,
                             params={"offset": offset, "length": length})

    def read_snapshot(self, snap_id: str, offset: int, length: int) -> bytes:
        return self._request("GET", f"/snapshots/{snap_id}/data", raw=True,
                             params={"offset": offset, "length": length})

    # ------------------------------------------------------------ san
    def list_clients(self) -> list[dict[str, Any]]:
        return self._request("GET", "/clients")["clients"]

    def create_client(self, name: str, initiators: list[dict[str, str]] | None = None) -> dict:
        body = {"name": name, "initiators": initiators or []}
        return self._request("POST", "/clients", json=body)["client"]

    def get_client(self, client_id: str) -> dict[str, Any]:
        return self._request("GET", f"/clients/{client_id}")["client"]

    def delete_client(self, client_id: str) -> None:
        self._request("DELETE", f"/clients/{client_id}")

    def present(self, lun_id: str, client_id: str | None = None,
                initiators: list[dict[str, str]] | None = None,
                lun_number: int | None = None) -> dict[str, Any]:
        body = {k: v for k, v in (("client_id", client_id), ("initiators", initiators),
                                  ("lun_number", lun_number)) if v is not None}
        return self._request("POST", f"/luns/{lun_id}/presentations", json=body)["presentation"]

    def list_presentations(self, lun_id: str) -> list[dict[str, Any]]:
        return self._request("GET", f"/luns/{lun_id}/presentations")["presentations"]

    def unpresent(self, lun_id: str, pres_id: str) -> None:
        self._request("DELETE", f"/luns/{lun_id}/presentations/{pres_id}")

    def visible_devices(self, kind: str, initiator: str) -> list[dict[str, Any]]:
        params = {"type": kind, "id": initiator}
        return self._request("GET", "/visible-devices", params=params)["devices"]

    # ------------------------------------------------------------ snapshots, groups, timeviews
    def create_snapshot(self, lun_id: str, quiesce: bool = False,
                        on_quiesce_failure: str = "crash") -> dict[str, Any]:
        body = {"quiesce": quiesce, "on_quiesce_failure": on_quiesce_failure}
        return self._request("POST", f"/luns/{lun_id}/snapshots", json=body)["snapshot"]

    def list_snapshots(self, lun_id: str) -> list[dict[str, Any]]:
        return self._request("GET", f"/luns/{lun_id}/snapshots")["snapshots"]

    def get_snapshot(self, snap_id: str) -> dict[str, Any]:
        return self._request("GET", f"/snapshots/{snap_id}")["snapshot"]

    def delete_snapshot(self, snap_id: str) -> None:
        self._request("DELETE", f"/snapshots/{snap_id}")

    def create_group(self, name: str, lun_ids: list[str]) -> dict[str, Any]:
        return self._request("POST", "/groups", json={"name": name, "luns": lun_ids})["group"]

    def list_groups(self) -> list[dict[str, Any]]:
        return self._request("GET", "/groups")["groups"]

    def get_group(self, group_id: str) -> dict[str, Any]:
        return self._request("GET", f"/groups/{group_id}")["group"]

    def delete_group(self, group_id: str) -> None:
        self._request("DELETE", f"/groups/{group_id}")

    def group_snapshot(self, group_id: str, quiesce: bool = False,
                       on_quiesce_failure: str = "crash") -> dict[str, Any]:
        body = {"quiesce": quiesce, "on_quiesce_failure": on_quiesce_failure}
        return self._request("POST", f"/groups/{group_id}/snapshots",
                             json=body)["group_snapshot"]

    def create_timeview(self, snap_id: str, name: str | None = None,
                        writable: bool = True) -> dict[str, Any]:
        body = {"writable": writable, **({"name": name} if name else {})}
        return self._request("POST", f"/snapshots/{snap_id}/timeviews", json=body)["timeview"]

    # ------------------------------------------------------------ peers & replication
    def pair(self, url: str, token: str) -> dict[str, Any]:
        return self._request("POST", "/peers", json={"url": url, "token": token})["peer"]

    def list_peers(self) -> list[dict[str, Any]]:
        return self._request("GET", "/peers")["peers"]

    def create_replication(self, source: str, peer: str, policy: dict[str, Any] | None = None,
                           **options: Any) -> dict[str, Any]:
        """Create a replication; answers ``{"replication": ..., "job": <initial sync>}``."""
        body = {"source": source, "peer": peer, "options": options,
                **({"policy": policy} if policy is not None else {})}
        return self._request("POST", "/replications", json=body)

    def list_replications(self) -> list[dict[str, Any]]:
        return self._request("GET", "/replications")["replications"]

    def get_replication(self, rep_id: str) -> dict[str, Any]:
        return self._request("GET", f"/replications/{rep_id}")["replication"]

    def update_replication(self, rep_id: str, **changes: Any) -> dict[str, Any]:
        """PATCH a replication: ``policy={...}`` (fields merge) and/or ``xor=bool``."""
        return self._request("PATCH", f"/replications/{rep_id}", json=changes)["replication"]

    def replication_events(self, rep_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        params = {"kind": kind} if kind else None
        return self._request("GET", f"/replications/{rep_id}/events", params=params)["events"]

    def delete_replication(self, rep_id: str) -> None:
        self._request("DELETE", f"/replications/{rep_id}")

    def sync(self, rep_id: str, quiesce: bool = False) -> dict[str, Any]:
        """Start a cycle; answers the job (with ``warning`` if one was already running)."""
        answer = self._request("POST", f"/replications/{rep_id}/sync",
                               json={"quiesce": quiesce})
        return {**answer["job"], **({"warning": answer["warning"]} if "warning" in answer
                                    else {})}

    def sync_wait(self, rep_id: str, quiesce: bool = False, timeout: float = 120) -> dict:
        return self.wait_job(self.sync(rep_id, quiesce)["id"], timeout)

    def role(self, rep_id: str, verb: str) -> dict[str, Any]:
        """promote | demote | split | reverse | resume."""
        return self._request("POST", f"/replications/{rep_id}/{verb}")

    def replication_stats(self, rep_id: str) -> dict[str, Any]:
        return self._request("GET", f"/replications/{rep_id}/stats")["stats"]

    def recovery_points(self, lun_id: str) -> list[dict[str, Any]]:
        return self._request("GET", f"/luns/{lun_id}/recovery-points")["recovery_points"]

    # ------------------------------------------------------------ agents & jobs
    def register_agent(self, name: str, url: str, token: str, luns: list[str],
                       timeout_ms: int = 5000) -> dict[str, Any]:
        body = {"name": name, "url": url, "token": token, "luns": luns, "timeout_ms": timeout_ms}
        return self._request("POST", "/agents", json=body)["agent"]

    def list_agents(self) -> list[dict[str, Any]]:
        return self._request("GET", "/agents")["agents"]

    def delete_agent(self, agent_id: str) -> None:
        self._request("DELETE", f"/agents/{agent_id}")

    def job(self, job_id: str) -> dict[str, Any]:
        return self._request("GET", f"/jobs/{job_id}")["job"]

    def wait_job(self, job_id: str, timeout: float = 60.0, interval: float = 0.05) -> dict:
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

    # ------------------------------------------------------------ transport
    def _request(self, method: str, path: str, *, raw: bool = False, **kwargs: Any) -> Any:
        url = f"{self.url}/api/v1{path}"
        try:
            resp = self._session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise NssApiError(0, "unreachable", f"{method} {self.url}{path}: "
                              f"{type(exc).__name__}") from None
        if resp.status_code >= 400:
            raise _error(resp)
        if raw:
            return resp.content
        return resp.json() if resp.content else {}


def _error(resp: requests.Response) -> NssApiError:
    try:
        err = resp.json()["error"]
        return NssApiError(resp.status_code, err["code"], err["message"], err.get("details"))
    except (ValueError, KeyError, TypeError):
        return NssApiError(resp.status_code, "http-error", resp.text[:200])
