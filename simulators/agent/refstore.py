"""The reference workload's store (not the agent): a small transactional account store over two
block devices.

Transactions move money between 2-3 accounts, so the total balance is a global invariant. The store
behaves like a database with buffered commits and no write barriers:

1. ``transfer`` commits in memory: it appends a WAL record (after-images + checksum, LSN = txn id)
   to the log buffer and updates the in-memory account pages, marking them dirty.
2. ``flush`` (every ``flush_interval_s`` from the flusher thread) writes the buffered WAL
   records, the dirty account pages **and** a checkpoint (WAL superblock: "everything up to LSN c
   is in the data area") as one batch. The batch is cut into requests at random sector boundaries,
   shuffled across both devices and issued by several writer threads, like a volatile disk cache
   reordering writes (see flushplan.py). A snapshot taken while a batch is in flight can therefore
   hold torn records, data ahead of the log, a checkpoint ahead of the data, half a transfer.
3. Flushes never overlap: a batch is complete before the next starts, and a WAL slot is reused only
   once a *completed* flush has checkpointed the record it held.

``freeze`` is what the Snapshot Agent calls: close the gate to new transactions, wait for in-flight
ones, preempt a background flush (its unsent requests are dropped, its batch rebuffered), then
flush everything *ordered*: WAL, barrier, data, barrier, checkpoint, in a few large requests.
``thaw`` reopens the gate and returns the pause in milliseconds. A quiesced image is thus exactly
a clean checkpoint and the checker finds nothing in it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from simulators.agent import flushplan as plan
from simulators.agent import layout as L
from simulators.agent.blockdev import BlockDevice
from simulators.agent.errors import InvalidField, QuiesceTimeout, StoreFrozen

log = logging.getLogger(__name__)


@dataclass
class StoreConfig:
    io_threads: int = 4
    flush_interval_s: float = 0.1
    seed: int | None = None


@dataclass
class StoreStats:
    committed: int = 0
    flushes: int = 0
    write_requests: int = 0
    pauses_ms: list[float] = field(default_factory=list)




class _Preempted(Exception):
    """A background flush gave way to a freeze; its batch went back to the buffers."""


class Store:
    """The transactional store; thread-safe. Build it with :meth:`format`."""

    def __init__(self, data: BlockDevice, wal: BlockDevice, geometry: L.Geometry,
                 accounts: list[L.Account], lsn: int, config: StoreConfig | None = None) -> None:
        self.data, self.wal, self.geometry = data, wal, geometry
        self.config = config or StoreConfig()
        self.stats = StoreStats()
        self._accounts = accounts
        self._lsn = self._durable_lsn = lsn
        self._pending: list[L.WalRecord] = []
        self._dirty: set[int] = set()
        self._cond = threading.Condition()
        self._gate_closed = self._frozen = False
        self._inflight = 0
        self._pause_started = 0.0
        self._flush_lock = threading.Lock()
        self._preempt = threading.Event()
        self._freeze_lock = threading.Lock()
        self._rng = random.Random(self.config.seed)
        self._pool = ThreadPoolExecutor(self.config.io_threads, thread_name_prefix="store-io")
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle
    @classmethod
    def format(cls, data: BlockDevice, wal: BlockDevice, geometry: L.Geometry,
               config: StoreConfig | None = None) -> Store:
        """Write an empty store: superblocks, every account at an equal share, a zeroed WAL ring."""
        share, rest = divmod(geometry.total, geometry.n_accounts)
        accounts = [L.Account(i, share + (1 if i < rest else 0), 0) for i in
                    range(geometry.n_accounts)]
        image = b"".join(L.encode_account(a, geometry.record_bytes) for a in accounts)
        data.write(0, L.encode_data_superblock(geometry) + image)
        ring = geometry.wal_slots * L.WAL_SLOT_BYTES
        for off in range(0, ring, 256 * 1024):
            wal.write(L.SECTOR + off, bytes(min(256 * 1024, ring - off)))
        wal.write(0, L.encode_wal_superblock(geometry, 0))
        data.flush()
        wal.flush()
        return cls(data, wal, geometry, accounts, 0, config)

    def start_flusher(self) -> None:
        self._flusher = threading.Thread(target=self._flush_loop, name="store-flusher", daemon=True)
        self._flusher.start()

    def close(self) -> None:
        """Stop the flusher, write everything buffered, release the writer threads."""
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join()
        self.thaw()
        self.flush()
        self._pool.shutdown()

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.config.flush_interval_s):
            try:
                self.flush()
            except Exception as exc:  # keep flushing later; the batch was put back
                log.warning("background flush failed: %s", exc)

    # ----------------------------------------------------------------- reads
    @property
    def lsn(self) -> int:
        with self._cond:
            return self._lsn

    def balances(self) -> list[int]:
        with self._cond:
            return [a.balance for a in self._accounts]

    @property
    def flushing(self) -> bool:
        return self._flush_lock.locked()

    @property
    def frozen(self) -> bool:
        with self._cond:
            return self._frozen

    # ----------------------------------------------------------------- transactions
    def transfer(self, moves: dict[int, int], record_length: int = 1024, think_s: float = 0.0,
                 wait_s: float | None = None) -> int:
        """Apply ``moves`` (account -> delta, summing to 0) atomically; return the txn's LSN.

        ``think_s`` is work done inside the transaction before it commits (it counts as in-flight
        for ``freeze``). Blocks while the store is frozen, up to ``wait_s`` (StoreFrozen after).
        """
        self._validate(moves, record_length)
        self._begin(wait_s)
        try:
            if think_s:
                time.sleep(think_s)
            return self._commit(moves, record_length)
        finally:
            with self._cond:
                self._inflight -= 1
                self._cond.notify_all()

    def _validate(self, moves: dict[int, int], record_length: int) -> None:
        if not 2 <= len(moves) <= L.MAX_PARTIES:
            raise InvalidField("moves", f"a transaction touches 2..{L.MAX_PARTIES} accounts")
        bad = [a for a in moves if not 0 <= a < self.geometry.n_accounts]
        if bad:
            raise InvalidField("moves", f"unknown account {bad[0]}", account=bad[0])
        if sum(moves.values()) != 0:
            raise InvalidField("moves", "deltas must sum to 0 (money is moved, not created)")
        if not 1024 <= record_length <= L.WAL_SLOT_BYTES or record_length % L.SECTOR:
            raise InvalidField("record_length", "must be 1024..3072 and a multiple of 512")

    def _begin(self, wait_s: float | None) -> None:
        deadline = None if wait_s is None else time.monotonic() + wait_s
        with self._cond:
            while self._gate_closed:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise StoreFrozen("the store is frozen for a snapshot; retry after thaw")
                self._cond.wait(left)
            self._inflight += 1

    def _commit(self, moves: dict[int, int], record_length: int) -> int:
        while True:
            with self._cond:
                lsn = self._lsn + 1
                if lsn - self.geometry.wal_slots <= self._durable_lsn:
                    return self._apply(lsn, moves, record_length)
            self.flush()  # the WAL ring is full: make room by checkpointing

    def _apply(self, lsn: int, moves: dict[int, int], record_length: int) -> int:
        parties = tuple(moves)
        updates = []
        for acct, delta in moves.items():
            new = L.Account(acct, self._accounts[acct].balance + delta, lsn, parties)
            self._accounts[acct] = new
            self._dirty.add(acct)
            updates.append(L.Update(acct, new.balance, delta))
        self._pending.append(L.WalRecord(lsn, tuple(updates), record_length))
        self._lsn = lsn
        self.stats.committed += 1
        return lsn

    # ----------------------------------------------------------------- flushing
    def flush(self, lock_timeout_s: float | None = None, ordered: bool = False) -> int:
        """Write the buffered batch (see module docstring); return the number of write requests.

        ``ordered`` is the freeze flush: barriers between WAL, data and checkpoint, few large
        requests (see flushplan.py). ``lock_timeout_s`` bounds the wait for a background flush,
        which a pending freeze preempts: its unsent requests are dropped and its batch rebuffered.
        """
        wait = -1 if lock_timeout_s is None else max(lock_timeout_s, 0)
        if ordered:
            self._preempt.set()
        acquired = self._flush_lock.acquire(timeout=wait)
        if ordered:
            self._preempt.clear()
        if not acquired:
            raise QuiesceTimeout("a background flush did not finish in time", stage="flush-wait")
        try:
            return self._flush_locked(ordered)
        finally:
            self._flush_lock.release()

    def _flush_locked(self, ordered: bool) -> int:
        with self._cond:
            records, self._pending = self._pending, []
            dirty, self._dirty = sorted(self._dirty), set()
            span = range(dirty[0], dirty[-1] + 1) if ordered and dirty else dirty
            pages = [self._accounts[a] for a in span]  # ordered: whole span, one request
            checkpoint = self._lsn
        if checkpoint == self._durable_lsn and not records and not pages:
            return 0
        parts = plan.batch(self.geometry, records, pages, checkpoint, pad_wal=True)
        phases = plan.ordered(parts) if ordered else [plan.unordered(parts, self._rng)]
        try:
            for phase in phases:  # the barrier between phases of an ordered flush
                self._issue(phase, preemptible=not ordered)
        except Exception as exc:
            self._put_back(records, dirty)
            if isinstance(exc, _Preempted):
                return 0
            raise
        with self._cond:
            self._durable_lsn = checkpoint
            self.stats.flushes += 1
            self.stats.write_requests += sum(len(p) for p in phases)
            self._cond.notify_all()
        return sum(len(p) for p in phases)

    def _issue(self, writes: list[plan.Write], preemptible: bool) -> None:
        futures = [self._pool.submit(self._write, dev, off, blob, preemptible)
                   for dev, off, blob in writes]
        errors = [f.exception() for f in futures]
        first = next((e for e in errors if e is not None), None)
        if first is not None:
            raise first

    def _write(self, dev: str, offset: int, blob: bytes, preemptible: bool) -> None:
        if preemptible and self._preempt.is_set():
            raise _Preempted()
        (self.data if dev == "data" else self.wal).write(offset, blob)

    def _put_back(self, records: list[L.WalRecord], dirty: list[int]) -> None:
        with self._cond:
            self._pending = records + self._pending
            self._dirty.update(dirty)

    # ----------------------------------------------------------------- quiescence
    def freeze(self, timeout_s: float) -> float:
        """Quiesce within ``timeout_s``; return the milliseconds it took.

        Closes the gate to new transactions, waits for in-flight ones, flushes. On any failure or
        when the deadline passes the gate is reopened (never left frozen) and the error raised.
        """
        start = time.monotonic()
        deadline = start + timeout_s
        if not self._freeze_lock.acquire(timeout=max(timeout_s, 0)):
            raise QuiesceTimeout("another freeze is still in progress", stage="lock")
        try:
            if self._close_gate(start):
                return 0.0
            try:
                self._drain(deadline)
                self._flush_by(deadline)
            except BaseException:
                self.thaw()
                raise
            with self._cond:
                if not self._gate_closed:  # thaw() was called meanwhile: the caller gave up
                    raise QuiesceTimeout("freeze aborted by thaw", stage="aborted")
                self._frozen = True
            return (time.monotonic() - start) * 1000
        finally:
            self._freeze_lock.release()

    def _close_gate(self, now: float) -> bool:
        with self._cond:
            if self._frozen:
                return True
            self._gate_closed = True
            self._pause_started = now
            return False

    def _drain(self, deadline: float) -> None:
        with self._cond:
            while self._inflight:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise QuiesceTimeout("in-flight transactions did not finish in time",
                                         stage="drain", inflight=self._inflight)
                self._cond.wait(left)

    def _flush_by(self, deadline: float) -> None:
        self.flush(lock_timeout_s=deadline - time.monotonic(), ordered=True)
        if time.monotonic() > deadline:
            raise QuiesceTimeout("flushing buffered writes took too long", stage="flush")

    def thaw(self) -> float:
        """Reopen the gate; return how long new transactions were held back (ms), 0 if not.

        Also aborts a freeze still in progress (its flush completes in the background, and the
        freeze then raises QuiesceTimeout): the application resumes at once.
        """
        with self._cond:
            if not self._gate_closed:
                return 0.0
            self._gate_closed = self._frozen = False
            paused = (time.monotonic() - self._pause_started) * 1000
            self.stats.pauses_ms.append(paused)
            self._cond.notify_all()
            return paused
