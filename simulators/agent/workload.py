"""A workload thread: random transfers against a :class:`~simulators.agent.refstore.Store`.

Each transaction moves 1..50 units from one account to one or two others, carries a WAL record of
1-3 KiB (its "row data") and spends ``think_s`` (uniform in ``think_range_s``) between begin and
commit, so a freeze has real in-flight transactions to wait for. Transactions start on a fixed
schedule of ``rate_tps`` per second; while the store is frozen they queue behind the gate.
"""

from __future__ import annotations

import logging
import random
import threading
import time

from simulators.agent.errors import AgentError, InvalidField, StoreFrozen
from simulators.agent.refstore import Store

log = logging.getLogger(__name__)


class Workload:
    def __init__(self, store: Store, rate_tps: float = 200.0, seed: int | None = None,
                 think_range_s: tuple[float, float] = (0.0, 0.002)) -> None:
        if rate_tps <= 0:
            raise InvalidField("rate_tps", f"must be > 0, got {rate_tps}")
        self.store = store
        self.rate_tps = rate_tps
        self.think_range_s = think_range_s
        self.errors = 0
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def next_moves(self) -> dict[int, int]:
        n = self.store.geometry.n_accounts
        parties = self._rng.sample(range(n), self._rng.choice((2, 3)))
        credits = {p: self._rng.randint(1, 50) for p in parties[1:]}
        return {parties[0]: -sum(credits.values()), **credits}

    def run_one(self) -> int:
        length = self._rng.choice((1024, 1536, 2048, 2560, 3072))
        think = self._rng.uniform(*self.think_range_s)
        return self.store.transfer(self.next_moves(), length, think_s=think, wait_s=0.5)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="workload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        period = 1.0 / self.rate_tps
        due = time.monotonic()
        while not self._stop.is_set():
            try:
                self.run_one()
            except StoreFrozen:
                continue  # still frozen: try again (the gate wait is the application's pause)
            except AgentError as exc:
                self.errors += 1
                log.warning("transaction failed: %s", exc)
            due = max(due + period, time.monotonic() - 1.0)
            self._stop.wait(max(0.0, due - time.monotonic()))
