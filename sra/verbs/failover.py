"""checkFailover, prepareFailover (protected site) and failover (recovery site)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sra import errors
from sra.registry import command
from sra.topology import Json, Pair
from sra.verbs import common, present, testfailover
from sra.verbs.discovery import target_group_id
from sra.xmlio import Element, Item, el

if TYPE_CHECKING:
    from sra.context import Context


def _read_only(ctx: Context, lun_ids: list[str]) -> common.Body:
    already = True
    for lun_id in lun_ids:
        if common.lun(ctx, lun_id).get("access") != "read-only":
            ctx.array.update_lun(lun_id, access="read-only")
            ctx.log.info("source %s is now read-only", lun_id)
            already = False
    return common.success(*(["AlreadyDone"] if already else []))


def _prepare(ctx: Context, item: Item, group: bool) -> common.Body:
    pair = common.pair_of(ctx, item, group=group, source=True)
    return _read_only(ctx, [m.source for m in pair.members])


@command("prepareFailover")
def prepare_failover(ctx: Context) -> Element:
    p = ctx.params
    return common.results(
        ctx, common.per_item(ctx, p.consistency_groups, "ConsistencyGroup", "id",
                             lambda i: _prepare(ctx, i, True)),
        common.per_item(ctx, p.source_devices, "SourceDevice", "id",
                        lambda i: _prepare(ctx, i, False)))


@command("checkFailover", advertise=False)
def check_failover(ctx: Context) -> Element:
    p = ctx.params
    return common.results(
        ctx, common.per_item(ctx, p.target_groups, "TargetGroup", "key",
                             lambda i: testfailover._check(ctx, i, True)),
        common.per_item(ctx, p.target_devices, "TargetDevice", "key",
                        lambda i: testfailover._check(ctx, i, False)))


def _latest_point(ctx: Context, replica_id: str) -> Json | None:
    points = testfailover.newest_first(ctx.array.recovery_points(replica_id))
    return points[0] if points else None


def _promote(ctx: Context, item: Item, group: bool) -> tuple[list[str], list[str], Pair]:
    """Promote the pair (idempotent on the appliance) and present its devices; answer
    (replica LUN ids, warnings, pair)."""
    pair = common.pair_of(ctx, item, group=group, source=False)
    if item.isolation_required:  # read where SRM puts it: on the TargetGroup/TargetDevice
        ctx.log.info("%s: isolationRequired: promote stops replication from the peer, and the "
                     "devices are presented only to the access groups' initiators", item.id)
    replicas = [m.replica for m in pair.members]
    groups = present.access_groups_of(ctx, [item, *item.devices])
    for group_id in groups:  # NoInitiators before anything changes
        present.clients_for(ctx, group_id)
    warns = common.change_role(ctx, pair, "promote")
    for replica in replicas:
        if groups:
            present.present(ctx, replica, groups)
    return replicas, warns, pair


def _device_body(ctx: Context, replica_id: str) -> list[Element | None]:
    """Identity and newest RecoveryPoint of a promoted device."""
    lun = ctx.array.get_lun(replica_id)
    point = _latest_point(ctx, replica_id)
    rp = testfailover.recovery_point_element(ctx, point, replica_id) if point else None
    return [el("Identity", None, el("Wwn", lun.get("wwn", ""))), rp]


def _failover_device(ctx: Context, item: Item) -> common.Body:
    replicas, warns, _ = _promote(ctx, item, group=False)
    body = _device_body(ctx, replicas[0])
    return body, warns, {"id": replicas[0], "state": "read-write"}


def _member(ctx: Context, replica_id: str) -> Element:
    return el("TargetDevice", None, *_device_body(ctx, replica_id), key=replica_id,
              id=replica_id, state="read-write")


def _group_point(ctx: Context, item: Item, replicas: list[str]) -> Element | None:
    """The group's RecoveryPoint: the newest point every member has (None if there is none)."""
    try:
        point = testfailover.consistent_points(ctx, replicas)[replicas[0]]
    except errors.NoRecoveryPoint:
        return None
    return testfailover.recovery_point_element(ctx, point, f"group {item.id}")


def _failover_group(ctx: Context, item: Item) -> common.Body:
    replicas, warns, pair = _promote(ctx, item, group=True)
    devices = [_member(ctx, r) for r in replicas]
    return ([_group_point(ctx, item, replicas), el("TargetDevices", None, *devices)], warns,
            {"id": target_group_id(pair), "state": "read-write"})


@command("failover")
def failover(ctx: Context) -> Element:
    p = ctx.params
    return common.results(
        ctx, common.per_item(ctx, p.target_groups, "TargetGroup", "key",
                             lambda i: _failover_group(ctx, i)),
        common.per_item(ctx, p.target_devices, "TargetDevice", "key",
                        lambda i: _failover_device(ctx, i)))
