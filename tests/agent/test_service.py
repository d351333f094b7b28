"""The agent HTTP service, driven by a real HTTP caller, over a real store."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests

from simulators.agent.blockdev import LatencyDevice, MemoryDevice
from simulators.agent.checker import check
from simulators.agent.quiesce import Quiescer, budget_s
from simulators.agent.refstore import Store, StoreConfig
from simulators.agent.service import AgentServer
from simulators.agent.workload import Workload
from tests.agent.helpers import memory_store, run_transfers, small_geometry, wait_until

TOKEN = "agent-secret-token"


class Agent:
    """An in-process agent service plus an HTTP caller playing the appliance."""

    def __init__(self, store: Store, hold_limit_s: float = 10.0) -> None:
        self.store = store
        self.quiescer = Quiescer(store, hold_limit_s=hold_limit_s)
        self.server = AgentServer(self.quiescer, TOKEN).start()
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {TOKEN}"

    def post(self, path: str, body: dict, timeout: float = 10) -> requests.Response:
        return self.http.post(f"{self.server.url}{path}", json=body, timeout=timeout)

    def quiesce(self, rid: str, timeout_ms: int = 2000) -> requests.Response:
        return self.post("/quiesce", {"request_id": rid, "luns": ["lun-1"],
                                      "timeout_ms": timeout_ms})

    def thaw(self, rid: str) -> requests.Response:
        return self.post("/thaw", {"request_id": rid})

    def close(self) -> None:
        self.server.stop()
        self.quiescer.close()


@pytest.fixture
def agent() -> Iterator[Agent]:
    a = Agent(memory_store())
    yield a
    a.close()


def test_quiesce_then_thaw_freezes_a_clean_image_and_reports_the_pause(agent: Agent) -> None:
    run_transfers(agent.store, 9)
    r = agent.quiesce("q-1")
    assert r.status_code == 200 and r.json()["state"] == "frozen"
    assert agent.store.frozen
    report = check(agent.store.data, agent.store.wal)
    assert report.ok and report.log_end == 9  # everything buffered reached the devices
    t = agent.thaw("q-1")
    assert t.status_code == 200
    assert t.json()["state"] == "thawed" and t.json()["paused_ms"] > 0
    assert not agent.store.frozen
    status = agent.http.get(f"{agent.server.url}/status").json()
    assert status["state"] == "thawed" and status["stats"]["pause_ms"]["count"] == 1


def test_thaw_twice_and_unknown_thaw_are_harmless(agent: Agent) -> None:
    agent.quiesce("q-1")
    first = agent.thaw("q-1").json()
    again = agent.thaw("q-1")
    assert again.status_code == 200
    assert again.json() == {**first, "note": "already-thawed"}
    unknown = agent.thaw("never-seen")
    assert unknown.status_code == 200
    assert unknown.json() == {"state": "thawed", "request_id": "never-seen", "paused_ms": 0.0,
                              "note": "unknown-request"}


def test_wrong_token_and_bad_input_are_refused_without_freezing(agent: Agent) -> None:
    url = agent.server.url
    r = requests.post(f"{url}/quiesce", json={"request_id": "x", "timeout_ms": 100},
                      headers={"Authorization": "Bearer nope"}, timeout=5)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert TOKEN not in r.text
    r = agent.post("/quiesce", {"request_id": "x", "timeout_ms": "soon"})
    assert r.status_code == 400
    assert r.json()["error"]["details"]["field"] == "timeout_ms"
    r = agent.post("/thaw", {})
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "request_id"
    assert requests.get(f"{url}/healthz", timeout=5).json() == {"status": "ok"}
    assert not agent.store.frozen


def test_too_slow_to_freeze_answers_timeout_within_budget_and_never_stays_frozen() -> None:
    g = small_geometry()
    slow = LatencyDevice(MemoryDevice(g.data_bytes), write_delay_s=2.0)
    store = Store.format(slow, MemoryDevice(g.wal_bytes), g, StoreConfig(io_threads=1, seed=4))
    run_transfers(store, 5)
    a = Agent(store)
    try:
        r = a.quiesce("slow-1", timeout_ms=1000)
        assert r.status_code == 504
        assert r.json()["error"]["code"] == "quiesce-timeout"
        assert r.elapsed.total_seconds() < 1.0  # answered before the appliance gives up
        wait_until(lambda: not store.frozen and a.quiescer.state == "thawed", 5, "thawed")
        assert store.transfer({0: -1, 1: 1}, wait_s=1.0) == 6  # the application runs again
        assert a.thaw("slow-1").json()["note"] == "unknown-request"
    finally:
        a.close()


def test_in_flight_transaction_too_long_makes_quiesce_fail_then_app_resumes(agent: Agent) -> None:
    started = threading.Event()
    worker = threading.Thread(target=lambda: (started.set(), agent.store.transfer(
        {0: -2, 1: 2}, think_s=0.6)))
    worker.start()
    started.wait()
    r = agent.quiesce("long-txn", timeout_ms=150)
    assert r.status_code == 504
    assert not agent.store.frozen
    worker.join()
    assert agent.store.lsn == 1


def test_thaw_never_arrives_so_the_agent_self_thaws() -> None:
    a = Agent(memory_store(), hold_limit_s=0.3)
    try:
        assert a.quiesce("lost-thaw").status_code == 200
        assert a.store.frozen
        wait_until(lambda: not a.store.frozen, 3, "self-thaw")
        assert a.quiescer.stats.self_thaws == 1
        late = a.thaw("lost-thaw").json()
        assert late["note"] == "self-thawed" and late["paused_ms"] >= 300
    finally:
        a.close()


def test_overlapping_quiesces_share_one_freeze_and_thaw_on_the_last(agent: Agent) -> None:
    assert agent.quiesce("snap-a").status_code == 200
    assert agent.quiesce("snap-b").status_code == 200
    assert agent.quiesce("snap-a").json()["state"] == "frozen"  # a retried request is idempotent
    agent.thaw("snap-a")
    assert agent.store.frozen  # snap-b still holds it
    agent.thaw("snap-b")
    assert not agent.store.frozen


def test_budget_leaves_a_margin_for_the_answer() -> None:
    assert budget_s(5000) == pytest.approx(4.0)
    assert budget_s(200) == pytest.approx(0.15)
    assert budget_s(60) == pytest.approx(0.03)


def test_quiesce_under_a_running_workload_gives_clean_images_and_short_pauses() -> None:
    store = memory_store(io_threads=2)
    store.start_flusher()
    workload = Workload(store, rate_tps=400, seed=3)
    workload.start()
    a = Agent(store)
    try:
        for i in range(10):
            target = store.lsn + 10
            wait_until(lambda t=target: store.lsn >= t, 5, "progress")
            assert a.quiesce(f"q-{i}").status_code == 200
            assert check(store.data, store.wal).ok
            assert a.thaw(f"q-{i}").json()["paused_ms"] < 1000
    finally:
        workload.stop()
        a.close()
        store.close()
    assert a.quiescer.stats.to_dict()["pause_ms"]["count"] == 10


def test_device_errors_during_freeze_answer_503_and_the_application_resumes() -> None:
    import socket

    from simulators.agent import layout as L
    from simulators.agent.blockdev import ApplianceDevice

    with socket.socket() as s:  # a port nobody listens on: a real unreachable appliance
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    g = small_geometry()
    accounts = [L.Account(i, 100, 0) for i in range(g.n_accounts)]
    store = Store(ApplianceDevice(dead, "t", "lun-x"), MemoryDevice(g.wal_bytes), g, accounts, 0)
    store.transfer({0: -5, 1: 5})
    a = Agent(store)
    try:
        r = a.quiesce("io-1")
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "device-io-error"
        assert r.json()["error"]["details"]["lun"] == "lun-x"
        assert not store.frozen and a.quiescer.state == "thawed"
        assert store.transfer({2: -1, 3: 1}, wait_s=1.0) == 2
    finally:
        a.close()
