"""Snapshot Agents: in-guest services that quiesce applications around a snapshot.

Before a quiesced snapshot the appliance asks every agent registered for any of the LUNs to
freeze (``POST {url}/quiesce``); when all answered "frozen" it snapshots (app-consistent) and
thaws them (``POST {url}/thaw``). An agent that fails or does not answer in its ``timeout_ms``
makes the snapshot crash-consistent (policy ``crash``) or fails it (policy ``fail``); agents that
did freeze are thawed either way. The agent token is stored sealed and never returned.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

import requests

from .context import Context, new_id, utcnow
from .errors import AlreadyExists, ApplianceFault, InvalidRequest, NoQuiesceAgent, not_found
from .luns import Luns, check_name
from .sealing import place
from .store import dumps, loads

log = logging.getLogger(__name__)
POLICIES = ("crash", "fail")


class QuiesceFailed(ApplianceFault):
    status = 503
    code = "quiesce-failed"
    transient = True


class Agents:
    def __init__(self, ctx: Context, luns: Luns) -> None:
        self.ctx = ctx
        self.luns = luns

    def register(self, name: str, url: str, token: str, luns: list[str],
                 timeout_ms: int) -> dict[str, Any]:
        check_name("name", name)
        if urlparse(url).scheme not in ("http", "https") or not urlparse(url).netloc:
            raise InvalidRequest(f"url {url!r} is not an http(s) URL", field="url")
        if not 1 <= timeout_ms <= 600_000:
            raise InvalidRequest(f"timeout_ms {timeout_ms} is outside 1..600000",
                                 field="timeout_ms")
        for i, lun_id in enumerate(luns):
            if not lun_id:
                raise InvalidRequest(f"luns[{i}] is empty", field=f"luns[{i}]")
            self.luns.get(lun_id)
        agent_id = new_id("agent")
        with self.ctx.store.tx() as db:
            if db.execute("SELECT 1 FROM agents WHERE name=?", (name,)).fetchone():
                raise AlreadyExists(f"an agent named {name!r} already exists", field="name")
            db.execute("INSERT INTO agents(id, name, url, token, luns, timeout_ms, created) "
                       "VALUES(?,?,?,?,?,?,?)",
                       (agent_id, name, url.rstrip("/"),
                        self.ctx.box.seal(token, place("agents", "token", agent_id)),
                        dumps(luns), timeout_ms, utcnow()))
        return self.get(agent_id)

    def get(self, agent_id: str, with_token: bool = False) -> dict[str, Any]:
        row = self.ctx.store.one("SELECT * FROM agents WHERE id=?", agent_id)
        if row is None:
            raise not_found("agent", agent_id)
        out = {"id": row["id"], "name": row["name"], "url": row["url"],
               "luns": loads(row["luns"]), "timeout_ms": row["timeout_ms"],
               "created": row["created"]}
        if with_token:
            out["token"] = self.ctx.box.open_text(row["token"], place("agents", "token",
                                                                      agent_id))
        return out

    def list(self) -> list[dict[str, Any]]:
        rows = self.ctx.store.all("SELECT id FROM agents ORDER BY created")
        return [self.get(r[0]) for r in rows]

    def delete(self, agent_id: str) -> None:
        self.get(agent_id)
        with self.ctx.store.tx() as db:
            db.execute("DELETE FROM agents WHERE id=?", (agent_id,))

    def covering(self, lun_ids: list[str]) -> list[dict[str, Any]]:
        wanted = set(lun_ids)
        return [self.get(a["id"], with_token=True) for a in self.list()
                if wanted & set(a["luns"])]

    @contextmanager
    def quiesced(self, lun_ids: list[str], policy: str) -> Iterator[str]:
        """Freeze every covering agent; yield the consistency the snapshot will have."""
        if policy not in POLICIES:
            raise InvalidRequest(f"on_quiesce_failure {policy!r} is not one of crash, fail",
                                 field="on_quiesce_failure")
        agents = self.covering(lun_ids)
        if policy == "fail" and not agents:
            raise NoQuiesceAgent(
                f"no Snapshot Agent is registered for {', '.join(map(repr, lun_ids))}; a "
                "quiesced snapshot with on_quiesce_failure=fail needs one (or use crash)",
                luns=lun_ids)
        request_id = new_id("quiesce")
        frozen, failures = self._freeze_all(agents, request_id, lun_ids)
        try:
            if policy == "fail" and failures:
                raise QuiesceFailed(f"quiesce failed, no snapshot taken: {'; '.join(failures)}",
                                    failures=failures)
            yield "app" if agents and not failures else "crash"
        finally:
            self._thaw_all(frozen, request_id)

    def _freeze_all(self, agents: list[dict[str, Any]], request_id: str,
                    lun_ids: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
        if not agents:
            return [], []
        with ThreadPoolExecutor(max_workers=len(agents)) as pool:
            answers = list(pool.map(lambda a: self._freeze(a, request_id, lun_ids), agents))
        frozen = [a for a, err in zip(agents, answers, strict=True) if err is None]
        failures = [f"agent {a['name']!r}: {err}" for a, err in zip(agents, answers, strict=True)
                    if err is not None]
        return frozen, failures

    def _freeze(self, agent: dict[str, Any], request_id: str, lun_ids: list[str]) -> str | None:
        body = {"request_id": request_id, "luns": [x for x in lun_ids if x in agent["luns"]],
                "timeout_ms": agent["timeout_ms"]}
        try:
            resp = requests.post(f"{agent['url']}/quiesce", json=body,
                                 headers={"Authorization": f"Bearer {agent['token']}"},
                                 timeout=agent["timeout_ms"] / 1000)
        except requests.RequestException as exc:
            return f"no answer within {agent['timeout_ms']} ms ({type(exc).__name__})"
        if resp.status_code != 200 or _state(resp) != "frozen":
            return f"answered {resp.status_code} {resp.text[:200]!r}"
        return None

    def _thaw_all(self, agents: list[dict[str, Any]], request_id: str) -> None:
        for agent in agents:
            try:
                requests.post(f"{agent['url']}/thaw", json={"request_id": request_id},
                              headers={"Authorization": f"Bearer {agent['token']}"}, timeout=5)
            except requests.RequestException as exc:
                log.warning("thaw of agent %s failed (%s); it self-thaws after its hold limit",
                            agent["name"], type(exc).__name__)


def _state(resp: requests.Response) -> str | None:
    try:
        return resp.json().get("state")
    except ValueError:
        return None
