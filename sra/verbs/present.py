"""Presenting devices to SRM's access groups: clients named after the AccessGroup id.

For each access group the SRA reuses the client named after its id, or creates it with the
group's initiators (FC WWPNs lower-cased, as the appliance stores them). If the initiators already
belong to other clients (the hosts were registered by hand), those clients are used instead.
Presentations that already exist are kept, so presenting twice is harmless.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sra import errors
from sra.topology import Json
from sra.verbs import common
from sra.xmlio import AccessGroup, Item

if TYPE_CHECKING:
    from sra.context import Context


TYPES = {"FC": "FC", "ISCSI": "iSCSI", "NFS": "NFS"}


def _initiators(group: AccessGroup | None) -> list[Json]:
    """The group's initiators as the appliance spells them (FC/iSCSI names in lower case)."""
    if group is None:
        return []
    out = []
    for i in group.initiators:
        kind = TYPES.get(i.type.upper(), i.type)
        if i.id:
            out.append({"type": kind, "id": i.id.lower() if kind in ("FC", "iSCSI") else i.id})
    return out


def _group(ctx: Context, group_id: str) -> AccessGroup | None:
    return next((g for g in ctx.params.access_groups if g.id == group_id), None)


def _clients(ctx: Context) -> list[Json]:
    return common.cached(ctx, "clients", ctx.array.list_clients)


def _owners(ctx: Context, wanted: list[Json]) -> list[str]:
    keys = {(w["type"], w["id"]) for w in wanted}
    return [c["id"] for c in _clients(ctx)
            if any((i["type"], i["id"]) in keys for i in c.get("initiators", []))]


def clients_for(ctx: Context, group_id: str) -> list[str]:
    """The client ids that stand for access group ``group_id`` (created if needed)."""
    group = _group(ctx, group_id)
    named = [c["id"] for c in _clients(ctx) if c.get("name") == group_id]
    if named:
        return named
    if not _initiators(group):
        raise errors.NoInitiators(f"AccessGroup {group_id!r} has no initiators")
    owners = _owners(ctx, _initiators(group))
    if owners:
        return owners
    try:
        client = ctx.array.create_client(group_id, _initiators(group))
    except errors.SraError as exc:
        if exc.name != "ArrayConflict":
            raise
        return _made_meanwhile(ctx, group_id, group, exc)
    ctx.log.info("created client %s for access group %r", client["id"], group_id)
    _clients(ctx).append(client)
    return [client["id"]]


def _made_meanwhile(ctx: Context, group_id: str, group: AccessGroup | None,
                    exc: errors.SraError) -> list[str]:
    """Another SRA process (SRM runs commands in parallel) made the client first: use it."""
    ctx.cache["clients"] = ctx.array.list_clients()
    found = ([c["id"] for c in _clients(ctx) if c.get("name") == group_id]
             or _owners(ctx, _initiators(group)))
    if not found:
        raise exc
    return found


def access_groups_of(ctx: Context, items: list[Item]) -> list[str]:
    """The access groups the items ask for; all of the command's groups if none is named."""
    named = list(dict.fromkeys(g for item in items for g in item.access_groups))
    return named or [g.id for g in ctx.params.access_groups]


def _keys(initiators: list[Json]) -> set[tuple[str, str]]:
    return {(i["type"], i["id"]) for i in initiators}


def present(ctx: Context, lun_id: str, group_ids: list[str]) -> None:
    """Present ``lun_id`` to every client of ``group_ids`` that does not see it yet, and to any
    initiator of the groups that none of those clients has (a host added to the cluster after
    the client was made) directly."""
    existing = ctx.array.list_presentations(lun_id)
    have = {p.get("client_id") for p in existing}
    covered = _keys([i for p in existing for i in p.get("initiators", [])])
    owners = {c["id"]: c.get("initiators", []) for c in _clients(ctx)}
    for group_id in group_ids:
        for client_id in clients_for(ctx, group_id):
            covered |= _keys(owners.get(client_id, []))
            if client_id not in have:
                ctx.array.present(lun_id, client_id=client_id)
                have.add(client_id)
                ctx.log.info("presented %s to client %s (%s)", lun_id, client_id, group_id)
        missing = [i for i in _initiators(_group(ctx, group_id)) if
                   (i["type"], i["id"]) not in covered]
        if missing:
            ctx.array.present(lun_id, initiators=missing)
            covered |= _keys(missing)
            ctx.log.info("presented %s to %d more initiators of %s", lun_id, len(missing),
                         group_id)


def unpresent_all(ctx: Context, lun_id: str) -> None:
    for presentation in ctx.array.list_presentations(lun_id):
        ctx.array.unpresent(lun_id, presentation["id"])
