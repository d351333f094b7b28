"""kill -9 during cycles, tampered and replayed deltas, an unreachable peer."""

from __future__ import annotations

import random
import sqlite3
import time

import pytest
import requests

from simulators.nss.replication.logic import aead, wire
from simulators.nss.replication.logic.microscan import Extent
from simulators.nss.sealing import SecretBox, default_key_path, place
from sra.nss_client import NssApiError

from .conftest import digest, snap_digest

pytestmark = [pytest.mark.live, pytest.mark.slow]
MiB = 2**20
SIZE = 16 * MiB


def _scatter(client, lun_id, rng, count=400):
    for _ in range(count):
        off = rng.randrange(0, SIZE // 4096) * 4096
        client.write(lun_id, off, rng.randbytes(4096))


def _setup(pair, rng):
    ca = pair.ca
    lun = ca.create_lun("crashy", SIZE)
    _scatter(ca, lun["id"], rng)
    created = ca.create_replication(lun["id"], pair.peer_of_a)
    ca.wait_job(created["job"]["id"])
    return lun["id"], created["replication"]["id"], created["replication"]["devices"][0]["remote"]


def _latest_rp_digest(client, replica):
    points = client.recovery_points(replica)
    return snap_digest(client, points[-1]["snapshot_id"], SIZE), points[-1]["id"]


@pytest.mark.parametrize("seed", [1, 2])
def test_kill9_during_cycles_never_mixes_recovery_points(pair, seed):
    rng = random.Random(seed)
    lun, rep_id, replica = _setup(pair, rng)
    old = digest(pair.ca, lun, SIZE)
    for _ in range(3):
        _scatter(pair.ca, lun, rng, 700)
        new = digest(pair.ca, lun, SIZE)
        pair.ca.sync(rep_id)
        time.sleep(rng.uniform(0.0, 0.6))
        victim = rng.choice([pair.a, pair.b])
        victim.kill9()
        victim.start()
        _settle(pair, rep_id, replica, (old, new))
        _wait_idle(pair.ca, rep_id)
        pair.ca.sync_wait(rep_id)                            # the next cycle completes the work
        assert _latest_rp_digest(pair.cb, replica)[0] == new
        old = new


def _settle(pair, rep_id, replica, allowed, timeout=60):
    """Every recovery point seen is exactly the old or the new state, never a mix; the live
    replica settles on the latest point (a commit journalled before the kill runs to its end,
    and may still be arriving when we first look)."""
    url = f"{pair.b.url}/api/v1/replications/{rep_id}/sync-state"
    deadline = time.monotonic() + timeout
    while True:
        rp_digest, _ = _latest_rp_digest(pair.cb, replica)
        assert rp_digest in allowed
        state = requests.get(url, headers={"Authorization": f"Bearer {pair.b.token}"}).json()
        if not state["committing"] and digest(pair.cb, replica, SIZE) == rp_digest:
            return
        assert time.monotonic() < deadline, "the live replica never settled on a recovery point"
        time.sleep(0.2)


def _wait_idle(client, rep_id, timeout=60):
    deadline = time.monotonic() + timeout
    while client.get_replication(rep_id)["syncing"] and time.monotonic() < deadline:
        time.sleep(0.1)


def _pair_key(pair) -> bytes:
    """The pair key as the attacker who stole A's data directory *and* its sealing key has it."""
    with sqlite3.connect(pair.a.data_dir / "meta.sqlite") as db:
        peer_id, sealed = db.execute("SELECT id, key FROM peers").fetchone()
    box = SecretBox.from_file(default_key_path(pair.a.data_dir))
    return box.open(sealed, place("peers", "key", peer_id))


def _delta(rep_id, seq, replica, rp, data=b"evil" * 128):
    header = wire.DeltaHeader(rep_id, seq, "rp-base", rp, SIZE, wire.DeltaKind.INCREMENTAL,
                              device=replica)
    return wire.Delta(header, (Extent(0, data),))


def _put(pair, rep_id, seq, replica, blob):
    return requests.put(f"{pair.b.url}/api/v1/replications/{rep_id}/deltas/{seq}/{replica}/0",
                        data=blob, headers={"Authorization": f"Bearer {pair.b.token}",
                                            "Content-Type": "application/octet-stream"})


def _commit(pair, rep_id, seq, replica, rp):
    body = {"sequence": seq, "rp_id": rp, "parts": {replica: 1}}
    return requests.post(f"{pair.b.url}/api/v1/replications/{rep_id}/commit", json=body,
                         headers={"Authorization": f"Bearer {pair.b.token}"})


@pytest.mark.parametrize("attack", ["tampered", "wrong-key", "misdirected"])
def test_forged_deltas_are_rejected_and_change_nothing(pair, attack):
    rng = random.Random(5)
    _, rep_id, replica = _setup(pair, rng)
    before = (digest(pair.cb, replica, SIZE), pair.cb.recovery_points(replica))
    seq = pair.cb.get_replication(rep_id)["sequence"] + 1
    key = _pair_key(pair) if attack != "wrong-key" else aead.new_pair_key()
    target = rep_id if attack != "misdirected" else "rep-other"
    blob = bytearray(wire.encode(_delta(target, seq, replica, "rp-forged"), key))
    if attack == "tampered":
        blob[-20] ^= 0x01
    resp = _put(pair, rep_id, seq, replica, bytes(blob))       # refused on arrival
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] in ("delta-auth-failed", "delta-misdirected")
    resp = _commit(pair, rep_id, seq, replica, "rp-forged")    # nothing staged to commit
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "delta-format"
    after = (digest(pair.cb, replica, SIZE), pair.cb.recovery_points(replica))
    assert before == after
    assert "rejected" in (pair.b.data_dir / "appliance.log").read_text() or \
        "replication refused" in (pair.b.data_dir / "appliance.log").read_text()


