"""The integrity checker: recover an image set of the reference store and report every violation.

Input: two byte-readable devices (any :class:`~simulators.agent.blockdev.BlockDevice`: a TimeView,
a replica, a recovered device, plain files). Recovery is what the store itself would do after a
crash: read the checkpoint LSN ``c`` from the WAL superblock, take the log as the run of valid
records ``c+1, c+2, ...`` up to the first slot that does not hold the next LSN (the *log end*), and
redo their after-images onto account records older than them. Then every violation is reported:

``torn-record``
    a multi-sector record (account record or WAL slot) whose checksum fails: part of it is from one
    write and part from another. Torn account records that replay rebuilt are still reported
    (``repaired_by_replay``): the image itself was damaged.
``log-data-disagreement``
    ``data-ahead-of-log``: an account reflects a transaction beyond the log end (its data reached
    the device, its commit record did not); ``log-not-reflected``: a valid WAL record whose update
    is missing from the data after replay (a checkpoint claimed it, or it sits beyond a log hole).
``half-applied``
    a transaction visible on some of its accounts but not on all of them, after replay.
``invariant-broken``
    the total balance differs from the one recorded at format time (checked when no account record
    is left unreadable).

A quiesced image is a clean checkpoint: all four counts are zero. A crash-consistent image taken
while the store's unordered flush was in flight can show any of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simulators.agent import layout as L
from simulators.agent.blockdev import BlockDevice

KINDS = ("torn-record", "log-data-disagreement", "half-applied", "invariant-broken")


@dataclass(frozen=True)
class Violation:
    kind: str
    details: dict[str, Any]


@dataclass
class Report:
    geometry: L.Geometry
    checkpoint_lsn: int
    log_end: int
    replayed: int = 0
    total_found: int | None = None
    violations: list[Violation] = field(default_factory=list)

    def add(self, kind: str, **details: Any) -> None:
        self.violations.append(Violation(kind, details))

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(KINDS, 0)
        for v in self.violations:
            counts[v.kind] += 1
        return counts

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "counts": self.counts, "total": len(self.violations),
                "checkpoint_lsn": self.checkpoint_lsn, "log_end": self.log_end,
                "replayed": self.replayed, "total_expected": self.geometry.total,
                "total_found": self.total_found,
                "violations": [{"kind": v.kind, **v.details} for v in self.violations]}


@dataclass
class Image:
    """The decoded content of an image set, before recovery."""

    geometry: L.Geometry
    checkpoint_lsn: int
    accounts: list[L.Account | None]
    slots: list[L.WalRecord | str]


def read_image(data: BlockDevice, wal: BlockDevice) -> Image:
    """Read and decode both devices (FormatError when they do not hold one store)."""
    g, ckpt = L.decode_superblocks(data.read(0, L.SECTOR), wal.read(0, L.SECTOR))
    raw = data.read(L.SECTOR, g.n_accounts * g.record_bytes)
    rb = g.record_bytes
    accounts = [L.decode_account(raw[i * rb:(i + 1) * rb]) for i in range(g.n_accounts)]
    ring = wal.read(L.SECTOR, g.wal_slots * L.WAL_SLOT_BYTES)
    sb = L.WAL_SLOT_BYTES
    slots = [L.decode_wal_slot(ring[i * sb:(i + 1) * sb]) for i in range(g.wal_slots)]
    return Image(g, ckpt, accounts, slots)


def check(data: BlockDevice, wal: BlockDevice) -> Report:
    """Recover the image set read from ``data`` and ``wal`` and report its violations."""
    return check_image(read_image(data, wal))


def check_image(image: Image) -> Report:
    return recover_image(image)[0]


def recover(data: BlockDevice, wal: BlockDevice) -> tuple[Report, list[L.Account | None]]:
    """Like :func:`check`, also returning the account records after replay."""
    return recover_image(read_image(data, wal))


def recover_image(image: Image) -> tuple[Report, list[L.Account | None]]:
    log = _valid_records(image)
    report = Report(image.geometry, image.checkpoint_lsn, _log_end(image.checkpoint_lsn, log))
    _report_torn(image, report)
    state = list(image.accounts)
    _replay(state, log, report)
    _report_torn_accounts(image.accounts, state, report)
    _report_disagreement(state, log, report)
    _report_half_applied(state, report)
    _report_invariant(state, report)
    return report, state


def _valid_records(image: Image) -> dict[int, L.WalRecord]:
    """Valid records keyed by LSN (a record in the wrong slot counts as damaged)."""
    n = image.geometry.wal_slots
    return {r.lsn: r for i, r in enumerate(image.slots)
            if isinstance(r, L.WalRecord) and r.lsn % n == i}


def _log_end(checkpoint: int, log: dict[int, L.WalRecord]) -> int:
    end = checkpoint
    while end + 1 in log:
        end += 1
    return end


def _report_torn(image: Image, report: Report) -> None:
    n = image.geometry.wal_slots
    for i, r in enumerate(image.slots):
        if r == L.TORN or (isinstance(r, L.WalRecord) and r.lsn % n != i):
            report.add("torn-record", device="wal", slot=i,
                       offset=L.SECTOR + i * L.WAL_SLOT_BYTES)


def _replay(state: list[L.Account | None], log: dict[int, L.WalRecord], report: Report) -> None:
    for lsn in range(report.checkpoint_lsn + 1, report.log_end + 1):
        record = log[lsn]
        for u in record.updates:
            current = state[u.account]
            if current is None or current.last_lsn < lsn:
                state[u.account] = L.Account(u.account, u.balance, lsn, record.parties)
        report.replayed += 1


def _report_torn_accounts(before: list[L.Account | None], after: list[L.Account | None],
                          report: Report) -> None:
    g = report.geometry
    for acct, (raw, fixed) in enumerate(zip(before, after, strict=True)):
        if raw is None:
            report.add("torn-record", device="data", account=acct,
                       offset=g.record_offset(acct), repaired_by_replay=fixed is not None)


def _report_disagreement(state: list[L.Account | None], log: dict[int, L.WalRecord],
                         report: Report) -> None:
    for a in state:
        if a is not None and a.last_lsn > report.log_end:
            report.add("log-data-disagreement", reason="data-ahead-of-log", account=a.account,
                       data_lsn=a.last_lsn, log_end=report.log_end)
    for lsn in sorted(log):
        for u in log[lsn].updates:
            a = state[u.account]
            if a is not None and a.last_lsn < lsn:
                report.add("log-data-disagreement", reason="log-not-reflected", lsn=lsn,
                           account=u.account, data_lsn=a.last_lsn,
                           beyond_log_end=lsn > report.log_end)


def _report_half_applied(state: list[L.Account | None], report: Report) -> None:
    seen: set[int] = set()
    for a in state:
        if a is None or a.last_lsn == 0 or a.last_lsn in seen:
            continue
        missing = [p for p in a.parties
                   if state[p] is not None and state[p].last_lsn < a.last_lsn]  # type: ignore[union-attr]
        if missing:
            seen.add(a.last_lsn)
            applied = [p for p in a.parties if p not in missing]
            report.add("half-applied", lsn=a.last_lsn, applied=applied, missing=missing)


def _report_invariant(state: list[L.Account | None], report: Report) -> None:
    if any(a is None for a in state):
        return  # an unreadable account makes the total unknowable; it is reported as torn
    report.total_found = sum(a.balance for a in state if a is not None)
    if report.total_found != report.geometry.total:
        report.add("invariant-broken", expected=report.geometry.total, found=report.total_found,
                   difference=report.total_found - report.geometry.total)
