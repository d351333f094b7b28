"""SyncGate: a request joins the open job; the job ends only with a point that serves every
request it took; once it decided to end, a request opens a new job."""

from __future__ import annotations

import itertools
import time

from simulators.nss.replication.syncgate import SyncGate


class Submits:
    def __init__(self) -> None:
        self.ids = (f"job-{n}" for n in itertools.count(1))
        self.made: list[str] = []

    def __call__(self) -> dict:
        self.made.append(next(self.ids))
        return {"id": self.made[-1]}


def test_a_request_joins_the_open_job():
    gate, submit = SyncGate(), Submits()
    assert gate.join_or_open("rep-1", True, submit) == ("job-1", {"id": "job-1"})
    assert gate.join_or_open("rep-1", True, submit) == ("job-1", None)
    assert gate.join_or_open("rep-2", True, submit)[0] == "job-2"  # per replication
    assert submit.made == ["job-1", "job-2"]


def test_a_point_snapped_before_a_request_serves_it_only_if_nothing_was_written_since():
    gate, submit = SyncGate(), Submits()
    snapped = time.monotonic()
    gate.join_or_open("rep-1", True, submit)  # asked after that snapshot
    assert not gate.may_end("rep-1", "job-1", snapped, lambda: False)
    assert not gate.may_end("rep-1", "job-1", None, lambda: False)  # a resumed older point
    assert gate.join_or_open("rep-1", True, submit)[0] == "job-1"  # still open
    assert gate.may_end("rep-1", "job-1", time.monotonic(), lambda: False)


def test_unchanged_since_the_snapshot_serves_every_request():
    gate, submit = SyncGate(), Submits()
    gate.join_or_open("rep-1", True, submit)
    assert gate.may_end("rep-1", "job-1", None, lambda: True)


def test_the_schedulers_own_cycles_ask_for_nothing():
    gate, submit = SyncGate(), Submits()
    snapped = time.monotonic()
    gate.join_or_open("rep-1", False, submit)
    assert gate.may_end("rep-1", "job-1", snapped, lambda: False)


def test_after_a_job_decided_to_end_a_request_opens_another():
    gate, submit = SyncGate(), Submits()
    gate.join_or_open("rep-1", True, submit)
    assert gate.may_end("rep-1", "job-1", time.monotonic(), lambda: False)
    assert gate.join_or_open("rep-1", True, submit) == ("job-2", {"id": "job-2"})
    gate.close("rep-1", "job-1")  # the old job's late close leaves the new one open
    assert gate.join_or_open("rep-1", True, submit)[0] == "job-2"
    gate.forget("rep-1")
    assert gate.join_or_open("rep-1", True, submit)[0] == "job-3"
