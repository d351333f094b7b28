"""``drkit nss`` replication commands: list with RPO lag, create with a policy, change it, sync.

Registered onto the ``nss`` group by ``simulators/nss/cli.py``; they share its client, error
handling and table/JSON output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

POLICY_COLUMNS = ["id", "direction", "peer", "state", "mode", "rpo_s", "lag_s", "rpo_state",
                  "bandwidth_bps", "last_recovery_point"]


def _row(rep: dict[str, Any]) -> dict[str, Any]:
    policy, rpo = rep.get("policy") or {}, rep.get("rpo") or {}
    return {**rep, "mode": policy.get("mode"), "rpo_s": policy.get("rpo_s"),
            "bandwidth_bps": policy.get("bandwidth_bps") or "unlimited",
            "lag_s": rpo.get("lag_s"), "rpo_state": rpo.get("state")}


def _window(text: str) -> dict[str, str]:
    start, sep, end = text.partition("-")
    if not sep:
        raise click.BadParameter(f"window {text!r} is not HH:MM-HH:MM (UTC)")
    return {"start": start.strip(), "end": end.strip()}


def policy_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--mode", type=click.Choice(["manual", "continuous", "interval"]),
                     help="continuous: next cycle when the last ends; interval: every N s."),
        click.option("--interval", "interval_s", type=float,
                     help="Seconds between cycle starts (continuous: at least; interval: every)."),
        click.option("--rpo", "rpo_s", type=float, help="RPO objective in seconds."),
        click.option("--bandwidth", "bandwidth", help="Link limit in bytes/s (K/M/G suffix; 0 = "
                     "unlimited)."),
        click.option("--window", "windows", multiple=True, metavar="HH:MM-HH:MM",
                     help="UTC time window for cycle starts (repeatable)."),
        click.option("--no-windows", is_flag=True, help="Remove every time window."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def policy_from(parse_size: Callable[[str], int], mode: str | None, interval_s: float | None,
                rpo_s: float | None, bandwidth: str | None, windows: tuple[str, ...],
                no_windows: bool) -> dict[str, Any]:
    policy: dict[str, Any] = {k: v for k, v in (("mode", mode), ("interval_s", interval_s),
                                                ("rpo_s", rpo_s)) if v is not None}
    if bandwidth is not None:
        policy["bandwidth_bps"] = parse_size(bandwidth)
    if windows or no_windows:
        policy["windows"] = [_window(w) for w in windows]
    return policy


def register(nss: click.Group, client: Callable[[click.Context], Any],
             run: Callable[[Callable[[], Any]], Any], emit: Callable[..., None],
             parse_size: Callable[[str], int], json_option: Callable[..., Any]) -> None:
    @nss.command("replications")
    @json_option
    @click.pass_context
    def list_replications(ctx: click.Context, as_json: bool) -> None:
        """List replications with their policy and RPO lag (seconds since the newest point)."""
        rows = [_row(r) for r in run(lambda: client(ctx).list_replications())]
        emit(rows, POLICY_COLUMNS, as_json, "Replications", "replications")

    @nss.command("create-replication")
    @click.argument("source")
    @click.argument("peer")
    @policy_options
    @json_option
    @click.pass_context
    def create_replication(ctx: click.Context, source: str, peer: str, as_json: bool,
                           **policy_args: Any) -> None:
        """Replicate SOURCE (a LUN or group id) to PEER under a policy."""
        policy = policy_from(parse_size, **policy_args)
        answer = run(lambda: client(ctx).create_replication(source, peer, policy=policy))
        emit([_row(answer["replication"])], POLICY_COLUMNS, as_json, "Replication",
             "replications")

    @nss.command("replication-policy")
    @click.argument("rep_id")
    @policy_options
    @json_option
    @click.pass_context
    def set_policy(ctx: click.Context, rep_id: str, as_json: bool, **policy_args: Any) -> None:
        """Change a replication's policy (only the fields given change)."""
        policy = policy_from(parse_size, **policy_args)
        if not policy:
            raise click.UsageError("give at least one of --mode, --interval, --rpo, "
                                   "--bandwidth, --window, --no-windows")
        rep = run(lambda: client(ctx).update_replication(rep_id, policy=policy))
        emit([_row(rep)], POLICY_COLUMNS, as_json, "Replication", "replications")

    @nss.command("sync")
    @click.argument("rep_id")
    @click.option("--wait/--no-wait", default=True, show_default=True)
    @json_option
    @click.pass_context
    def sync(ctx: click.Context, rep_id: str, wait: bool, as_json: bool) -> None:
        """Run a replication cycle now (or join the one running)."""
        c = client(ctx)
        job = run(lambda: c.sync_wait(rep_id, timeout=3600) if wait else c.sync(rep_id))
        emit([job], ["id", "state", "progress"], as_json, "Sync", "jobs")

    @nss.command("replication-events")
    @click.argument("rep_id")
    @click.option("--kind", help="Only events of this kind (rpo, policy).")
    @json_option
    @click.pass_context
    def events(ctx: click.Context, rep_id: str, kind: str | None, as_json: bool) -> None:
        """RPO state changes and policy changes of a replication."""
        rows = run(lambda: client(ctx).replication_events(rep_id, kind))
        emit(rows, ["id", "time", "kind", "from", "to", "lag_s"], as_json, "Events", "events")
