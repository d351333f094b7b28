"""``drkit sim up|status|down|reset``: a complete two-site lab on loopback (see labstate.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from simulators.labfile import default_dir
from simulators.vcsim.labstate import (
    LabError,
    LabOptions,
    lab_status,
    read_lab,
    replication_status,
    reset_lab,
    start_lab,
    stop_lab,
)

DIR_OPTION = click.option(
    "--dir", "root", type=click.Path(file_okay=False, path_type=Path), default=default_dir,
    show_default="$DRKIT_LAB_DIR or ~/.local/state/drkit/lab", help="Lab directory.")


@click.group()
def sim() -> None:
    """Run a two-site lab: two NSS appliances and two vcsim sites."""


@sim.command()
@DIR_OPTION
@click.option("--vms", default=2, show_default=True, type=click.IntRange(0, 50),
              help="Protected VMs to seed at site a.")
@click.option("--hosts", default=2, show_default=True, type=click.IntRange(1, 16),
              help="Hosts per cluster at each site.")
@click.option("--boot-delay", default=2.0, show_default=True, type=click.FloatRange(0, 600),
              help="Guest boot delay (s).")
@click.option("--method-delay", multiple=True, metavar="METHOD=MS",
              help="vCenter method latency, e.g. PowerOnVM_Task=500 (repeatable).")
def up(root: Path, vms: int, hosts: int, boot_delay: float, method_delay: tuple[str, ...]) -> None:
    """Start the lab in the background and write its lab.json."""
    delays = {}
    for item in method_delay:
        name, _, ms = item.partition("=")
        if not name or not ms.isdigit():
            raise click.BadParameter(f"{item!r} is not METHOD=MS", param_hint="--method-delay")
        delays[name] = int(ms)
    again = (root / "lab.json").exists()
    try:
        with Console(stderr=True).status("starting the lab...") as shown:
            start_lab(root, LabOptions(vms=vms, hosts=hosts, boot_delay_s=boot_delay,
                                       method_delay_ms=delays),
                      progress=lambda step: _step(shown, step))
    except LabError as exc:
        raise click.ClickException(str(exc)) from exc
    what = "the same lab, on its data" if again else "a new lab"
    click.echo(f"lab up ({what}): `drkit sim status --dir {root}` shows it")


def _step(shown: Any, step: str) -> None:
    shown.update(f"starting the lab: {step}...")
    click.echo(f"  {step}", err=True)


@sim.command()
@DIR_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(root: Path, as_json: bool) -> None:
    """Every URL, credential file and process of the lab."""
    try:
        lab = read_lab(root)
    except LabError as exc:
        raise click.ClickException(str(exc)) from exc
    if lab.get("state") == "down":
        click.echo(f"the lab in {root} is down (stopped {lab.get('stopped', '?')}); "
                   "`drkit sim up` brings it back", err=True)
        sys.exit(3)
    rows = lab_status(lab)
    reps = replication_status(lab)
    if as_json:
        click.echo(json.dumps({**lab, "processes": rows, "replications": reps}, indent=2,
                              sort_keys=True))
    else:
        _print_table(lab, rows)
        _print_replications(reps)
    dead = [r["name"] for r in rows
            if not r["alive"] or r["answers"] is False or r.get("portal_answers") is False]
    if dead:
        click.echo(f"not running or not answering: {', '.join(dead)} (`drkit sim down` then "
                   "`drkit sim up` restarts the lab)", err=True)
        sys.exit(1)


def _print_replications(reps: list[dict]) -> None:
    table = Table(title="replications (RPO lag now)")
    for column in ("site", "id", "direction", "state", "policy", "lag (s)", "RPO", "newest "
                   "recovery point (UTC)"):
        table.add_column(column, overflow="fold")
    for rep in reps:
        rpo, policy = rep.get("rpo") or {}, rep.get("policy") or {}
        lag = rpo.get("lag_s")
        table.add_row(rep["site"], rep["id"], rep.get("direction", ""), rep.get("state", ""),
                      policy.get("mode", "manual"), "-" if lag is None else f"{lag:.1f}",
                      f"{rpo.get('state', '-')} (objective {rpo.get('objective_s', '-')} s)",
                      rpo.get("newest_recovery_point_time") or "-")
    Console().print(table)


def _print_table(lab: dict, rows: list[dict]) -> None:
    console = Console()
    for name, site in sorted(lab["sites"].items()):
        table = Table(title=f"site {name} ({site['role']})", show_header=False)
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        for key, value in _site_rows(site):
            table.add_row(key, value)
        console.print(table)
    procs = Table(title="processes")
    for column in ("name", "pid", "alive", "answers", "url", "iSCSI portal"):
        procs.add_column(column)
    for row in rows:
        portal = f"{row['portal']} ({_yes(row['portal_answers'])})" if row.get("portal") else ""
        procs.add_row(row["name"], str(row["pid"]), _yes(row["alive"]), _yes(row["answers"]),
                      row["url"] or "", portal)
    console.print(procs)
    rep = lab.get("replication", {})
    devices = ", ".join(f"{d['name']} -> {d['replica_lun']}" for d in rep.get("devices", []))
    console.print(f"replication: {rep.get('state', '?')} {devices}")


def _yes(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "NO")


def _site_rows(site: dict) -> list[tuple[str, str]]:
    vc, app = site["vcenter"], site["appliance"]
    iscsi = app.get("iscsi") or {}
    rows = [("vCenter", vc["url"]), ("user", vc["user"]),
            ("credential file", vc["credential_file"]),
            ("appliance", f"{app['name']} {app['url']}"),
            ("TLS fingerprint", app.get("fingerprint") or "- (plain HTTP)"),
            ("token file", app["token_file"]),
            ("iSCSI portal", iscsi.get("portal", "-")), ("iSCSI target", iscsi.get("target", "-"))]
    rows += [(f"host {h['name']}", f"IQN {h.get('iqn') or '-'}") for h in site["hosts"]]
    iqn = next((h["iqn"] for h in site["hosts"] if h.get("iqn")), None)
    if iscsi and iqn:
        rows.append(("its LUNs", f"iscsi-ls -i {iqn} -s iscsi://{iscsi['portal']}"))
    return rows


@sim.command()
@DIR_OPTION
def down(root: Path) -> None:
    """Stop every process of the lab; its data stays, and `sim up` brings it back."""
    try:
        stopped = stop_lab(root)
    except LabError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"stopped: {', '.join(stopped) or 'nothing was running'} (data kept in {root}; "
               "`drkit sim up` brings the lab back, `drkit sim reset` deletes it)")


@sim.command()
@DIR_OPTION
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reset(root: Path, yes: bool) -> None:
    """Stop the lab and delete all its data (appliance LUNs, credentials, lab.json)."""
    if not yes and not click.confirm(f"delete the lab in {root} and all its data?"):
        raise click.Abort()
    try:
        stopped = reset_lab(root)
    except LabError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"reset: {root} is empty" + (f" (stopped {', '.join(stopped)})" if stopped
                                             else ""))
