"""KeyedLocks: one holder per key at a time, and nothing kept once no one holds or waits."""

from __future__ import annotations

import threading
import time

from simulators.nss.replication.locks import KeyedLocks


def test_one_holder_per_key_and_nothing_left_after():
    locks, inside, most, guard = KeyedLocks(), {"a": 0, "b": 0}, {"a": 0, "b": 0}, threading.Lock()

    def work(key: str) -> None:
        for _ in range(200):
            with locks.hold(key):
                with guard:
                    inside[key] += 1
                    most[key] = max(most[key], inside[key])
                time.sleep(0)
                with guard:
                    inside[key] -= 1

    threads = [threading.Thread(target=work, args=(k,)) for k in "abab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == {"a": 1, "b": 1}
    assert len(locks) == 0


def test_held_while_inside_and_a_waiter_keeps_the_lock_alive():
    locks, entered, leave = KeyedLocks(), threading.Event(), threading.Event()

    def waiter() -> None:
        with locks.hold("r1"):
            entered.set()
            leave.wait(5)

    with locks.hold("r1"):
        assert locks.held("r1") and not locks.held("r2")
        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(0.05)
        assert not entered.is_set() and len(locks) == 1
    assert entered.wait(5) and locks.held("r1")  # the waiter got the same lock
    leave.set()
    thread.join(5)
    assert len(locks) == 0


def test_an_exception_inside_releases_and_forgets():
    locks = KeyedLocks()
    try:
        with locks.hold("r1"):
            raise ValueError("boom")
    except ValueError:
        pass
    assert not locks.held("r1") and len(locks) == 0
