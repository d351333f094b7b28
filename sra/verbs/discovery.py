"""discoverArrays, discoverDevices (1.x alias discoverLuns) and queryReplicationSettings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sra.registry import command
from sra.topology import Pair
from sra.verbs import common
from sra.verbs.query import STRINGS, VERSION
from sra.xmlio import Element, Item, el

if TYPE_CHECKING:
    from sra.dispatch import Context


@command("discoverArrays")
def discover_arrays(ctx: Context) -> Element:
    app = common.appliance(ctx)
    peers = el("PeerArrays", None, *(el("PeerArray", None, id=p) for p in common.peer_ids(ctx)))
    array = el(
        "Array", None, el("Name", app.get("name") or app["id"]),
        el("Model", None, el("Name", app.get("model") or STRINGS["modelName"]),
           el("Vendor", STRINGS["vendorName"])),
        el("ReplicationSoftware", None, el("Name", STRINGS["replicationName"]),
           el("Version", app.get("version") or VERSION)),
        peers, id=app["id"])
    return el("Arrays", None, array)


def _state(lun: dict) -> str:
    return "read-only" if lun.get("access") == "read-only" else "read-write"


def _identity(lun: dict) -> Element:
    return el("Identity", None, el("Wwn", lun.get("wwn", "")))


def _source_device(ctx: Context, lun_id: str, key: str) -> Element:
    lun = common.lun(ctx, lun_id)
    return el("SourceDevice", None, el("Name", lun.get("name")), el("TargetDevice", None, key=key),
              _identity(lun), id=lun_id, state=_state(lun))


def _target_device(ctx: Context, lun_id: str) -> Element:
    lun = common.lun(ctx, lun_id)
    return el("TargetDevice", None, el("Name", lun.get("name")), _identity(lun),
              key=lun_id, state=_state(lun))


def _group_state(ctx: Context, lun_ids: list[str]) -> str:
    states = {_state(common.lun(ctx, i)) for i in lun_ids}
    return "read-write" if states == {"read-write"} else "read-only"


def _group_name(ctx: Context, pair: Pair) -> str:
    groups = common.cached(ctx, "groups", lambda: {g["id"]: g for g in ctx.array.groups()})
    local = pair.raw.get("local_group") or pair.source
    return str(groups.get(local, {}).get("name") or local)


def _consistency_group(ctx: Context, pair: Pair) -> Element:
    devices = [_source_device(ctx, m.source, m.replica) for m in pair.members]
    return el("ConsistencyGroup", None, el("Name", _group_name(ctx, pair)),
              el("TargetGroup", None, key=pair.id), el("SourceDevices", None, *devices),
              id=pair.source, state=_group_state(ctx, [m.source for m in pair.members]))


def _target_group(ctx: Context, pair: Pair) -> Element:
    devices = [_target_device(ctx, m.replica) for m in pair.members]
    return el("TargetGroup", None, el("Name", _group_name(ctx, pair)),
              el("TargetDevices", None, *devices),
              key=pair.id, state=_group_state(ctx, [m.replica for m in pair.members]))


@command("discoverDevices", aliases=("discoverLuns",))
def discover_devices(ctx: Context) -> Element:
    pairs = common.topology(ctx).with_peer(common.check_peer(ctx))
    ctx.progress(30)
    common.luns(ctx)
    ctx.progress(60)
    groups, singles = [p for p in pairs if p.is_group], [p for p in pairs if not p.is_group]
    sections = (
        ("ConsistencyGroups", [_consistency_group(ctx, p) for p in groups if p.local_is_source]),
        ("TargetGroups", [_target_group(ctx, p) for p in groups if not p.local_is_source]),
        ("SourceDevices", [_source_device(ctx, p.members[0].source, p.key)
                           for p in singles if p.local_is_source]),
        ("TargetDevices", [_target_device(ctx, p.key) for p in singles if not p.local_is_source]),
    )
    return el("ReplicatedDevices", None,
              *(el(tag, None, *items) for tag, items in sections if items))


def _settings(pair: Pair) -> list[Element]:
    keys = ("mode", "microscan", "compression", "encryption", "state", "schedule")
    return [el("Setting", str(pair.raw[k]).lower() if isinstance(pair.raw[k], bool)
               else str(pair.raw[k]), name=k) for k in keys if pair.raw.get(k) is not None]


def _settings_of(ctx: Context, item: Item, group: bool) -> list[Element]:
    pair = common.pair_of(ctx, item, group, source=True)
    return [el("Settings", None, *_settings(pair))]


@command("queryReplicationSettings")
def query_replication_settings(ctx: Context) -> Element:
    """Named groups/devices answer one by one; with none named, every local source answers."""
    peer = common.check_peer(ctx)
    p = ctx.params
    groups, devices = p.consistency_groups, p.source_devices
    if not groups and not devices:
        pairs = [x for x in common.topology(ctx).with_peer(peer) if x.local_is_source]
        groups = tuple(Item(x.source) for x in pairs if x.is_group)
        devices = tuple(Item(x.members[0].source) for x in pairs if not x.is_group)
    return common.results(
        ctx, common.per_item(ctx, groups, "ConsistencyGroup", "id",
                             lambda i: _settings_of(ctx, i, True)),
        common.per_item(ctx, devices, "SourceDevice", "id",
                        lambda i: _settings_of(ctx, i, False)))
