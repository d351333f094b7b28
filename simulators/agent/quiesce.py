"""The agent's quiesce/thaw state machine (no HTTP here; ``service.py`` serves it).

::

    thawed --quiesce(rid)--> freezing --store frozen in budget--> frozen(holds={rid})
      ^                         |                                   |  |
      |                         +-- failed / budget exceeded -------+  +-- quiesce(rid2): joins
      |                              (answer error; store reopened)       (holds={rid, rid2})
      +---- thaw(rid) of the last hold, or the hold limit expires (self-thaw) <---------+

Guarantees:

- ``quiesce`` answers within its budget: ``timeout_ms`` minus a safety margin (20 %, at least
  50 ms) so the answer reaches the appliance before it gives up. A freeze that overruns is
  aborted by thawing the store at once (its flush finishes in the background): never left
  frozen.
- Every hold self-thaws after ``hold_limit_s`` if no thaw arrives.
- ``thaw`` is idempotent and harmless: for a request already thawed (or self-thawed) it answers
  the recorded pause with ``note: already-thawed|self-thawed``; for an unknown request id it answers
  ``state: thawed, paused_ms: 0, note: unknown-request``. Always HTTP 200: a thaw never fails.
- The pause reported per quiesce is the time new transactions were held back, measured by the
  store from the moment its gate closed until it reopened.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol

from simulators.agent.errors import AgentBusy, InvalidField, QuiesceTimeout

log = logging.getLogger(__name__)
_FINISHED_KEPT = 256


class Freezable(Protocol):
    def freeze(self, timeout_s: float) -> float: ...

    def thaw(self) -> float: ...


@dataclass
class Hold:
    request_id: str
    luns: list[str]
    started: float
    freeze_ms: float
    timer: threading.Timer | None = None


@dataclass
class QuiesceStats:
    quiesces: int = 0
    failures: int = 0
    self_thaws: int = 0
    unknown_thaws: int = 0
    pauses_ms: list[float] = field(default_factory=list)
    freezes_ms: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"quiesces": self.quiesces, "failures": self.failures,
                "self_thaws": self.self_thaws, "unknown_thaws": self.unknown_thaws,
                "pause_ms": summary(self.pauses_ms), "freeze_ms": summary(self.freezes_ms),
                "last_pause_ms": round(self.pauses_ms[-1], 3) if self.pauses_ms else None}


def summary(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"count": 0, "median": None, "p99": None, "max": None}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"count": len(values), "median": round(statistics.median(ordered), 3),
            "p99": round(p99, 3), "max": round(ordered[-1], 3)}


def budget_s(timeout_ms: int) -> float:
    """The time the agent allows itself to freeze, leaving a margin for the answer to travel."""
    margin = max(50.0, 0.2 * timeout_ms)
    return max(timeout_ms - margin, 0.5 * timeout_ms) / 1000


class _FreezeAttempt:
    """One store.freeze() in a worker thread; at the deadline the caller aborts it with thaw()."""

    def __init__(self, quiescer: Quiescer, budget: float) -> None:
        self.quiescer, self.budget = quiescer, budget
        self.done = threading.Event()
        self.freeze_ms = 0.0
        self.error: BaseException | None = None
        threading.Thread(target=self._run, name="agent-freeze", daemon=True).start()

    def _run(self) -> None:
        try:
            self.freeze_ms = self.quiescer.store.freeze(self.budget)
        except BaseException as exc:
            self.error = exc
        self.done.set()

    def wait(self) -> float:
        if not self.done.wait(self.budget):
            self.quiescer.store.thaw()  # aborts the freeze: the application resumes now
            raise QuiesceTimeout(f"the application did not freeze within {self.budget:.3f}s",
                                     stage="agent-deadline", budget_s=self.budget)
        if self.error is not None:
            raise self.error
        return self.freeze_ms


class Quiescer:
    def __init__(self, store: Freezable, hold_limit_s: float = 10.0) -> None:
        if hold_limit_s <= 0:
            raise InvalidField("hold_limit_s", f"must be > 0, got {hold_limit_s}")
        self.store = store
        self.hold_limit_s = hold_limit_s
        self.stats = QuiesceStats()
        self._holds: dict[str, Hold] = {}
        self._finished: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        with self._lock:
            return "frozen" if self._holds else "thawed"

    def quiesce(self, request_id: str, luns: list[str], timeout_ms: int) -> dict[str, Any]:
        budget = budget_s(timeout_ms)
        if not self._lock.acquire(timeout=budget):
            raise AgentBusy("another quiesce is still being set up", request_id=request_id)
        try:
            self.stats.quiesces += 1
            if request_id in self._holds:
                return self._frozen_answer(self._holds[request_id])
            freeze_ms = 0.0 if self._holds else self._freeze(request_id, budget)
            hold = Hold(request_id, luns, time.monotonic(), freeze_ms)
            hold.timer = threading.Timer(self.hold_limit_s, self._expire, (request_id,))
            hold.timer.daemon = True
            hold.timer.start()
            self._holds[request_id] = hold
            log.info("frozen for %s (luns %s) in %.1f ms", request_id, luns, freeze_ms)
            return self._frozen_answer(hold)
        finally:
            self._lock.release()

    def _freeze(self, request_id: str, budget: float) -> float:
        try:
            freeze_ms = _FreezeAttempt(self, budget).wait()
        except Exception as exc:
            self.stats.failures += 1
            log.warning("quiesce %s failed: %s", request_id, exc)
            raise
        self.stats.freezes_ms.append(freeze_ms)
        return freeze_ms

    @staticmethod
    def _frozen_answer(hold: Hold) -> dict[str, Any]:
        return {"state": "frozen", "request_id": hold.request_id,
                "freeze_ms": round(hold.freeze_ms, 3)}

    def thaw(self, request_id: str) -> dict[str, Any]:
        with self._lock:
            hold = self._holds.pop(request_id, None)
            if hold is None:
                return self._thaw_answer_unheld(request_id)
            if hold.timer is not None:
                hold.timer.cancel()
            return self._release(hold, "thawed")

    def _release(self, hold: Hold, how: str) -> dict[str, Any]:
        paused = (time.monotonic() - hold.started) * 1000 + hold.freeze_ms
        if not self._holds:
            paused = self.store.thaw()
            self.stats.pauses_ms.append(paused)
        self._finished[hold.request_id] = (paused, how)
        while len(self._finished) > _FINISHED_KEPT:
            self._finished.popitem(last=False)
        return {"state": "thawed", "request_id": hold.request_id, "paused_ms": round(paused, 3)}

    def _thaw_answer_unheld(self, request_id: str) -> dict[str, Any]:
        if request_id in self._finished:
            paused, how = self._finished[request_id]
            note = "self-thawed" if how == "self-thawed" else "already-thawed"
            return {"state": "thawed", "request_id": request_id, "paused_ms": round(paused, 3),
                    "note": note}
        self.stats.unknown_thaws += 1
        return {"state": "thawed", "request_id": request_id, "paused_ms": 0.0,
                "note": "unknown-request"}

    def _expire(self, request_id: str) -> None:
        with self._lock:
            hold = self._holds.pop(request_id, None)
            if hold is None:
                return
            self.stats.self_thaws += 1
            answer = self._release(hold, "self-thawed")
        log.warning("no thaw for %s within %.1fs: self-thawed after %.1f ms", request_id,
                    self.hold_limit_s, answer["paused_ms"])

    def close(self) -> None:
        """Thaw everything (shutdown): the application is never left frozen."""
        with self._lock:
            for hold in list(self._holds.values()):
                if hold.timer is not None:
                    hold.timer.cancel()
            self._holds.clear()
            self.store.thaw()

    def status(self) -> dict[str, Any]:
        with self._lock:
            holds = [{"request_id": h.request_id, "luns": h.luns,
                      "held_ms": round((time.monotonic() - h.started) * 1000, 3)}
                     for h in self._holds.values()]
        return {"state": "frozen" if holds else "thawed", "holds": holds,
                "hold_limit_s": self.hold_limit_s, "stats": self.stats.to_dict()}
