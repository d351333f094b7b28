"""Planner: every plan and every conflict, from recovery-point histories and dirty sets."""

from __future__ import annotations

import pytest

from simulators.nss.replication.logic.errors import (
    DivergedError,
    NoCommonRecoveryPointError,
    PlanConflictError,
)
from simulators.nss.replication.logic.planner import (
    Diverged,
    Incremental,
    InitialFull,
    NoCommonRecoveryPoint,
    RecoveryPoint,
    Resync,
    Side,
    common_point,
    plan,
    plan_or_raise,
)


def side(name: str, ids: list[str], dirty: dict[str, set[int]] | None = None,
         pruned: tuple[str, ...] = ()) -> Side:
    points = [RecoveryPoint(i, None if i in pruned else f"{name}-snap-{i}") for i in ids]
    return Side(name, points, {k: frozenset(v) for k, v in (dirty or {}).items()})


def test_blank_replica_gets_initial_full() -> None:
    result = plan(side("a", ["rp1"], {"rp1": {1}}), side("b", []))
    assert result == InitialFull()
    assert result.kind == "initial" and result.base_rp is None


def test_blank_replica_that_was_written_gets_those_chunks_verbatim() -> None:
    replica = Side("b", written_since_creation={4, 9})
    assert plan(side("a", []), replica) == InitialFull(frozenset({4, 9}))


def test_incremental_from_latest_common_point() -> None:
    source = side("a", ["rp1", "rp2", "rp3"], {"rp2": {7, 8}, "rp3": {8}})
    replica = side("b", ["rp1", "rp2"], {"rp1": {1}, "rp2": set()})
    result = plan(source, replica)
    assert result == Incremental("rp2", "a-snap-rp2", "b-snap-rp2", frozenset({7, 8}))
    assert result.base_rp == "rp2" and "2 dirty" in result.describe()


def test_pruned_snapshot_falls_back_to_older_common_point() -> None:
    source = side("a", ["rp1", "rp2"], {"rp1": {1, 2}, "rp2": {2}}, pruned=("rp2",))
    replica = side("b", ["rp1", "rp2"], {"rp1": set(), "rp2": set()})
    assert common_point(source, replica) == "rp1"
    assert plan(source, replica).dirty == frozenset({1, 2})


def test_no_shared_point_is_a_conflict() -> None:
    result = plan(side("a", ["rp5"], {"rp5": set()}), side("b", ["rp1"], {"rp1": set()}))
    assert isinstance(result, NoCommonRecoveryPoint)
    assert result.reason == "they share no recovery point"
    assert result.source_points == ("rp5",) and result.replica_points == ("rp1",)


def test_shared_but_unusable_points_are_a_conflict_naming_them() -> None:
    source = side("a", ["rp1"], {"rp1": set()}, pruned=("rp1",))
    replica = side("b", ["rp1"], {"rp1": set()})
    result = plan(source, replica)
    assert isinstance(result, NoCommonRecoveryPoint) and "rp1" in result.reason
    unknown_changes = side("b", ["rp1"], {})
    assert isinstance(plan(side("a", ["rp1"], {"rp1": set()}), unknown_changes),
                      NoCommonRecoveryPoint)


def test_source_without_points_but_replica_with_points_is_a_conflict() -> None:
    assert isinstance(plan(side("a", []), side("b", ["rp1"], {"rp1": set()})),
                      NoCommonRecoveryPoint)


def test_replica_written_after_common_point_diverged() -> None:
    source = side("a", ["rp1", "rp2"], {"rp2": {3}})
    replica = side("b", ["rp1", "rp2", "rp3"], {"rp2": {5, 6}})
    result = plan(source, replica)
    assert result == Diverged("a", "b", "rp2", frozenset({5, 6}), ("rp3",))
    assert "rp3" in result.describe() and "2 chunk(s)" in result.describe()


def test_resync_sends_union_when_allowed() -> None:
    source = side("a", ["rp1", "rp2"], {"rp2": {3, 5}})
    replica = side("b", ["rp1", "rp2"], {"rp2": {5, 6}})
    result = plan(source, replica, allow_resync=True)
    assert isinstance(result, Resync)
    assert result.dirty == frozenset({3, 5, 6}) and result.from_rp == "rp2"
    assert result.replica_snapshot == "b-snap-rp2" and result.kind == "resync"


def test_reverse_direction_after_failover_is_incremental() -> None:
    """After failover the old replica (now source) wrote; the old source did not."""
    new_source = side("b", ["rp1", "rp2"], {"rp2": {11, 12}})
    old_source = side("a", ["rp1", "rp2", "rp3"], {"rp2": set()})
    assert plan(new_source, old_source) == Incremental(
        "rp2", "b-snap-rp2", "a-snap-rp2", frozenset({11, 12}))


def test_plan_or_raise_raises_typed_errors() -> None:
    with pytest.raises(NoCommonRecoveryPointError) as err:
        plan_or_raise(side("a", ["x"], {"x": set()}), side("b", ["y"], {"y": set()}))
    assert isinstance(err.value.conflict, NoCommonRecoveryPoint)
    assert err.value.code == "no-common-recovery-point" and not err.value.transient
    with pytest.raises(DivergedError) as err2:
        plan_or_raise(side("a", ["x"], {"x": set()}), side("b", ["x"], {"x": {1}}))
    assert isinstance(err2.value, PlanConflictError) and err2.value.details["common_rp"] == "x"
    assert isinstance(plan_or_raise(side("a", []), side("b", [])), InitialFull)
