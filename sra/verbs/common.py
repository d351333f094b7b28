"""Helpers every array verb shares: cached lookups, per-item outcomes, result envelopes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sra import errors
from sra.topology import Json, Pair, Topology, pair_from
from sra.xmlio import Element, Item, el, error_element, warnings_element

if TYPE_CHECKING:
    from sra.context import Context

# A per-item body: child elements, or (children, warning names[, extra attributes]).
Body = (Sequence[Element] | tuple[Sequence[Element], Sequence[str]]
        | tuple[Sequence[Element], Sequence[str], dict[str, str]])


def cached(ctx: Context, key: str, load: Callable[[], Any]) -> Any:
    if key not in ctx.cache:
        ctx.cache[key] = load()
    return ctx.cache[key]


def appliance(ctx: Context) -> Json:
    return cached(ctx, "appliance", ctx.array.appliance)


def optional_feature(ctx: Context, fetch: Callable[[], list[Json]], what: str) -> list[Json]:
    """An appliance without replication answers 404 for /peers and /replications: none."""
    try:
        return fetch()
    except errors.SraError as exc:
        if exc.name != "ArrayNotFound":
            raise
        ctx.log.warning("the appliance has no %s endpoint: treating as none", what)
        return []


def topology(ctx: Context) -> Topology:
    def load() -> Topology:
        local = appliance(ctx)["id"]
        records = optional_feature(ctx, ctx.array.list_replications, "replications")
        return Topology(local, [pair_from(r) for r in records])

    return cached(ctx, "topology", load)


def luns(ctx: Context) -> dict[str, Json]:
    return cached(ctx, "luns", lambda: {lun["id"]: lun for lun in ctx.array.list_luns()})


def lun(ctx: Context, lun_id: str) -> Json:
    found = luns(ctx).get(lun_id)
    if found is None:
        raise errors.UnknownDevice(f"device {lun_id!r} does not exist on this array")
    return found


def peer_ids(ctx: Context) -> list[str]:
    return cached(ctx, "peers", lambda: [
        str(p.get("appliance_id") or p.get("peer_id") or p.get("id"))
        for p in optional_feature(ctx, ctx.array.list_peers, "peers")])


def check_peer(ctx: Context) -> str:
    """PeerArrayId, if given, must be paired with this appliance."""
    peer = ctx.params.peer_array_id
    if peer and peer not in peer_ids(ctx):
        raise errors.PeerArrayMismatch(f"PeerArrayId {peer!r} is not paired with this array")
    return peer


def outcome(ctx: Context, tag: str, work: Callable[[], Body], **attrs: str) -> Element:
    """``<tag attrs>`` holding ``work()``'s elements, or this item's own ``<Error>``."""
    try:
        body = work()
    except errors.SraError as exc:
        ctx.log.error("%s %s: %s (code %d): %s", tag, attrs, exc.name, exc.code, exc.message)
        return el(tag, None, error_element(exc), **attrs)
    except Exception:
        ctx.log.exception("%s %s: internal error", tag, attrs)
        return el(tag, None, error_element(errors.InternalError()), **attrs)
    children, warns, extra = (*body, {})[:3] if isinstance(body, tuple) else (body, (), {})
    done = [c for c in children if c is not None and c.tag == "Success"]
    rest = [c for c in children if c is not None and c.tag != "Success"]
    return el(tag, None, *rest, warnings_element(*warns), *done, **attrs, **extra)


def success(*warns: str) -> Body:
    return [el("Success")], list(warns)


def results(ctx: Context, *sections: Element | None) -> Element:
    """``<CommandNameResults>`` around the sections that are not empty."""
    name = ctx.request.name
    return el(name[:1].upper() + name[1:] + "Results", None,
              *(s for s in sections if s is not None and len(s)))


def section(tag: str, items: Iterable[Element]) -> Element:
    return el(tag, None, *items)


def per_item(ctx: Context, items: Sequence[Item], tag: str, attr: str,
             work: Callable[[Item], Body]) -> Element:
    """Run ``work`` for each item with progress; each item answers for itself."""
    done: list[Element] = []
    for item in items:
        done.append(outcome(ctx, tag, lambda item=item: work(item), **{attr: item.id}))
        ctx.progress(5 + 90 * len(done) / max(1, len(items)))
    return section(tag + "s", done)


def change_role(ctx: Context, pair: Pair, action: str) -> list[str]:
    """POST a role change (the appliance makes each idempotent); answer warning names."""
    ctx.log.info("replication %s: %s", pair.id, action)
    answer = ctx.array.role(pair.id, action)
    if answer.get("warning"):
        ctx.log.info("replication %s: %s", pair.id, answer["warning"])
        return ["AlreadyDone"]
    return []


def iso_seconds(stamp: str) -> str:
    """Appliance ISO 8601 timestamps -> SRM's ``YYYY-MM-DDThh:mm:ss`` (UTC)."""
    return stamp[:19] if stamp else ""


def pair_of(ctx: Context, item: Item, group: bool, source: bool) -> Pair:
    topo = topology(ctx)
    if group:
        return topo.source_group(item.id) if source else topo.target_group(item.id)
    return topo.source_device(item.id) if source else topo.target_device(item.id)
