"""The reference store: transactions, buffered flushes, freeze/thaw, and honest crash images."""

from __future__ import annotations

import threading

import pytest

from simulators.agent import layout as L
from simulators.agent.blockdev import FileDevice, LatencyDevice, MemoryDevice
from simulators.agent.checker import check
from simulators.agent.errors import InvalidField, QuiesceTimeout, StoreFrozen
from simulators.agent.refstore import Store, StoreConfig
from simulators.agent.workload import Workload
from tests.agent.helpers import (
    RecordingDevice,
    copy_of,
    memory_store,
    run_transfers,
    small_geometry,
    wait_until,
)


def test_layout_round_trips_and_detects_torn_records() -> None:
    record = L.WalRecord(7, (L.Update(1, 90, -10), L.Update(2, 110, 10)), 2048)
    raw = L.encode_wal_record(record).ljust(L.WAL_SLOT_BYTES, b"\0")
    assert L.decode_wal_slot(raw) == record
    older = L.encode_wal_record(L.WalRecord(3, record.updates, 3072))
    torn = raw[:512] + older[512:]
    assert L.decode_wal_slot(torn) == L.TORN
    assert L.decode_wal_slot(bytes(L.WAL_SLOT_BYTES)) == L.EMPTY
    acct = L.Account(4, 55, 9, (4, 5))
    blob = L.encode_account(acct, 2048)
    assert L.decode_account(blob) == acct
    assert L.decode_account(blob[:1536] + L.encode_account(acct, 2048)[:512]) is None


def test_bad_transactions_are_refused_and_change_nothing() -> None:
    store = memory_store()
    with pytest.raises(InvalidField, match="moves: deltas must sum to 0"):
        store.transfer({0: -5, 1: 4})
    with pytest.raises(InvalidField, match="unknown account 99"):
        store.transfer({0: -5, 99: 5})
    with pytest.raises(InvalidField, match="record_length"):
        store.transfer({0: -5, 1: 5}, record_length=700)
    assert store.lsn == 0 and sum(store.balances()) == store.geometry.total


def test_writes_are_buffered_until_flush_then_image_is_clean() -> None:
    store = memory_store()
    run_transfers(store, 12)  # fewer than the 16 WAL slots: no flush needed to make room
    before = check(store.data, store.wal)
    assert before.ok and before.log_end == 0  # nothing reached the devices yet
    assert store.flush() > 0
    after = check(store.data, store.wal)
    assert after.ok, after.to_dict()
    assert after.checkpoint_lsn == after.log_end == 12
    assert after.total_found == store.geometry.total


