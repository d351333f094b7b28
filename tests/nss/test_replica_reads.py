"""Reads of a replica LUN show one recovery point, never a cycle half applied."""

from __future__ import annotations

import threading

import pytest

pytestmark = pytest.mark.live
KiB, MiB = 1024, 2**20
SIZE = 16 * MiB
STRIDE = 64 * KiB  # one stamped sector per chunk: a cycle applies SIZE / STRIDE extents
CYCLES = 6


def _stamp(generation: int) -> bytes:
    return generation.to_bytes(8, "big") * 64


def _stamps(image: bytes) -> set[int]:
    return {int.from_bytes(image[off:off + 8], "big") for off in range(0, SIZE, STRIDE)}


def _write_generation(client, lun_id: str, generation: int) -> None:
    image = bytearray(client.read(lun_id, 0, SIZE))
    for off in range(0, SIZE, STRIDE):
        image[off:off + 512] = _stamp(generation)
    client.write(lun_id, 0, bytes(image))  # one request: atomic on the source


def _reader(client, lun_id: str, stop: threading.Event, seen: list[set[int]]) -> None:
    while not stop.is_set():
        seen.append(_stamps(client.read(lun_id, 0, SIZE)))


def test_replica_reads_during_cycles_match_one_recovery_point(appliance_factory):
    a, b = appliance_factory("site-a"), appliance_factory("site-b")
    ca, cb = a.client, b.client
    peer = ca.pair(b.url, b.token)
    lun = ca.create_lun("live", SIZE)
    _write_generation(ca, lun["id"], 1)
    created = ca.create_replication(lun["id"], peer["id"])
    ca.wait_job(created["job"]["id"])
    replica = created["replication"]["devices"][0]["remote"]
    assert _stamps(cb.read(replica, 0, SIZE)) == {1}
    stop, seen = threading.Event(), []
    readers = [threading.Thread(target=_reader, args=(b.client, replica, stop, seen))
               for _ in range(2)]
    for thread in readers:
        thread.start()
    try:
        for generation in range(2, 2 + CYCLES):
            _write_generation(ca, lun["id"], generation)
            ca.sync_wait(created["replication"]["id"])
    finally:
        stop.set()
        for thread in readers:
            thread.join()
    mixed = [s for s in seen if len(s) != 1]
    assert len(seen) > CYCLES and mixed == []
    assert set().union(*seen) <= set(range(1, 2 + CYCLES))
    assert _stamps(cb.read(replica, 0, SIZE)) == {1 + CYCLES}

