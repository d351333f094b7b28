"""Bandwidth limits: one token bucket per peer link, shared fairly by its replications.

Senders take tokens in grants of at most ``GRANT`` bytes, served strictly in arrival order
(a ticket queue), so replications sharing a link interleave grant by grant and each gets an
equal share whatever its part sizes. The link's rate is the lowest non-zero ``bandwidth_bps``
among the policies of its replications (a limit describes the link); 0 means unlimited.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

GRANT = 64 * 1024


class TokenBucket:
    def __init__(self, rate: int = 0) -> None:
        self._cv = threading.Condition()
        self._turn = self._next = 0
        self.rate = rate
        self._tokens = 0.0
        self._stamp = time.monotonic()

    def set_rate(self, rate: int) -> None:
        with self._cv:
            if rate != self.rate:
                self.rate, self._tokens, self._stamp = rate, 0.0, time.monotonic()

    @property
    def burst(self) -> float:
        return max(GRANT, self.rate / 20)

    def take(self, n: int) -> None:
        """Block until ``n`` bytes may be sent (in grants of at most GRANT, FIFO)."""
        while n > 0 and self.rate > 0:
            grant = min(n, GRANT)
            self._take_one(grant)
            n -= grant

    def _take_one(self, n: int) -> None:
        with self._cv:
            ticket = self._next
            self._next += 1
            while ticket != self._turn:
                self._cv.wait()
            try:
                while self.rate > 0 and self._refill() < n:
                    self._cv.wait((n - self._tokens) / self.rate)
                self._tokens -= n
            finally:
                self._turn += 1
                self._cv.notify_all()

    def _refill(self) -> float:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        return self._tokens

    def paced(self, data: bytes) -> Iterator[bytes]:
        """``data`` in GRANT slices, each released when the bucket allows it."""
        view = memoryview(data)
        for at in range(0, len(view), GRANT):
            piece = view[at : at + GRANT]
            self.take(len(piece))
            yield bytes(piece)


class Throttles:
    """The bucket of each peer link."""

    def __init__(self) -> None:
        self._buckets: dict[str, TokenBucket] = {}
        self._guard = threading.Lock()

    def link(self, peer_id: str, rates: list[int]) -> TokenBucket:
        limits = [r for r in rates if r > 0]
        with self._guard:
            bucket = self._buckets.setdefault(peer_id, TokenBucket())
        bucket.set_rate(min(limits) if limits else 0)
        return bucket
