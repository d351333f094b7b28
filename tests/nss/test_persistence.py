"""kill -9 the appliance during a write stream; everything acknowledged survives the restart."""

from __future__ import annotations

import random
import threading
import time

import pytest

from sra.nss_client import NssApiError

pytestmark = pytest.mark.live
MiB = 2**20


def test_acknowledged_writes_survive_kill9(appliance):
    c = appliance.client
    size = 8 * MiB
    lun = c.create_lun("stream", size)
    snap_before = None
    acked: dict[int, bytes] = {}
    rng = random.Random(5)
    stop = threading.Event()

    def stream() -> None:
        nonlocal snap_before
        client = appliance.client
        i = 0
        while not stop.is_set():
            off = rng.randrange(0, size // 4096) * 4096
            data = rng.randbytes(4096)
            try:
                client.write(lun["id"], off, data)
            except NssApiError:
                return
            acked[off] = data
            i += 1
            if i == 50:
                snap_before = (client.create_snapshot(lun["id"])["id"], dict(acked))

    writer = threading.Thread(target=stream)
    writer.start()
    deadline = time.monotonic() + 60
    while (snap_before is None or len(acked) < 80) and time.monotonic() < deadline:
        time.sleep(0.01)  # kill mid-stream, once a snapshot and enough writes are acknowledged
    appliance.kill9()
    stop.set()
    writer.join()
    assert len(acked) > 50
    appliance.start()
    c = appliance.client
    image = c.read(lun["id"], 0, size)
    for off, data in acked.items():
        assert image[off:off + 4096] == data, off
    snap_id, at_snap = snap_before
    snap_image = c.read_snapshot(snap_id, 0, size)
    for off, data in at_snap.items():
        assert snap_image[off:off + 4096] == data


def test_objects_survive_restart(appliance):
    c = appliance.client
    lun = c.create_lun("keep", MiB)
    c.write(lun["id"], 0, b"k" * 512)
    snap = c.create_snapshot(lun["id"])
    tv = c.create_timeview(snap["id"])
    c.write(tv["id"], 512, b"t" * 512)
    host = c.create_client("esx", [{"type": "FC", "id": "21:00:00:00:00:00:00:01"}])
    pres = c.present(tv["id"], client_id=host["id"])
    group = c.create_group("g", [lun["id"]])
    before = (c.list_luns(), c.list_snapshots(lun["id"]), c.list_clients(),
              c.list_presentations(tv["id"]), c.list_groups(), c.appliance())
    appliance.kill9()
    appliance.start()
    c = appliance.client
    after = (c.list_luns(), c.list_snapshots(lun["id"]), c.list_clients(),
             c.list_presentations(tv["id"]), c.list_groups(), c.appliance())
    assert before == after
    assert c.read(tv["id"], 0, 1024) == b"k" * 512 + b"t" * 512
    assert pres["id"] and group["id"]
