"""Decide what a replication cycle must send: a plan, or a typed conflict (never a guess).

Inputs are each side's recovery-point history (oldest first; the same recovery-point id names
the same content on both sides, each side holding it in its own snapshot) and, per recovery
point, the chunks written on that side since it. ``plan`` returns one of:

- ``InitialFull``  the replica has no recovery point: diff the source head against zeros
  (``microscan.diff_initial``), so only non-zero sectors travel. Chunks the blank replica has
  nevertheless written (``replica_dirty``) travel verbatim (base ``None``).
- ``Incremental``  the latest usable common recovery point, the replica unchanged since: diff
  the source's snapshot of ``from_rp`` against the head, only in ``dirty``.
- ``Resync``       both sides written after the common point and the caller allows discarding
  the replica's writes: ``dirty`` is the union of both sides' sets. The receiver first rolls
  its ``replica_dirty`` chunks back to its snapshot of ``from_rp`` (so it holds exactly the
  sender's base again, which also keeps XOR extents valid), then applies the delta. A receiver
  that cannot roll back must get ``replica_dirty - source_dirty`` chunks verbatim instead.

or a conflict (``.error()`` gives the matching PlanConflictError):

- ``NoCommonRecoveryPoint``  no recovery point that both sides hold with a snapshot and known
  changes since it.
- ``Diverged``               the replica was written after the common point (or holds newer
  points the source lacks) and ``allow_resync`` is False.

A usable common point needs a snapshot on both sides and both dirty sets; the latest usable one
wins (an older one is still exact, just a larger delta).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from .errors import DivergedError, NoCommonRecoveryPointError, PlanConflictError

Chunks = frozenset[int]


@dataclass(frozen=True)
class RecoveryPoint:
    id: str
    snapshot_id: str | None  # this side's snapshot holding the point; None once pruned


@dataclass(frozen=True)
class Side:
    """One appliance's view of a replicated device.

    ``dirty_since[rp]`` is every chunk written on this side since its snapshot of ``rp`` by
    anyone: host writes and, on a replica, applied deltas.
    """

    name: str
    points: Sequence[RecoveryPoint] = ()
    dirty_since: Mapping[str, AbstractSet[int]] = field(default_factory=dict)
    written_since_creation: AbstractSet[int] = frozenset()

    def point(self, rp_id: str) -> RecoveryPoint | None:
        return next((p for p in self.points if p.id == rp_id), None)


@dataclass(frozen=True)
class InitialFull:
    replica_dirty: Chunks = frozenset()
    kind = "initial"
    base_rp = None

    def describe(self) -> str:
        extra = f", {len(self.replica_dirty)} replica chunk(s) verbatim" if self.replica_dirty \
            else ""
        return f"initial full sync of non-zero sectors{extra}"


@dataclass(frozen=True)
class Incremental:
    from_rp: str
    source_snapshot: str
    replica_snapshot: str
    dirty: Chunks
    kind = "incremental"

    @property
    def base_rp(self) -> str:
        return self.from_rp

    def describe(self) -> str:
        return f"incremental from {self.from_rp}: {len(self.dirty)} dirty chunk(s)"


@dataclass(frozen=True)
class Resync:
    from_rp: str
    source_snapshot: str
    replica_snapshot: str
    source_dirty: Chunks
    replica_dirty: Chunks
    kind = "resync"

    @property
    def base_rp(self) -> str:
        return self.from_rp

    @property
    def dirty(self) -> Chunks:
        return self.source_dirty | self.replica_dirty

    def describe(self) -> str:
        return (f"resync from {self.from_rp}: {len(self.dirty)} chunk(s), of which "
                f"{len(self.replica_dirty)} written on the replica are discarded")


@dataclass(frozen=True)
class NoCommonRecoveryPoint:
    source: str
    replica: str
    source_points: tuple[str, ...]
    replica_points: tuple[str, ...]
    reason: str

    def describe(self) -> str:
        return (f"no common recovery point between {self.source} and {self.replica}: "
                f"{self.reason}")

    def error(self) -> PlanConflictError:
        return NoCommonRecoveryPointError(self.describe(), conflict=self, source=self.source,
                                          replica=self.replica)


@dataclass(frozen=True)
class Diverged:
    source: str
    replica: str
    common_rp: str
    replica_dirty: Chunks
    replica_points_after: tuple[str, ...]

    def describe(self) -> str:
        newer = f" and holds newer point(s) {', '.join(self.replica_points_after)}" \
            if self.replica_points_after else ""
        return (f"replica {self.replica} diverged from {self.source} after common recovery "
                f"point {self.common_rp}: {len(self.replica_dirty)} chunk(s) written{newer}")

    def error(self) -> PlanConflictError:
        return DivergedError(self.describe(), conflict=self, source=self.source,
                             replica=self.replica, common_rp=self.common_rp)


Plan = InitialFull | Incremental | Resync
Conflict = NoCommonRecoveryPoint | Diverged


def _usable(side: Side, rp_id: str) -> bool:
    p = side.point(rp_id)
    return p is not None and p.snapshot_id is not None and rp_id in side.dirty_since


def common_point(source: Side, replica: Side) -> str | None:
    """The latest recovery point (in source order) both sides can diff from."""
    shared = {p.id for p in replica.points}
    for p in reversed(source.points):
        if p.id in shared and _usable(source, p.id) and _usable(replica, p.id):
            return p.id
    return None


def _no_common(source: Side, replica: Side) -> NoCommonRecoveryPoint:
    src, rep = tuple(p.id for p in source.points), tuple(p.id for p in replica.points)
    shared = set(src) & set(rep)
    reason = ("the shared points lack a snapshot or change tracking on one side: "
              + ", ".join(sorted(shared))) if shared else "they share no recovery point"
    return NoCommonRecoveryPoint(source.name, replica.name, src, rep, reason)


def plan(source: Side, replica: Side, *, allow_resync: bool = False) -> Plan | Conflict:
    """What to send from ``source`` to ``replica`` now; see the module docstring."""
    if not replica.points:
        return InitialFull(frozenset(replica.written_since_creation))
    common = common_point(source, replica)
    if common is None:
        return _no_common(source, replica)
    src_snap, rep_snap = source.point(common).snapshot_id, replica.point(common).snapshot_id
    src_dirty = frozenset(source.dirty_since[common])
    rep_dirty = frozenset(replica.dirty_since[common])
    if not rep_dirty:
        return Incremental(common, src_snap, rep_snap, src_dirty)
    if allow_resync:
        return Resync(common, src_snap, rep_snap, src_dirty, rep_dirty)
    ids = [p.id for p in replica.points]
    return Diverged(source.name, replica.name, common, rep_dirty,
                    tuple(ids[ids.index(common) + 1 :]))


def plan_or_raise(source: Side, replica: Side, *, allow_resync: bool = False) -> Plan:
    """``plan``, raising the conflict's PlanConflictError instead of returning it."""
    result = plan(source, replica, allow_resync=allow_resync)
    if isinstance(result, NoCommonRecoveryPoint | Diverged):
        raise result.error()
    return result
