"""discoverArrays and discoverDevices."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sra import errors
from sra.registry import command
from sra.topology import Pair
from sra.verbs import common
from sra.verbs.query import STRINGS, VERSION
from sra.xmlio import Element, el

if TYPE_CHECKING:
    from sra.context import Context


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
    """A replica; once promoted (read-write) it also carries its device ``@id``, as the
    open-source SRA answers after failover."""
    lun = common.lun(ctx, lun_id)
    state = _state(lun)
    return el("TargetDevice", None, el("Name", lun.get("name")), _identity(lun),
              key=lun_id, id=lun_id if state == "read-write" else None, state=state)


def _group_state(ctx: Context, lun_ids: list[str]) -> str:
    states = {_state(common.lun(ctx, i)) for i in lun_ids}
    return "read-write" if states == {"read-write"} else "read-only"


def _group_name(ctx: Context, pair: Pair) -> str:
    groups = common.cached(ctx, "groups",
                           lambda: {g["id"]: g for g in ctx.array.list_groups()})
    local = pair.raw.get("local_group") or pair.source
    return str(groups.get(local, {}).get("name") or local)


def _consistency_group(ctx: Context, pair: Pair) -> Element:
    devices = [_source_device(ctx, m.source, m.replica) for m in pair.members]
    return el("ConsistencyGroup", None, el("Name", _group_name(ctx, pair)),
              el("TargetGroup", None, key=pair.id), el("SourceDevices", None, *devices),
              id=pair.source, state=_group_state(ctx, [m.source for m in pair.members]))


def target_group_id(pair: Pair) -> str:
    """``TargetGroup@id`` of a promoted group: this side's group id (the reverse verbs accept
    it as ``ConsistencyGroup@id``), else the replication id."""
    return str(pair.raw.get("local_group") or pair.id)


def _target_group(ctx: Context, pair: Pair) -> Element:
    devices = [_target_device(ctx, m.replica) for m in pair.members]
    state = _group_state(ctx, [m.replica for m in pair.members])
    return el("TargetGroup", None, el("Name", _group_name(ctx, pair)),
              el("TargetDevices", None, *devices), key=pair.id,
              id=target_group_id(pair) if state == "read-write" else None, state=state)


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


@command("discoverDevices")
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
