"""The checker catches planted corruption of every kind, and passes clean images."""

from __future__ import annotations

from simulators.agent import layout as L
from simulators.agent.checker import check
from simulators.agent.refstore import Store
from tests.agent.helpers import memory_store, run_transfers


def clean_store() -> Store:
    store = memory_store(seed=11)
    run_transfers(store, 20, seed=12)  # wraps the 16-slot WAL ring
    store.flush()
    assert check(store.data, store.wal).ok
    return store


def account(store: Store, acct: int) -> L.Account:
    g = store.geometry
    found = L.decode_account(store.data.read(g.record_offset(acct), g.record_bytes))
    assert found is not None
    return found


def put_account(store: Store, a: L.Account, sectors: int | None = None) -> None:
    blob = L.encode_account(a, store.geometry.record_bytes)
    n = len(blob) if sectors is None else sectors * L.SECTOR
    store.data.write(store.geometry.record_offset(a.account), blob[:n])


def put_wal(store: Store, record: L.WalRecord, sectors: int | None = None) -> None:
    blob = L.encode_wal_record(record)
    n = len(blob) if sectors is None else sectors * L.SECTOR
    store.wal.write(store.geometry.slot_offset(record.lsn), blob[:n])


def transfer_record(store: Store, lsn: int, src: int, dst: int, amount: int) -> L.WalRecord:
    a, b = account(store, src), account(store, dst)
    return L.WalRecord(lsn, (L.Update(src, a.balance - amount, -amount),
                             L.Update(dst, b.balance + amount, amount)), 2048)


def test_clean_image_passes_with_full_details() -> None:
    store = clean_store()
    report = check(store.data, store.wal)
    assert report.ok and report.counts == dict.fromkeys(report.counts, 0)
    assert report.to_dict()["total_found"] == report.geometry.total


def test_torn_account_record_is_caught() -> None:
    store = clean_store()
    a = account(store, 5)
    put_account(store, L.Account(5, a.balance + 7, a.last_lsn + 1, a.parties), sectors=1)
    report = check(store.data, store.wal)
    torn = [v.details for v in report.violations if v.kind == "torn-record"]
    assert torn == [{"device": "data", "account": 5, "offset": store.geometry.record_offset(5),
                     "repaired_by_replay": False}]


def test_torn_wal_record_is_caught() -> None:
    store = clean_store()
    lsn = store.lsn + 1
    put_wal(store, L.WalRecord(lsn - store.geometry.wal_slots, (), 3072))  # an older record
    put_wal(store, transfer_record(store, lsn, 1, 2, 5), sectors=2)  # half of the new one
    report = check(store.data, store.wal)
    assert report.counts["torn-record"] == 1
    assert report.violations[0].details["slot"] == lsn % store.geometry.wal_slots
    assert report.log_end == store.lsn  # the torn record ends the log


def test_data_ahead_of_log_is_caught() -> None:
    store = clean_store()
    lsn = store.lsn + 1
    record = transfer_record(store, lsn, 3, 4, 9)
    for u in record.updates:  # both pages land, the commit record never does
        put_account(store, L.Account(u.account, u.balance, lsn, record.parties))
    report = check(store.data, store.wal)
    assert report.counts == {"torn-record": 0, "log-data-disagreement": 2, "half-applied": 0,
                             "invariant-broken": 0}
    reasons = {(v.details["reason"], v.details["account"]) for v in report.violations}
    assert reasons == {("data-ahead-of-log", 3), ("data-ahead-of-log", 4)}


def test_committed_but_not_reflected_is_caught() -> None:
    store = clean_store()
    lsn = store.lsn + 1
    put_wal(store, transfer_record(store, lsn, 6, 7, 4))
    store.wal.write(0, L.encode_wal_superblock(store.geometry, lsn))  # checkpoint ran ahead
    report = check(store.data, store.wal)
    assert report.counts["log-data-disagreement"] == 2
    assert {v.details["reason"] for v in report.violations} == {"log-not-reflected"}
    assert report.counts["invariant-broken"] == 0  # neither page changed: money still adds up


def test_replay_repairs_a_lagging_data_area_without_complaint() -> None:
    store = clean_store()
    lsn = store.lsn + 1
    put_wal(store, transfer_record(store, lsn, 6, 7, 4))  # committed, data not yet written
    report = check(store.data, store.wal)
    assert report.ok and report.replayed == 1 and report.log_end == lsn


def test_half_applied_transaction_and_broken_invariant_are_caught() -> None:
    store = clean_store()
    lsn = store.lsn + 1
    record = transfer_record(store, lsn, 8, 9, 25)
    debit = record.updates[0]
    put_account(store, L.Account(8, debit.balance, lsn, record.parties))  # only the debit landed
    report = check(store.data, store.wal)
    half = [v.details for v in report.violations if v.kind == "half-applied"]
    assert half == [{"lsn": lsn, "applied": [8], "missing": [9]}]
    broken = [v.details for v in report.violations if v.kind == "invariant-broken"]
    assert broken == [{"expected": store.geometry.total, "found": store.geometry.total - 25,
                       "difference": -25}]


def test_invariant_alone_is_caught() -> None:
    store = clean_store()
    a = account(store, 2)
    put_account(store, L.Account(2, a.balance + 1, a.last_lsn, a.parties))
    report = check(store.data, store.wal)
    assert [v.kind for v in report.violations] == ["invariant-broken"]