def test_wal_ring_wraps_many_times_and_stays_clean() -> None:
    store = memory_store()
    for _ in range(5):
        run_transfers(store, 7 * store.geometry.wal_slots // 2)  # forces flushes to make room
    store.flush()
    report = check(store.data, store.wal)
    assert report.ok, report.to_dict()
    assert report.log_end == store.lsn


def test_file_devices_hold_a_checkable_store(tmp_path) -> None:
    g = small_geometry()
    data = FileDevice(tmp_path / "data.img", g.data_bytes)
    wal = FileDevice(tmp_path / "wal.img", g.wal_bytes)
    store = Store.format(data, wal, g, StoreConfig(seed=3))
    run_transfers(store, 25)
    store.close()
    report = check(FileDevice(tmp_path / "data.img"), FileDevice(tmp_path / "wal.img"))
    assert report.ok and report.log_end == 25


def _crash_images(seed: int) -> tuple[int, dict[str, int]]:
    """Apply every prefix of one real flush to copies of the pre-flush images and check each."""
    g = small_geometry()
    mem_data, mem_wal = MemoryDevice(g.data_bytes), MemoryDevice(g.wal_bytes)
    issued: list[tuple[str, int, bytes]] = []
    data = RecordingDevice(mem_data, issued, "data")
    wal = RecordingDevice(mem_wal, issued, "wal")
    store = Store.format(data, wal, g, StoreConfig(io_threads=1, seed=seed))
    run_transfers(store, 30, seed=seed)
    store.flush()
    base = {"data": copy_of(mem_data), "wal": copy_of(mem_wal)}
    issued.clear()
    run_transfers(store, 12, seed=seed + 100)
    store.flush()
    bad, kinds = 0, dict.fromkeys(("torn-record", "log-data-disagreement", "half-applied",
                                   "invariant-broken"), 0)
    for k in range(len(issued) + 1):
        image = {name: copy_of(dev) for name, dev in base.items()}
        for name, offset, blob in issued[:k]:
            image[name].write(offset, blob)
        report = check(image["data"], image["wal"])
        if k in (0, len(issued)):
            assert report.ok, (k, report.to_dict())
        bad += not report.ok
        for kind, n in report.counts.items():
            kinds[kind] += n
    return bad, kinds


def test_a_flush_interrupted_midway_genuinely_shows_every_kind_of_violation() -> None:
    totals: dict[str, int] = {}
    for seed in range(4):
        bad, kinds = _crash_images(seed)
        assert bad > 0
        for kind, n in kinds.items():
            totals[kind] = totals.get(kind, 0) + n
    assert all(n > 0 for n in totals.values()), totals


def test_freeze_flushes_everything_and_blocks_new_transactions_until_thaw() -> None:
    store = memory_store()
    run_transfers(store, 10)
    assert store.freeze(timeout_s=2.0) >= 0
    assert store.frozen and check(store.data, store.wal).log_end == 10
    with pytest.raises(StoreFrozen):
        store.transfer({0: -1, 1: 1}, wait_s=0.05)
    paused = store.thaw()
    assert paused >= 50 and not store.frozen
    assert store.transfer({0: -1, 1: 1}) == 11


def test_freeze_waits_for_in_flight_transactions() -> None:
    store = memory_store()
    started = threading.Event()
    done: list[int] = []

    def slow_txn() -> None:
        started.set()
        done.append(store.transfer({0: -3, 1: 3}, think_s=0.2))

    worker = threading.Thread(target=slow_txn)
    worker.start()
    started.wait()
    store.freeze(timeout_s=2.0)
    assert done == [1]  # freeze returned only after the in-flight transaction committed
    assert check(store.data, store.wal).log_end == 1
    store.thaw()
    worker.join()


def test_freeze_times_out_on_a_slow_in_flight_transaction_and_reopens_the_gate() -> None:
    store = memory_store()
    started = threading.Event()
    worker = threading.Thread(target=lambda: (started.set(),
                                              store.transfer({0: -3, 1: 3}, think_s=0.5)))
    worker.start()
    started.wait()
    with pytest.raises(QuiesceTimeout) as err:
        store.freeze(timeout_s=0.1)
    assert err.value.details["stage"] == "drain"
    assert not store.frozen
    assert store.transfer({2: -1, 3: 1}, wait_s=0.1) >= 1  # the gate is open again
    worker.join()


def test_freeze_times_out_when_the_disk_is_too_slow_to_flush() -> None:
    g = small_geometry()
    slow = LatencyDevice(MemoryDevice(g.data_bytes), write_delay_s=0.3)
    store = Store.format(slow, MemoryDevice(g.wal_bytes), g, StoreConfig(io_threads=1, seed=5))
    run_transfers(store, 10)
    with pytest.raises(QuiesceTimeout) as err:
        store.freeze(timeout_s=0.1)
    assert err.value.details["stage"] == "flush"
    assert not store.frozen and check(store.data, store.wal).ok


def test_workload_runs_transactions_in_the_background_and_keeps_the_invariant() -> None:
    store = memory_store(io_threads=2)
    store.start_flusher()
    workload = Workload(store, rate_tps=500, seed=9)
    workload.start()
    try:
        for _ in range(5):
            target = store.lsn + 20
            wait_until(lambda t=target: store.lsn >= t, timeout_s=10)
            store.freeze(timeout_s=1.0)
            assert check(store.data, store.wal).ok
            store.thaw()
    finally:
        workload.stop()
        store.close()
    assert workload.errors == 0
    assert check(store.data, store.wal).ok
    assert sum(store.balances()) == store.geometry.total


def test_freeze_preempts_a_slow_background_flush_and_flushing_resumes_after() -> None:
    g = small_geometry()
    data = LatencyDevice(MemoryDevice(g.data_bytes), write_delay_s=0.05)
    wal = LatencyDevice(MemoryDevice(g.wal_bytes), write_delay_s=0.05)
    store = Store.format(data, wal, g, StoreConfig(io_threads=1, seed=8))
    run_transfers(store, 12)
    background = threading.Thread(target=store.flush)
    background.start()
    wait_until(lambda: store.flushing, 5, "background flush to start")
    freeze_ms = store.freeze(timeout_s=5.0)
    background.join()
    assert store.stats.flushes == 1  # only the freeze flush completed; the other gave way
    assert freeze_ms < 1000
    report = check(data, wal)
    assert report.ok and report.log_end == 12
    store.thaw()
    run_transfers(store, 3, seed=5)
    assert store.flush() > 0 and check(data, wal).log_end == 15
