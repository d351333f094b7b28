"""Copy-on-write snapshots, consistency groups and TimeViews on a real appliance."""

from __future__ import annotations

import random
import threading

import pytest

from sra.nss_client import NssApiError

pytestmark = pytest.mark.live
KiB, MiB = 1024, 2**20
CHUNK = 64 * KiB


def _fill(rng: random.Random, n: int) -> bytes:
    return rng.randbytes(n)


def test_snapshot_content_is_exact_under_overwrites(appliance):
    """Each snapshot reads back exactly the device at its instant, after many overwrites."""
    c, rng = appliance.client, random.Random(7)
    size = 2 * MiB
    lun = c.create_lun("data", size)
    model = bytearray(size)
    images: list[tuple[str, bytes]] = []
    for round_ in range(6):
        for _ in range(12):
            off = rng.randrange(0, size // 512 - 64) * 512
            data = _fill(rng, rng.randrange(1, 64) * 512)
            c.write(lun["id"], off, data)
            model[off:off + len(data)] = data
        snap = c.create_snapshot(lun["id"])
        assert snap["seq"] == round_ + 1 and snap["consistency"] == "crash"
        images.append((snap["id"], bytes(model)))
    for snap_id, image in images:
        assert c.read_snapshot(snap_id, 0, size) == image
    assert c.read(lun["id"], 0, size) == bytes(model)


def test_deleting_a_middle_snapshot_keeps_the_others_exact(appliance):
    c, rng = appliance.client, random.Random(3)
    size = MiB
    lun = c.create_lun("d", size)
    model, images = bytearray(size), []
    for _ in range(4):
        off = rng.randrange(0, size // 512 - 200) * 512
        data = _fill(rng, 200 * 512)
        c.write(lun["id"], off, data)
        model[off:off + len(data)] = data
        images.append((c.create_snapshot(lun["id"])["id"], bytes(model)))
        c.write(lun["id"], 0, _fill(rng, 3 * CHUNK))  # chunks preserved by the newest
        model[0:3 * CHUNK] = c.read(lun["id"], 0, 3 * CHUNK)
    c.delete_snapshot(images[2][0])
    c.delete_snapshot(images[1][0])
    for snap_id, image in (images[0], images[3]):
        assert c.read_snapshot(snap_id, 0, size) == image
    assert [s["id"] for s in c.list_snapshots(lun["id"])] == [images[0][0], images[3][0]]


def test_255_snapshot_limit(appliance):
    c = appliance.client
    lun = c.create_lun("many", MiB)
    for i in range(255):
        c.write(lun["id"], (i % 16) * 512, bytes([i]) * 512)
        c.create_snapshot(lun["id"])
    with pytest.raises(NssApiError) as err:
        c.create_snapshot(lun["id"])
    assert err.value.status == 409 and err.value.code == "snapshot-limit"
    assert "255" in err.value.message
    assert len(c.list_snapshots(lun["id"])) == 255


def test_group_snapshot_is_atomic_under_concurrent_writers(appliance):
    """Each writer stamps its own counter into its own sector of every member, member 0 first.
    At one instant, member i can only be ahead of member i+1 by the one write in flight; a
    write landing between member snapshots would put a later member ahead."""
    c = appliance.client
    luns = [c.create_lun(f"m{i}", MiB) for i in range(3)]
    group = c.create_group("cg", [lun["id"] for lun in luns])
    stop = threading.Event()

    def writer(slot: int) -> None:
        client, n = appliance.client, 0
        while not stop.is_set():
            n += 1
            for lun in luns:
                client.write(lun["id"], slot * 512, n.to_bytes(8, "big") * 64)

    threads = [threading.Thread(target=writer, args=(slot,)) for slot in range(2)]
    for t in threads:
        t.start()
    try:
        gsnaps = [c.group_snapshot(group["id"]) for _ in range(25)]
    finally:
        stop.set()
        for t in threads:
            t.join()
    moving = 0
    for gs in gsnaps:
        assert len(gs["snapshots"]) == 3
        assert len({s["group_snapshot"] for s in gs["snapshots"]}) == 1
        for slot in range(2):
            stamps = [int.from_bytes(c.read_snapshot(s["id"], slot * 512, 512)[:8], "big")
                      for s in gs["snapshots"]]
            assert stamps[0] >= stamps[1] >= stamps[2] >= stamps[0] - 1, stamps
            moving += stamps[0] > 0
    assert moving > 10  # the writers really were running during the snapshots


def test_timeview_isolation(appliance):
    c, rng = appliance.client, random.Random(11)
    size = MiB
    lun = c.create_lun("src", size)
    base = _fill(rng, size)
    c.write(lun["id"], 0, base)
    snap = c.create_snapshot(lun["id"])
    tv = c.create_timeview(snap["id"], name="tv1")
    assert tv["role"] == "timeview" and tv["wwn"] != lun["wwn"] and tv["access"] == "read-write"
    assert c.read(tv["id"], 0, size) == base
    c.write(tv["id"], 512 * 3, b"T" * 1024)            # partial chunk through the TimeView
    c.write(tv["id"], CHUNK * 4, b"W" * CHUNK)          # a whole chunk
    c.write(lun["id"], 0, b"S" * 4096)                  # the source moves on
    expect_tv = bytearray(base)
    expect_tv[1536:2560] = b"T" * 1024
    expect_tv[CHUNK * 4:CHUNK * 5] = b"W" * CHUNK
    assert c.read(tv["id"], 0, size) == bytes(expect_tv)
    assert c.read_snapshot(snap["id"], 0, size) == base
    assert c.read(lun["id"], 0, 4096) == b"S" * 4096
    ro = c.create_timeview(snap["id"], name="tv-ro", writable=False)
    with pytest.raises(NssApiError) as err:
        c.write(ro["id"], 0, b"x" * 512)
    assert err.value.code == "read-only-device"
    with pytest.raises(NssApiError) as err:
        c.delete_snapshot(snap["id"])
    assert err.value.code == "in-use" and tv["id"] in err.value.message
    c.delete_lun(tv["id"])
    c.delete_lun(ro["id"])
    c.delete_snapshot(snap["id"])


def test_delete_refused_while_in_use(appliance):
    c = appliance.client
    lun = c.create_lun("busy", MiB)
    host = c.create_client("esx1", [{"type": "FC", "id": "21:00:00:00:11:22:AB:CD"}])
    pres = c.present(lun["id"], client_id=host["id"])
    snap = c.create_snapshot(lun["id"])
    with pytest.raises(NssApiError) as err:
        c.delete_lun(lun["id"])
    assert err.value.code == "in-use"
    assert pres["id"] in err.value.message and snap["id"] in err.value.message
    with pytest.raises(NssApiError) as err:
        c.delete_client(host["id"])
    assert err.value.code == "in-use"
    c.unpresent(lun["id"], pres["id"])
    c.delete_snapshot(snap["id"])
    c.delete_lun(lun["id"])
    c.delete_client(host["id"])
    assert c.list_luns() == [] and c.list_clients() == []


def test_masking(appliance):
    c = appliance.client
    lun_a, lun_b = c.create_lun("a", MiB), c.create_lun("b", MiB)
    esx1 = c.create_client("esx1", [{"type": "FC", "id": "21:00:00:00:11:22:ab:cd"},
                                    {"type": "iSCSI", "id": "iqn.1998-01.com.vmware:esx1"}])
    assert esx1["initiators"][0] == {"type": "FC", "id": "21:00:00:00:11:22:ab:cd"}
    p1 = c.present(lun_a["id"], client_id=esx1["id"])
    p2 = c.present(lun_b["id"], initiators=[{"type": "iSCSI", "id": "iqn.1998-01.com.vmware:esx2"}])
    assert p1["lun_number"] == 0
    seen = c.visible_devices("FC", "21:00:00:00:11:22:AB:CD")
    assert [d["id"] for d in seen] == [lun_a["id"]]
    assert [d["id"] for d in c.visible_devices("iSCSI", "iqn.1998-01.com.vmware:esx2")] == \
        [lun_b["id"]]
    assert c.visible_devices("FC", "21:00:00:00:99:99:99:99") == []
    assert c.list_presentations(lun_b["id"]) == [p2]
    with pytest.raises(NssApiError) as err:
        c.present(lun_a["id"], client_id=esx1["id"])
    assert err.value.code == "already-exists"


@pytest.mark.parametrize("initiator,field", [
    ({"type": "FC", "id": "not-a-wwpn"}, "initiators[0].id"),
    ({"type": "iSCSI", "id": "host1"}, "initiators[0].id"),
    ({"type": "NFS", "id": "10.0.0.300"}, "initiators[0].id"),
])
def test_bad_initiators_name_the_field(appliance, initiator, field):
    with pytest.raises(NssApiError) as err:
        appliance.client.create_client("h", [initiator])
    assert err.value.status == 400 and field in err.value.message
    assert appliance.client.list_clients() == []


def test_initiator_belongs_to_one_client(appliance):
    c = appliance.client
    c.create_client("h1", [{"type": "FC", "id": "21:00:00:00:11:22:ab:cd"}])
    with pytest.raises(NssApiError) as err:
        c.create_client("h2", [{"type": "FC", "id": "21:00:00:00:11:22:ab:cd"}])
    assert err.value.code == "initiator-taken"
    assert [x["name"] for x in c.list_clients()] == ["h1"]


def test_group_rules(appliance):
    c = appliance.client
    a, b = c.create_lun("a", MiB), c.create_lun("b", MiB)
    g = c.create_group("g1", [a["id"], b["id"]])
    with pytest.raises(NssApiError) as err:
        c.create_group("g2", [a["id"]])
    assert err.value.code == "lun-in-group"
    with pytest.raises(NssApiError) as err:
        c.create_group("g3", ["lun-missing"])
    assert err.value.status == 404
    with pytest.raises(NssApiError) as err:
        c.delete_lun(a["id"])
    assert err.value.code == "in-use"
    c.delete_group(g["id"])
    assert c.list_groups() == []


def test_quiesce_fail_without_agents_is_a_failed_precondition(appliance):
    """No agent covers the LUN: 409 no-quiesce-agent (the client can fix it), not 503, and
    no snapshot is taken; the crash policy still snapshots."""
    c = appliance.client
    lun = c.create_lun("no-agent", 1024 * 1024)
    for call in (lambda: c.create_snapshot(lun["id"], quiesce=True, on_quiesce_failure="fail"),
                 lambda: c.group_snapshot(c.create_group("g", [lun["id"]])["id"],
                                          quiesce=True, on_quiesce_failure="fail")):
        with pytest.raises(NssApiError) as err:
            call()
        assert (err.value.status, err.value.code) == (409, "no-quiesce-agent")
        assert lun["id"] in err.value.message and "agent" in err.value.message.lower()
    assert c.list_snapshots(lun["id"]) == []
    assert c.create_snapshot(lun["id"], quiesce=True)["consistency"] == "crash"
