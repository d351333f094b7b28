"""Test failover at the recovery site: writable TimeViews of the latest recovery points.

checkTestFailoverStart validates, testFailoverStart creates and presents, testFailoverStop
removes. A TimeView is named ``srm-test <replica LUN id>``, which is how a re-run finds it again
instead of making a second one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sra import errors
from sra.registry import command
from sra.topology import Json, Pair
from sra.verbs import common, present
from sra.xmlio import Element, Item, el

if TYPE_CHECKING:
    from sra.context import Context

POINT_KEYS = ("group_point", "group_snapshot", "cycle", "sequence", "seq", "time")


def timeview_name(replica_id: str) -> str:
    return f"srm-test {replica_id}"


def recovery_points(ctx: Context, lun_id: str) -> list[Json]:
    """Newest first; NoRecoveryPoint if the replica has none yet."""
    points = ctx.array.recovery_points(lun_id)
    if not points:
        raise errors.NoRecoveryPoint(f"replica {lun_id!r} has no recovery point yet")
    return newest_first(points)


def newest_first(points: list[Json]) -> list[Json]:
    """Recovery points newest first: by the replication's cycle sequence, then by time (two
    points can carry the same time string; sequences never repeat)."""
    return sorted(points, key=lambda p: (p.get("sequence", 0), str(p.get("time", ""))),
                  reverse=True)


def _same_point(a: Json, b: Json) -> bool:
    for key in POINT_KEYS:
        if a.get(key) is not None and b.get(key) is not None:
            return a[key] == b[key]
    return a.get("id") == b.get("id")


def consistent_points(ctx: Context, replicas: list[str],
                      pinned: Json | None = None) -> dict[str, Json]:
    """The newest recovery point that every replica of a group has (``pinned`` first: the point
    an earlier, partial run already used), per replica."""
    lists = {r: recovery_points(ctx, r) for r in replicas}
    for candidate in ([pinned] if pinned else []) + lists[replicas[0]]:
        chosen = {r: next((p for p in ps if _same_point(p, candidate)), None)
                  for r, ps in lists.items()}
        if all(chosen.values()):
            return chosen  # type: ignore[return-value]
    raise errors.NoRecoveryPoint(f"no recovery point common to {', '.join(replicas)}")


def existing_point(ctx: Context, replica_id: str) -> Json | None:
    """The recovery point of the TimeView an earlier run made, if any; a TimeView whose point
    has since been rotated away is removed."""
    view = find_timeview(ctx, replica_id)
    if view is None:
        return None
    points = ctx.array.recovery_points(replica_id)
    match = next((p for p in points if p.get("snapshot_id") == view.get("origin_snapshot")), None)
    if match is None:
        _stop_replica(ctx, replica_id)
    return match


CONSISTENCY = {"app": "application-consistent", "crash": "crash-consistent"}


def consistency(point: Json | None) -> str | None:
    """How consistent a recovery point is, in words (None if the appliance does not say)."""
    return CONSISTENCY.get(str((point or {}).get("consistent")))


def recovery_point_element(ctx: Context, point: Json, device: str) -> Element:
    """``<RecoveryPoint id><Name>consistency</Name><Time>``; the consistency is logged too."""
    kind = consistency(point)
    ctx.log.info("%s: recovery point %s of %s is %s", device, point.get("id"),
                 point.get("time"), kind or "of unknown consistency")
    return el("RecoveryPoint", None, el("Name", kind),
              el("Time", common.iso_seconds(str(point.get("time", "")))),
              id=str(point.get("id", "")))


def find_timeview(ctx: Context, replica_id: str) -> Json | None:
    name = timeview_name(replica_id)
    return next((lun for lun in common.luns(ctx).values()
                 if lun.get("role") == "timeview" and lun.get("name") == name), None)


def _start_one(ctx: Context, replica_id: str, point: Json, groups: list[str]) -> Element:
    for group_id in groups:  # NoInitiators before anything is made
        present.clients_for(ctx, group_id)
    view = find_timeview(ctx, replica_id)
    if view is None:
        view = ctx.array.create_timeview(str(point["snapshot_id"]), timeview_name(replica_id))
        common.luns(ctx)[view["id"]] = view
        ctx.log.info("TimeView %s of %s at %s", view["id"], replica_id, point.get("id"))
    present.present(ctx, view["id"], groups)
    return el("Snapshot", None, el("Identity", None, el("Wwn", view.get("wwn", ""))),
              recovery_point_element(ctx, point, replica_id), id=view["id"])


def _start_device(ctx: Context, item: Item) -> common.Body:
    pair = common.pair_of(ctx, item, group=False, source=False)
    point = existing_point(ctx, pair.key) or recovery_points(ctx, pair.key)[0]
    groups = present.access_groups_of(ctx, [item])
    return [_start_one(ctx, pair.key, point, groups)]


def _group_devices(pair: Pair, item: Item) -> list[str]:
    replicas = [m.replica for m in pair.members]
    for device in item.devices:
        if device.id not in replicas:
            raise errors.UnknownDevice(f"TargetDevice {device.id!r} is not in group {item.id!r}")
    return replicas


def _start_group(ctx: Context, item: Item) -> common.Body:
    pair = common.pair_of(ctx, item, group=True, source=False)
    replicas = _group_devices(pair, item)
    pinned = next(filter(None, (existing_point(ctx, r) for r in replicas)), None)
    points = consistent_points(ctx, replicas, pinned)
    for replica, point in points.items():  # a partial earlier run at another point: redo it
        if existing_point(ctx, replica) not in (None, point):
            _stop_replica(ctx, replica)
    groups = present.access_groups_of(ctx, [item, *item.devices])
    devices = [el("TargetDevice", None, _start_one(ctx, r, points[r], groups), key=r)
               for r in replicas]
    first = points[replicas[0]]
    return [el("Snapshot", None, recovery_point_element(ctx, first, f"group {item.id}"),
               el("TargetDevices", None, *devices), id=str(first.get("id")))]


Work = Callable[[Item], common.Body]


def _targets(ctx: Context, group_work: Work, device_work: Work) -> Element:
    p = ctx.params
    return common.results(
        ctx, common.per_item(ctx, p.target_groups, "TargetGroup", "key", group_work),
        common.per_item(ctx, p.target_devices, "TargetDevice", "key", device_work))


@command("testFailoverStart")
def test_failover_start(ctx: Context) -> Element:
    return _targets(ctx, lambda i: _start_group(ctx, i), lambda i: _start_device(ctx, i))


def _stop_replica(ctx: Context, replica_id: str) -> None:
    view = find_timeview(ctx, replica_id)
    if view is None:
        ctx.log.info("no TimeView of %s: nothing to stop", replica_id)
        return
    present.unpresent_all(ctx, view["id"])
    ctx.array.delete_lun(view["id"])
    common.luns(ctx).pop(view["id"], None)
    ctx.log.info("removed TimeView %s of %s", view["id"], replica_id)


def _stop(ctx: Context, item: Item, group: bool) -> common.Body:
    pair = common.pair_of(ctx, item, group=group, source=False)
    for replica in ([m.replica for m in pair.members] if group else [pair.key]):
        _stop_replica(ctx, replica)
    return common.success()


@command("testFailoverStop")
def test_failover_stop(ctx: Context) -> Element:
    return _targets(ctx, lambda i: _stop(ctx, i, True), lambda i: _stop(ctx, i, False))


def _check(ctx: Context, item: Item, group: bool) -> common.Body:
    pair = common.pair_of(ctx, item, group=group, source=False)
    replicas = _group_devices(pair, item) if group else [pair.key]
    consistent_points(ctx, replicas)
    for group_id in present.access_groups_of(ctx, [item, *item.devices]):
        _check_access_group(ctx, group_id)
    return common.success()


def _check_access_group(ctx: Context, group_id: str) -> None:
    group = next((g for g in ctx.params.access_groups if g.id == group_id), None)
    if group is None or not group.initiators:
        named = [c for c in ctx.array.list_clients() if c.get("name") == group_id]
        if not named:
            raise errors.NoInitiators(f"AccessGroup {group_id!r} has no initiators")


@command("checkTestFailoverStart", advertise=False)
def check_test_failover_start(ctx: Context) -> Element:
    return _targets(ctx, lambda i: _check(ctx, i, True), lambda i: _check(ctx, i, False))
