"""Replication through a WAN proxy: link cuts, kill -9 mid-part, bandwidth limits.

Appliance A reaches B only through ``WanProxy`` (A paired with B at the proxy's URL), so every
delta part crosses the proxy and can be cut, slowed or paused at a chosen byte.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
import requests

from simulators.wanlink import WanProxy
from sra.nss_client import NssClient

from .conftest import Appliances, digest

pytestmark = [pytest.mark.live, pytest.mark.slow]
MiB = 2**20
PART = 8 * MiB


@dataclass
class WanPair(Appliances):
    proxy: WanProxy
    peer: str  # B's id as A's peer


@pytest.fixture
def wan(appliance_factory) -> Iterator[WanPair]:
    a, b = appliance_factory("site-a"), appliance_factory("site-b")
    proxy = WanProxy(b.port)
    peer = a.client.pair(proxy.url, b.token)["id"]
    yield WanPair(a, b, proxy, peer)
    proxy.close()


def fill_random(client: NssClient, lun_id: str, size: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for off in range(0, size, 16 * MiB):
        client.write(lun_id, off, rng.integers(0, 256, min(16 * MiB, size - off),
                                               dtype=np.uint8).tobytes())


def receiving(w: WanPair, rep_id: str) -> dict:
    state = requests.get(f"{w.b.url}/api/v1/replications/{rep_id}/sync-state",
                         headers={"Authorization": f"Bearer {w.b.token}"}, timeout=10).json()
    return state.get("receiving") or {}


def staged_parts(w: WanPair, rep_id: str) -> int:
    return sum(d["parts"] for d in receiving(w, rep_id).get("devices", {}).values())


def wait_for(predicate, timeout: float, what: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


def test_1gib_initial_sync_survives_three_link_cuts(wan):
    size = 1024 * MiB
    lun = wan.ca.create_lun("big", size)
    fill_random(wan.ca, lun["id"], size, seed=1)
    created = wan.ca.create_replication(lun["id"], wan.peer)
    for cut, after in enumerate((150 * MiB, 260 * MiB, 330 * MiB), start=1):
        wan.proxy.cut_after(after)
        wait_for(lambda c=cut: wan.proxy.cuts >= c, 180, f"cut {cut}")
    job = wan.ca.wait_job(created["job"]["id"], timeout=300)
    stats = job["result"]["stats"]
    assert job["result"]["kind"] == "initial" and wan.proxy.cuts == 3
    assert stats["retries"] >= 3 and stats["parts_resent"] <= 3, stats
    assert stats["parts_sent"] <= size // PART + 1 + 3
    replica = created["replication"]["devices"][0]["remote"]
    assert wan.b.image_sha256(replica) == wan.a.image_sha256(lun["id"])


@pytest.mark.parametrize("victim", ["source", "replica"])
def test_kill9_mid_part_resumes_from_the_last_acknowledged_part(wan, victim):
    size = 64 * MiB
    lun = wan.ca.create_lun("d", size)
    fill_random(wan.ca, lun["id"], size, seed=2)
    wan.proxy.rate = 24 * MiB                       # about a third of a second per part
    created = wan.ca.create_replication(lun["id"], wan.peer)
    rep_id = created["replication"]["id"]
    wait_for(lambda: staged_parts(wan, rep_id) >= 3, 60, "three parts staged")
    proc = wan.a if victim == "source" else wan.b
    proc.kill9()
    staged = staged_parts(wan, rep_id) if victim == "source" else None
    proc.start()
    wan.proxy.rate = 0
    if victim == "source":
        assert staged >= 3
        result = wan.a.client.sync_wait(rep_id, timeout=120)["result"]
        assert result["stats"]["parts_sent"] <= size // PART + 1 - staged + 1
    else:
        result = wan.ca.wait_job(created["job"]["id"], timeout=120)["result"]
        assert result["stats"]["parts_resent"] <= 1 and result["stats"]["retries"] >= 1
    replica = created["replication"]["devices"][0]["remote"]
    assert digest(wan.b.client, replica, size) == digest(wan.a.client, lun["id"], size)
    points = wan.b.client.recovery_points(replica)
    assert [p["id"] for p in points] == [result["recovery_point"]]


def test_bandwidth_limit_holds_within_ten_percent(wan):
    size, limit = 24 * MiB, 4 * MiB
    lun = wan.ca.create_lun("slow", size)
    fill_random(wan.ca, lun["id"], size, seed=3)
    created = wan.ca.create_replication(lun["id"], wan.peer,
                                        policy={"bandwidth_bps": limit})
    stats = wan.ca.wait_job(created["job"]["id"], timeout=120)["result"]["stats"]
    rate = stats["wire_bytes"] / stats["seconds"]
    assert stats["wire_bytes"] > size                # random data: nothing compresses
    assert 0.9 * limit <= rate <= 1.1 * limit, rate