def test_replayed_delta_is_rejected(pair):
    rng = random.Random(6)
    _, rep_id, replica = _setup(pair, rng)
    seq = pair.cb.get_replication(rep_id)["sequence"]
    blob = wire.encode(_delta(rep_id, seq, replica, "rp-again"), _pair_key(pair))
    before = digest(pair.cb, replica, SIZE)
    resp = _put(pair, rep_id, seq, replica, blob)
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "delta-replayed"
    resp = _commit(pair, rep_id, seq, replica, "rp-again")
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "delta-replayed"
    assert digest(pair.cb, replica, SIZE) == before


def test_unreachable_peer_is_retried_then_reported(pair):
    rng = random.Random(7)
    lun, rep_id, replica = _setup(pair, rng)
    _scatter(pair.ca, lun, rng, 50)
    pair.b.stop()
    with pytest.raises(NssApiError) as err:
        pair.ca.sync_wait(rep_id)
    assert err.value.code == "peer-unreachable"
    rep = pair.ca.get_replication(rep_id)
    assert rep["error"]["code"] == "peer-unreachable" and rep["state"] == "replicating"
    pair.b.start()
    pair.ca.sync_wait(rep_id)
    assert pair.ca.get_replication(rep_id)["error"] is None
    assert digest(pair.cb, replica, SIZE) == digest(pair.ca, lun, SIZE)


def test_promote_during_a_cycle_abandons_it_at_the_last_recovery_point(pair):
    """SRM's failover must not wait for (or race) a running cycle: the replica is promoted at
    its last recovery point, the cycle's staged parts go, its later parts are refused."""
    rng = random.Random(8)
    lun, rep_id, replica = _setup(pair, rng)
    before = digest(pair.cb, replica, SIZE)
    _scatter(pair.ca, lun, rng, 3000)
    pair.ca.update_replication(rep_id, policy={"bandwidth_bps": 2 * MiB})
    job = pair.ca.sync(rep_id)
    url = f"{pair.b.url}/api/v1/replications/{rep_id}/sync-state"
    auth = {"Authorization": f"Bearer {pair.b.token}"}

    def staged() -> int:
        receiving = requests.get(url, headers=auth, timeout=10).json()["receiving"] or {}
        return sum(d["parts"] for d in receiving.get("devices", {}).values())

    deadline = time.monotonic() + 30
    while staged() < 1:
        assert time.monotonic() < deadline, "no part was staged"
        time.sleep(0.05)
    pair.cb.role(rep_id, "promote")
    with pytest.raises(NssApiError) as err:
        pair.ca.wait_job(job["id"], timeout=60)
    assert err.value.code == "replication-failed-over"
    assert digest(pair.cb, replica, SIZE) == before
    assert pair.cb.get_replication(rep_id)["state"] == "failed-over"
    assert pair.ca.get_replication(rep_id)["state"] == "failed-over"
    assert requests.get(url, headers=auth, timeout=10).json()["receiving"] is None
