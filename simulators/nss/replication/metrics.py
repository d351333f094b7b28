"""Replication figures for ``GET /metrics`` (Prometheus text format, ``prometheus_client``).

Per replication (label ``replication``): the RPO lag and objective and whether it is violated,
bytes sent on the wire vs the ideal (changed sectors x 512) vs what 4 KiB-block replication
would have sent (cumulative, from the stored stats, so they survive restarts), a histogram of
cycle durations, transfer retries, and the parts in flight (queued + being sent) right now.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


class ReplicationMetrics:
    def __init__(self, rows: Callable[[], list[dict[str, Any]]]) -> None:
        """``rows()`` gives each replication's ``{id, rpo: {...}, stats: {...}}``."""
        self.registry = CollectorRegistry(auto_describe=True)
        self._rows = rows
        self._flight: dict[str, int] = {}
        self._lock = threading.Lock()
        self.cycles = Histogram("nss_replication_cycle_seconds", "Duration of replication "
                                "cycles", ["replication"], buckets=BUCKETS,
                                registry=self.registry)
        self.retries = Counter("nss_replication_retries", "Retries: a transfer resumed after "
                               "a dropped link, or a failed cycle rescheduled", ["replication"],
                               registry=self.registry)
        self.registry.register(_Collector(self))

    def cycle_done(self, rep_id: str, seconds: float) -> None:
        self.cycles.labels(rep_id).observe(seconds)

    def retry(self, rep_id: str) -> None:
        self.retries.labels(rep_id).inc()

    def forget(self, rep_id: str) -> None:
        """Drop a deleted replication's label sets (histogram, counter, parts in flight)."""
        for metric in (self.cycles, self.retries):
            metric.remove(rep_id)  # a label set never observed is no error
        with self._lock:
            self._flight.pop(rep_id, None)

    @contextmanager
    def in_flight(self, rep_id: str, parts: int) -> Iterator[None]:
        with self._lock:
            self._flight[rep_id] = parts
        try:
            yield
        finally:
            with self._lock:
                self._flight[rep_id] = 0

    def flight(self, rep_id: str) -> int:
        with self._lock:
            return self._flight.get(rep_id, 0)

    def text(self) -> str:
        return generate_latest(self.registry).decode()


class _Collector:
    def __init__(self, metrics: ReplicationMetrics) -> None:
        self.m = metrics

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        rows = self.m._rows()
        gauges = {
            "lag": GaugeMetricFamily("nss_replication_lag_seconds", "Now minus the time of the "
                                     "newest recovery point", labels=["replication"]),
            "objective": GaugeMetricFamily("nss_replication_rpo_objective_seconds",
                                           "RPO objective", labels=["replication"]),
            "violated": GaugeMetricFamily("nss_replication_rpo_violated", "1 while the lag "
                                          "exceeds the objective", labels=["replication"]),
            "flight": GaugeMetricFamily("nss_replication_parts_in_flight", "Delta parts "
                                        "queued or being sent", labels=["replication"]),
        }
        sent = CounterMetricFamily("nss_replication_bytes", "Bytes: wire (sent, compressed "
                                   "and sealed), ideal (changed sectors x 512), block4k (4 KiB "
                                   "block replication)", labels=["replication", "kind"])
        for r in rows:
            rpo, stats = r["rpo"], r["stats"]
            gauges["lag"].add_metric([r["id"]], rpo["lag_s"])
            gauges["objective"].add_metric([r["id"]], rpo["objective_s"])
            gauges["violated"].add_metric([r["id"]], float(rpo["state"] == "violated"))
            gauges["flight"].add_metric([r["id"]], self.m.flight(r["id"]))
            for kind, key in (("wire", "wire_bytes"), ("ideal", "ideal_bytes"),
                              ("block4k", "block4k_bytes")):
                sent.add_metric([r["id"], kind], stats.get(key, 0))
        yield from gauges.values()
        yield sent
