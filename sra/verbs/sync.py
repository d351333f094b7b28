"""syncOnce (at the source) and querySyncStatus: one replication cycle per device or group.

``DeviceSync@id`` is the appliance's job id of the cycle, so querySyncStatus (a new process)
needs nothing but ``GET /jobs/{id}``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sra import errors
from sra.registry import command
from sra.topology import Json
from sra.verbs import common
from sra.xmlio import Element, Item, el

if TYPE_CHECKING:
    from sra.context import Context

SYNC_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")  # an appliance job id


def _parse_time(stamp: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def remaining_seconds(job: Json) -> int:
    """The appliance's estimate if it gives one, else a linear extrapolation of elapsed time."""
    infos = [job.get(k) for k in ("info", "result") if isinstance(job.get(k), dict)]
    for source in (job, *infos):
        for name in ("remaining_seconds", "eta_seconds", "eta", "remaining"):
            if isinstance(source.get(name), int | float):
                return max(0, round(source[name]))
    progress, started = int(job.get("progress") or 0), _parse_time(str(job.get("created", "")))
    if progress <= 0 or started is None:
        return 0
    elapsed = (datetime.now(UTC) - started).total_seconds()
    return max(0, round(elapsed * (100 - progress) / progress))


def device_sync(job: Json) -> Element:
    """``<DeviceSync id status>`` (+ Progress and RemainingTimeEstimate while running)."""
    if job.get("state") == "failed":
        from sra.array import job_error

        raise job_error(job)
    if job.get("state") == "succeeded":
        return el("DeviceSync", None, id=str(job["id"]), status="complete")
    return el("DeviceSync", None, el("Progress", str(int(job.get("progress") or 0))),
              el("RemainingTimeEstimate", str(remaining_seconds(job))),
              id=str(job["id"]), status="inProgress")


def _start(ctx: Context, item: Item, group: bool) -> common.Body:
    """One cycle; with the Address option ``quiesce=true`` an application-consistent one."""
    pair = common.pair_of(ctx, item, group, source=True)
    job = ctx.array.sync(pair.id, quiesce=ctx.quiesce)
    ctx.log.info("replication %s: sync job %s (quiesce=%s)", pair.id, job.get("id"), ctx.quiesce)
    if job.get("warning"):
        ctx.log.info("replication %s: %s", pair.id, job["warning"])
        return [device_sync(job)], ["SyncAlreadyRunning"]
    return [device_sync(job)], []


@command("syncOnce", location="source")
def sync_once(ctx: Context) -> Element:
    common.check_peer(ctx)
    p = ctx.params
    return common.results(
        ctx, common.per_item(ctx, p.consistency_groups, "ConsistencyGroup", "id",
                             lambda i: _start(ctx, i, True)),
        common.per_item(ctx, p.source_devices, "SourceDevice", "id",
                        lambda i: _start(ctx, i, False)))


def _status(ctx: Context, item: Item) -> common.Body:
    if not item.sync_id:
        raise errors.MissingParameter(f"syncId is missing for {item.id!r}")
    if not SYNC_ID.fullmatch(item.sync_id):
        raise errors.InvalidParameter(f"syncId {item.sync_id[:80]!r} is not a sync id")
    try:
        job = ctx.array.job(item.sync_id)
    except errors.SraError as exc:
        if exc.name == "ArrayNotFound":
            raise errors.UnknownSync(f"syncId {item.sync_id!r} names no sync job") from None
        raise
    return [device_sync(job)]


@command("querySyncStatus")
def query_sync_status(ctx: Context) -> Element:
    p = ctx.params
    return common.results(
        ctx, common.per_item(ctx, p.consistency_groups, "ConsistencyGroup", "id",
                             lambda i: _status(ctx, i)),
        common.per_item(ctx, p.source_devices, "SourceDevice", "id", lambda i: _status(ctx, i)))
