"""Replication policies (pure): parsing and merging, windows, when a cycle is due, RPO states."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simulators.nss.replication.logic.errors import PolicyError
from simulators.nss.replication.logic.policy import Policy, retry_delay, rpo_state


def test_defaults_are_manual_and_a_patch_changes_only_what_it_names() -> None:
    base = Policy.parse({"mode": "continuous", "interval_s": 5, "rpo_s": 60,
                         "bandwidth_bps": 2_500_000})
    patched = Policy.parse({"rpo_s": 30}, base)
    assert Policy().mode == "manual"
    assert (patched.mode, patched.interval_s, patched.rpo_s, patched.bandwidth_bps) == \
        ("continuous", 5.0, 30.0, 2_500_000)
    assert Policy.from_dict(patched.to_dict()) == patched


@pytest.mark.parametrize(("doc", "field"), [
    ({"mode": "hourly"}, "policy.mode"), ({"interval_s": "5"}, "policy.interval_s"),
    ({"rpo_s": -1}, "policy.rpo_s"), ({"bandwidth_bps": 1.5}, "policy.bandwidth_bps"),
    ({"windows": "always"}, "policy.windows"), ({"windows": [{"start": "08:00"}]},
                                                 "policy.windows[0]"),
    ({"windows": [{"start": "08:00", "end": "08:00"}]}, "policy.windows[0]"),
    ({"mode": "interval", "interval_s": 0}, "policy.interval_s"), ({"rpo": 5}, "policy.rpo"),
    ({"bandwidth_bps": True}, "policy.bandwidth_bps"),
])
def test_invalid_fields_are_named(doc, field) -> None:
    with pytest.raises(PolicyError) as err:
        Policy.parse(doc)
    assert err.value.details["field"] == field and err.value.status == 400


def at(hhmm: str) -> datetime:
    return datetime(2026, 12, 4, int(hhmm[:2]), int(hhmm[3:]), tzinfo=UTC)


def test_windows_including_one_across_midnight() -> None:
    night = Policy.parse({"mode": "continuous",
                          "windows": [{"start": "22:00", "end": "06:00"}]})
    assert night.in_window(at("23:30")) and night.in_window(at("05:59"))
    assert not night.in_window(at("06:00")) and not night.in_window(at("12:00"))
    assert Policy.parse({"mode": "continuous"}).in_window(at("12:00"))


def test_when_a_cycle_is_due() -> None:
    now = at("12:00")
    continuous = Policy.parse({"mode": "continuous", "interval_s": 10})
    assert continuous.due(now, None, 100.0, None)
    assert not continuous.due(now, 95.0, 100.0, None) and continuous.due(now, 90.0, 100.0, None)
    assert not continuous.due(now, None, 100.0, retry_at=101.0)
    assert continuous.due(now, None, 102.0, retry_at=101.0)
    assert not Policy().due(now, None, 100.0, None)  # manual never
    closed = Policy.parse({"mode": "interval", "interval_s": 1,
                           "windows": [{"start": "01:00", "end": "02:00"}]})
    assert not closed.due(now, None, 100.0, None)


def test_rpo_states_and_retry_backoff() -> None:
    assert [rpo_state(lag, 30) for lag in (0, 22.4, 22.5, 30, 30.1)] == \
        ["ok", "ok", "warning", "warning", "violated"]
    assert [retry_delay(n) for n in (1, 2, 3, 6, 20)] == [1, 2, 4, 30, 30]
