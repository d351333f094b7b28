"""checkFailover, prepareFailover (protected site) and failover (recovery site)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sra.dispatch import warnings_element
from sra.registry import command
from sra.topology import Json
from sra.verbs import common, present, testfailover
from sra.xmlio import Element, Item, el

if TYPE_CHECKING:
    from sra.dispatch import Context


def _read_only(ctx: Context, lun_ids: list[str]) -> common.Body:
    already = True
    for lun_id in lun_ids:
        if common.lun(ctx, lun_id).get("access") != "read-only":
            ctx.array.set_access(lun_id, "read-only")
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


@command("checkFailover")
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


def _promote(ctx: Context, item: Item, group: bool) -> tuple[list[str], list[str], str]:
    """Promote the pair (idempotent on the appliance) and present its devices; answer
    (replica LUN ids, warnings, pair id)."""
    pair = common.pair_of(ctx, item, group=group, source=False)
    replicas = [m.replica for m in pair.members]
    groups = present.access_groups_of(ctx, [item, *item.devices])
    for group_id in groups:  # NoInitiators before anything changes
        present.clients_for(ctx, group_id)
    warns = common.change_role(ctx, pair, "promote")
    for replica in replicas:
        if groups:
            present.present(ctx, replica, groups)
    return replicas, warns, pair.id


def _device_body(ctx: Context, replica_id: str) -> tuple[list[Element | None], list[str]]:
    """Identity and newest RecoveryPoint of a promoted device, and its consistency warning."""
    lun = ctx.array.lun(replica_id)
    point = _latest_point(ctx, replica_id)
    rp = testfailover.recovery_point_element(point) if point else None
    return [el("Identity", None, el("Wwn", lun.get("wwn", ""))), rp], \
        testfailover.consistency(point)


def _failover_device(ctx: Context, item: Item) -> common.Body:
    replicas, warns, _ = _promote(ctx, item, group=False)
    body, points = _device_body(ctx, replicas[0])
    return body, [*warns, *points], {"id": replicas[0], "state": "read-write"}


def _member(ctx: Context, replica_id: str) -> Element:
    body, points = _device_body(ctx, replica_id)
    return el("TargetDevice", None, *body, warnings_element(*points), key=replica_id,
              id=replica_id, state="read-write")


def _failover_group(ctx: Context, item: Item) -> common.Body:
    replicas, warns, pair_id = _promote(ctx, item, group=True)
    devices = [_member(ctx, r) for r in replicas]
    return [el("TargetDevices", None, *devices)], warns, {"id": pair_id, "state": "read-write"}


@command("failover")
def failover(ctx: Context) -> Element:
    p = ctx.params
    return common.results(
        ctx, common.per_item(ctx, p.target_groups, "TargetGroup", "key",
                             lambda i: _failover_group(ctx, i)),
        common.per_item(ctx, p.target_devices, "TargetDevice", "key",
                        lambda i: _failover_device(ctx, i)))
