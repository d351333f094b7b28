"""Reprotect: prepareReverseReplication (old primary), reverseReplication (new primary) and
restoreReplication (re-establish the original direction after a split)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sra.registry import command
from sra.topology import Pair
from sra.verbs import common, present
from sra.xmlio import Element, Item

if TYPE_CHECKING:
    from sra.context import Context


def _pair(ctx: Context, item: Item, group: bool) -> Pair:
    topo = common.topology(ctx)
    return topo.group(item.id) if group else topo.device(item.id)


def _demote(ctx: Context, item: Item, group: bool) -> common.Body:
    """Old primary: its devices become replicas. After a disaster the appliance may never have
    heard of the failover (still ``replicating`` outbound): split first, then demote."""
    pair = _pair(ctx, item, group)
    if pair.local_is_source and pair.state == "replicating":
        ctx.log.warning("replication %s still replicating from here: splitting before demote",
                        pair.id)
        common.change_role(ctx, pair, "split")
    return common.success(*common.change_role(ctx, pair, "demote"))


def _reverse(ctx: Context, item: Item, group: bool) -> common.Body:
    """New primary: replicate from here back to the old primary, and present the devices to
    the access groups SRM names (DynamicAccessRestriction: as the open-source SRA maps them to
    those initiators' hosts). Without access groups nothing is presented."""
    pair = _pair(ctx, item, group)
    groups = present.access_groups_of(ctx, [item, *item.devices])
    for group_id in groups:  # NoInitiators before anything changes
        present.clients_for(ctx, group_id)
    warns = common.change_role(ctx, pair, "reverse")
    for lun_id in pair.local_luns() if groups else []:
        present.present(ctx, lun_id, groups)
    return common.success(*warns)


def _restore(ctx: Context, item: Item, group: bool) -> common.Body:
    pair = _pair(ctx, item, group)
    if pair.state != "split":
        return common.success("NothingToRestore")
    return common.success(*common.change_role(ctx, pair, "resume"))


def _both(ctx: Context, work: Callable[[Context, Item, bool], common.Body]) -> Element:
    common.check_peer(ctx)
    p = ctx.params
    devices = p.devices or p.source_devices
    return common.results(
        ctx, common.per_item(ctx, p.consistency_groups, "ConsistencyGroup", "id",
                             lambda i: work(ctx, i, True)),
        common.per_item(ctx, devices, "Device", "id", lambda i: work(ctx, i, False)))


@command("prepareReverseReplication")
def prepare_reverse_replication(ctx: Context) -> Element:
    return _both(ctx, _demote)


@command("reverseReplication", location="source")
def reverse_replication(ctx: Context) -> Element:
    return _both(ctx, _reverse)


@command("restoreReplication", location="source")
def restore_replication(ctx: Context) -> Element:
    return _both(ctx, _restore)
