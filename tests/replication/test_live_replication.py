"""Replication between two real appliance processes."""

from __future__ import annotations

import random

import pytest

from sra.nss_client import NssApiError

from .conftest import digest, snap_digest

pytestmark = pytest.mark.live
MiB = 2**20


def _random_writes(client, lun_id, size, rng, count) -> set[int]:
    """Random writes; returns the 64 KiB chunks they touched."""
    touched: set[int] = set()
    for _ in range(count):
        n = rng.choice([1, 1, 2, 8, 64, 300])
        off = rng.randrange(0, size // 512 - n) * 512
        data = rng.randbytes(n * 512) if rng.random() < 0.8 else bytes(n * 512)
        client.write(lun_id, off, data)
        touched.update(range(off // 65536, (off + n * 512 - 1) // 65536 + 1))
    return touched


def test_pairing_is_mutual_and_hides_secrets(pair):
    (peer_a,) = pair.ca.list_peers()
    (peer_b,) = pair.cb.list_peers()
    assert peer_a["id"] == pair.cb.appliance()["id"] and peer_b["id"] == pair.ca.appliance()["id"]
    for peer in (peer_a, peer_b):
        assert set(peer) == {"id", "name", "url", "created"}
    with pytest.raises(NssApiError) as err:
        pair.ca.pair(pair.b.url, "wrong-token")
    assert err.value.status == 400 and err.value.code == "peer-token-rejected"


def test_random_write_sync_sequences_keep_replicas_equal(pair):
    ca, cb, rng = pair.ca, pair.cb, random.Random(42)
    size = 16 * MiB
    luns = [ca.create_lun(f"d{i}", size) for i in range(2)]
    for lun in luns:
        _random_writes(ca, lun["id"], size, rng, 20)
    group = ca.create_group("cg", [lun["id"] for lun in luns])
    created = ca.create_replication(group["id"], pair.peer_of_a)
    rep = created["replication"]
    assert ca.wait_job(created["job"]["id"])["result"]["kind"] == "initial"
    remote = {d["local"]: d["remote"] for d in rep["devices"]}
    for round_ in range(4):
        for lun in luns:
            _random_writes(ca, lun["id"], size, rng, rng.randrange(1, 30))
        result = ca.sync_wait(rep["id"])["result"]
        assert result["kind"] == "incremental" and result["sequence"] == round_ + 2
        for lun in luns:
            assert digest(cb, remote[lun["id"]], size) == digest(ca, lun["id"], size)
            replica = cb.get_lun(remote[lun["id"]])
            assert replica["role"] == "replica" and replica["access"] == "read-only"
    stats = ca.replication_stats(rep["id"])
    last = stats["last_cycle"]
    assert last["payload_bytes"] <= last["block4k_bytes"] <= last["block64k_bytes"]
    assert stats["cumulative"]["cycles"] == 5


def test_group_recovery_points_are_one_instant(pair):
    ca, cb = pair.ca, pair.cb
    luns = [ca.create_lun(f"m{i}", MiB) for i in range(3)]
    group = ca.create_group("g", [lun["id"] for lun in luns])
    created = ca.create_replication(group["id"], pair.peer_of_a)
    ca.wait_job(created["job"]["id"])
    for stamp in range(1, 4):
        for lun in luns:
            ca.write(lun["id"], 0, stamp.to_bytes(8, "big") * 64)
        ca.sync_wait(created["replication"]["id"])
    remote = [d["remote"] for d in created["replication"]["devices"]]
    by_rp: dict[str, list[dict]] = {}
    for lun_id in remote:
        for rp in cb.recovery_points(lun_id):
            by_rp.setdefault(rp["id"], []).append(rp)
    assert len(by_rp) == 4
    for rp_id, points in by_rp.items():
        assert len(points) == 3 and len({p["time"] for p in points}) == 1, rp_id
        stamps = {cb.read_snapshot(p["snapshot_id"], 0, 512)[:8] for p in points}
        assert len(stamps) == 1
    replica_group = [g for g in cb.list_groups() if set(g["luns"]) == set(remote)]
    assert replica_group


def test_sync_while_syncing_returns_the_running_job(pair):
    ca = pair.ca
    lun = ca.create_lun("big", 64 * MiB)
    ca.write(lun["id"], 0, random.Random(1).randbytes(32 * MiB))
    created = ca.create_replication(lun["id"], pair.peer_of_a)
    again = ca.sync(created["replication"]["id"])
    if again["id"] == created["job"]["id"]:
        assert "already running" in again["warning"]
    ca.wait_job(created["job"]["id"])


def test_failover_reverse_failback_cycle(pair):
    ca, cb, rng = pair.ca, pair.cb, random.Random(9)
    size = 4 * MiB
    lun = ca.create_lun("app", size)
    _random_writes(ca, lun["id"], size, rng, 30)
    created = ca.create_replication(lun["id"], pair.peer_of_a)
    rep_id = created["replication"]["id"]
    ca.wait_job(created["job"]["id"])
    replica = created["replication"]["devices"][0]["remote"]

    # planned migration: source read-only, final sync, promote at B
    ca.update_lun(lun["id"], access="read-only")
    ca.sync_wait(rep_id)
    with pytest.raises(NssApiError) as err:
        ca.role(rep_id, "promote")
    assert err.value.code == "not-the-replica"
    cb.role(rep_id, "promote")
    assert cb.role(rep_id, "promote")["warning"] == "already promoted"   # idempotent
    assert cb.get_lun(replica)["access"] == "read-write"
    assert digest(cb, replica, size) == digest(ca, lun["id"], size)
    written = _random_writes(cb, replica, size, rng, 10)                 # recovered VMs write

    # reprotect: demote A, reverse at B; only B's changes travel back
    with pytest.raises(NssApiError) as err:
        ca.role(rep_id, "reverse")
    assert err.value.code == "not-promoted"
    ca.role(rep_id, "demote")
    answer = cb.role(rep_id, "reverse")
    back = cb.wait_job(answer["job"]["id"])["result"]
    assert back["kind"] == "incremental" and back["stats"]["chunks_scanned"] == len(written)
    assert digest(ca, lun["id"], size) == digest(cb, replica, size)
    assert ca.get_lun(lun["id"])["role"] == "replica"
    assert ca.get_replication(rep_id)["direction"] == "inbound"

    # failback: the same steps the other way round
    cb.update_lun(replica, access="read-only")
    cb.sync_wait(rep_id)
    ca.role(rep_id, "promote")
    cb.role(rep_id, "demote")
    ca.wait_job(ca.role(rep_id, "reverse")["job"]["id"])
    assert ca.get_replication(rep_id)["direction"] == "outbound"
    assert ca.get_lun(lun["id"])["access"] == "read-write"
    ca.write(lun["id"], 0, b"after failback" + bytes(498))
    ca.sync_wait(rep_id)
    assert digest(cb, replica, size) == digest(ca, lun["id"], size)


def test_disaster_failover_then_resync_discards_unreplicated_writes(pair):
    """A keeps writing after the last recovery point, then dies; B is promoted and written;
    on reverse, A's unreplicated writes are rolled back and B's changes win."""
    ca, cb, rng = pair.ca, pair.cb, random.Random(3)
    size = 4 * MiB
    lun = ca.create_lun("app", size)
    _random_writes(ca, lun["id"], size, rng, 20)
    created = ca.create_replication(lun["id"], pair.peer_of_a)
    rep_id = created["replication"]["id"]
    ca.wait_job(created["job"]["id"])
    replica = created["replication"]["devices"][0]["remote"]
    _random_writes(ca, lun["id"], size, rng, 15)          # never replicated
    pair.a.kill9()
    cb.role(rep_id, "promote")                            # the source is gone
    _random_writes(cb, replica, size, rng, 5)
    pair.a.start()
    ca = pair.a.client
    ca.role(rep_id, "demote")
    job = cb.role(rep_id, "reverse")["job"]
    assert cb.wait_job(job["id"])["result"]["kind"] == "resync"
    assert digest(ca, lun["id"], size) == digest(cb, replica, size)


@pytest.mark.parametrize("verb,side,code", [
    ("resume", "b", "not-the-source"), ("demote", "a", "replication-active"),
    ("reverse", "b", "not-promoted"), ("promote", "a", "not-the-replica"),
])
def test_illegal_role_changes_are_refused(pair, verb, side, code):
    ca = pair.ca
    lun = ca.create_lun("x", MiB)
    created = ca.create_replication(lun["id"], pair.peer_of_a)
    ca.wait_job(created["job"]["id"])
    client = pair.ca if side == "a" else pair.cb
    before = client.get_replication(created["replication"]["id"])
    with pytest.raises(NssApiError) as err:
        client.role(created["replication"]["id"], verb)
    assert err.value.status == 409 and err.value.code == code
    after = client.get_replication(created["replication"]["id"])
    assert (before["state"], before["direction"]) == (after["state"], after["direction"])


def test_sync_refusals(pair):
    ca, cb = pair.ca, pair.cb
    lun = ca.create_lun("x", MiB)
    created = ca.create_replication(lun["id"], pair.peer_of_a)
    rep_id = created["replication"]["id"]
    ca.wait_job(created["job"]["id"])
    with pytest.raises(NssApiError) as err:
        cb.sync(rep_id)
    assert err.value.code == "not-the-source"
    ca.role(rep_id, "split")
    with pytest.raises(NssApiError) as err:
        ca.sync(rep_id)
    assert err.value.code == "replication-split"
    ca.write(lun["id"], 0, b"q" * 512)
    ca.wait_job(ca.role(rep_id, "resume")["job"]["id"])
    assert cb.read(created["replication"]["devices"][0]["remote"], 0, 512) == b"q" * 512
    with pytest.raises(NssApiError) as err:
        ca.create_replication(lun["id"], pair.peer_of_a)
    assert err.value.code == "not-replicable"
    with pytest.raises(NssApiError) as err:
        ca.delete_lun(lun["id"])
    assert err.value.code == "in-use"


def test_recovery_points_stay_exact_and_are_pruned(pair):
    ca, cb = pair.ca, pair.cb
    lun = ca.create_lun("hist", MiB)
    created = ca.create_replication(lun["id"], pair.peer_of_a)
    rep_id = created["replication"]["id"]
    ca.wait_job(created["job"]["id"])
    replica = created["replication"]["devices"][0]["remote"]
    history = {}
    for i in range(10):
        ca.write(lun["id"], (i % 4) * 65536, bytes([i + 1]) * 65536)
        rp = ca.sync_wait(rep_id)["result"]["recovery_point"]
        history[rp] = digest(ca, lun["id"], MiB)
    points = cb.recovery_points(replica)
    assert len(points) == 8
    for p in points:
        if p["id"] in history:
            assert snap_digest(cb, p["snapshot_id"], MiB) == history[p["id"]]


def test_reverse_without_a_common_recovery_point_is_refused(pair):
    """The old primary lost its recovery points (simulated in its metadata while it is down):
    reverse must refuse before changing anything, naming the device."""
    import sqlite3

    ca = pair.ca
    lun = ca.create_lun("lost", MiB)
    created = ca.create_replication(lun["id"], pair.peer_of_a)
    rep_id = created["replication"]["id"]
    ca.wait_job(created["job"]["id"])
    pair.cb.role(rep_id, "promote")
    ca.role(rep_id, "demote")
    pair.a.stop()
    with sqlite3.connect(pair.a.data_dir / "meta.sqlite") as db:
        db.execute("DELETE FROM rpoints")
    pair.a.start()
    before = (pair.cb.get_replication(rep_id), pair.a.client.get_replication(rep_id))
    with pytest.raises(NssApiError) as err:
        pair.cb.role(rep_id, "reverse")
    assert err.value.status == 409 and err.value.code == "no-common-recovery-point"
    assert lun["id"] in err.value.message
    after = (pair.cb.get_replication(rep_id), pair.a.client.get_replication(rep_id))
    assert [(r["direction"], r["state"]) for r in before] == \
        [(r["direction"], r["state"]) for r in after]
