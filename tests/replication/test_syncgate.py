"""SyncGate: a request joins the open job; the job ends only when its points served each kind
of request it took; once it decided to end (or failed), a request opens a new job."""

from __future__ import annotations

import itertools
import time

from simulators.nss.replication.syncgate import ANY, SyncGate


class Submits:
    def __init__(self) -> None:
        self.ids = (f"job-{n}" for n in itertools.count(1))
        self.made: list[str] = []

    def __call__(self) -> dict:
        self.made.append(next(self.ids))
        return {"id": self.made[-1]}


def point(snapped_at: float | None, quiesced: bool = False, unchanged: bool = False):
    """A cycle's ``serves`` as Cycle.serves decides it."""
    def serves(kind: str, asked_at: float) -> bool:
        fresh = snapped_at is not None and snapped_at >= asked_at
        return (fresh or unchanged) and (kind == ANY or quiesced)
    return serves


def test_a_request_joins_the_open_job():
    gate, submit = SyncGate(), Submits()
    assert gate.join_or_open("rep-1", True, False, submit) == ("job-1", {"id": "job-1"})
    assert gate.join_or_open("rep-1", True, False, submit) == ("job-1", None)
    assert gate.join_or_open("rep-2", True, False, submit)[0] == "job-2"  # per replication
    assert submit.made == ["job-1", "job-2"]


def test_a_point_snapped_before_a_request_serves_it_only_if_nothing_was_written_since():
    gate, submit = SyncGate(), Submits()
    snapped = time.monotonic()
    gate.join_or_open("rep-1", True, False, submit)  # asked after that snapshot
    assert not gate.may_end("rep-1", "job-1", point(snapped))
    assert not gate.may_end("rep-1", "job-1", point(None))  # a resumed older point
    assert gate.join_or_open("rep-1", True, False, submit)[0] == "job-1"  # still open
    assert gate.may_end("rep-1", "job-1", point(None, unchanged=True))


def test_a_quiesce_request_that_joins_makes_the_next_cycle_quiesced():
    gate, submit = SyncGate(), Submits()
    gate.join_or_open("rep-1", True, False, submit)
    assert not gate.wants_quiesce("job-1")
    gate.join_or_open("rep-1", True, True, submit)
    assert gate.wants_quiesce("job-1")
    assert not gate.may_end("rep-1", "job-1", point(time.monotonic()))  # crash-consistent
    assert gate.wants_quiesce("job-1")  # the plain request was served, this one was not
    assert gate.may_end("rep-1", "job-1", point(time.monotonic(), quiesced=True))


def test_the_schedulers_own_cycles_ask_for_nothing():
    gate, submit = SyncGate(), Submits()
    snapped = time.monotonic()
    gate.join_or_open("rep-1", False, True, submit)
    assert not gate.wants_quiesce("job-1")
    assert gate.may_end("rep-1", "job-1", point(snapped))


def test_after_a_job_decided_to_end_or_failed_a_request_opens_another():
    gate, submit = SyncGate(), Submits()
    gate.join_or_open("rep-1", True, True, submit)
    assert gate.may_end("rep-1", "job-1", point(time.monotonic(), quiesced=True))
    assert gate.join_or_open("rep-1", True, False, submit) == ("job-2", {"id": "job-2"})
    gate.close("rep-1", "job-1")  # the old job's late close leaves the new one open
    assert gate.join_or_open("rep-1", True, False, submit)[0] == "job-2"
    gate.close("rep-1", "job-2")  # failed: what it was asked goes with it
    assert not gate.wants_quiesce("job-2")
    assert gate.join_or_open("rep-1", False, False, submit)[0] == "job-3"
    assert gate.may_end("rep-1", "job-3", point(None))  # nothing asked of this one
    gate.join_or_open("rep-1", True, False, submit)
    gate.forget("rep-1")
    assert gate.join_or_open("rep-1", True, False, submit)[0] == "job-5"
