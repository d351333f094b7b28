"""discoverArrays, discoverDevices (1.x alias discoverLuns) and queryReplicationSettings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sra import errors
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


def _element(ctx: Context, pair: Pair) -> tuple[str, Element] | None:
    """(section, element) for one replication; None (logged) if its devices are missing."""
    try:
        if pair.is_group:
            return (("ConsistencyGroups", _consistency_group(ctx, pair)) if pair.local_is_source
                    else ("TargetGroups", _target_group(ctx, pair)))
        if pair.local_is_source:
            return "SourceDevices", _source_device(ctx, pair.members[0].source, pair.key)
        return "TargetDevices", _target_device(ctx, pair.key)
    except errors.SraError as exc:
        ctx.log.warning("replication %s left out of discovery: %s", pair.id, exc.message)
        return None


@command("discoverDevices", aliases=("discoverLuns",))
def discover_devices(ctx: Context) -> Element:
    pairs = common.topology(ctx).with_peer(common.check_peer(ctx))
    ctx.progress(30)
    common.luns(ctx)
    ctx.progress(60)
    sections: dict[str, list[Element]] = {
        "ConsistencyGroups": [], "TargetGroups": [], "SourceDevices": [], "TargetDevices": []}
    for found in filter(None, (_element(ctx, p) for p in pairs)):
        sections[found[0]].append(found[1])
    return el("ReplicatedDevices", None,
              *(el(tag, None, *items) for tag, items in sections.items() if items))


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
