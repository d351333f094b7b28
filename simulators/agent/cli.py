"""Command line of the agent package.

- ``python -m simulators.agent run ...``   — a guest: application + workload + Snapshot Agent
- ``python -m simulators.agent check ...`` — the integrity checker on an image set
- ``drkit trials --mode app|crash|both --count N [--seed S] [--json]`` — application-consistency
  trials (registered as the ``trials`` plug-in of ``drkit`` in pyproject.toml)
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from simulators.agent.blockdev import BlockDevice, FileDevice
from simulators.agent.errors import AgentError


def _token(token_file: Path | None) -> str:
    if token_file is not None:
        return token_file.read_text().strip()
    token = os.environ.get("DRKIT_NSS_TOKEN", "")
    if not token:
        raise click.UsageError("give --appliance-token-file or set DRKIT_NSS_TOKEN")
    return token


def _devices(url: str | None, token_file: Path | None, data_lun: str | None,
             wal_lun: str | None, data_file: Path | None, wal_file: Path | None,
             sizes: tuple[int, int] | None = None,
             fingerprint: str = "") -> tuple[BlockDevice, BlockDevice]:
    if data_file and wal_file:
        return (FileDevice(data_file, sizes[0] if sizes else None),
                FileDevice(wal_file, sizes[1] if sizes else None))
    if url and data_lun and wal_lun:
        from simulators.agent.guest import appliance_devices

        return appliance_devices(url, _token(token_file), data_lun, wal_lun, fingerprint)
    raise click.UsageError("give --data-file and --wal-file, or --appliance-url with "
                           "--data-lun and --wal-lun")


def _fingerprint(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    """The pinned certificate fingerprint, normalized; a malformed one is a usage error."""
    if not value:
        return ""
    from sra.nss_tls import normal_fingerprint

    try:
        return normal_fingerprint(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


_device_options = [
    click.option("--appliance-url"), click.option("--appliance-token-file", type=Path),
    click.option("--appliance-fingerprint", callback=_fingerprint,
                 help="SHA-256 of the https appliance's certificate, pinned (replaces CA "
                      "verification)"),
    click.option("--data-lun"), click.option("--wal-lun"),
    click.option("--data-file", type=Path), click.option("--wal-file", type=Path),
]


def device_options(f: Any) -> Any:
    for option in reversed(_device_options):
        f = option(f)
    return f


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-level", default="WARNING", show_default=True)
def agent_main(log_level: str) -> None:
    """The reference application, its Snapshot Agent and its integrity checker."""
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@agent_main.command("run")
@device_options
@click.option("--name", default="guest", show_default=True)
@click.option("--rate", "rate_tps", type=click.FloatRange(0, 100_000, min_open=True),
              default=100.0, show_default=True)
@click.option("--seed", type=int)
@click.option("--accounts", "n_accounts", type=click.IntRange(3, 1_000_000), default=32,
              show_default=True)
@click.option("--wal-slots", type=click.IntRange(1, 1_000_000), default=256, show_default=True)
@click.option("--record-bytes", type=click.IntRange(512, 1 << 20), default=2048,
              show_default=True)
@click.option("--flush-interval", "flush_interval_s", type=click.FloatRange(0, min_open=True),
              default=0.1, show_default=True)
@click.option("--io-threads", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--hold-limit", "hold_limit_s", type=click.FloatRange(0, min_open=True),
              default=10.0, show_default=True)
@click.option("--timeout-ms", type=click.IntRange(1, 600_000), default=5000, show_default=True)
@click.option("--ready-file", type=Path, help="write {url, agent_id, pid} here once serving")
@click.option("--agent-token-file", type=Path, help="the agent's bearer token (default: random)")
def run(appliance_url: str | None, appliance_token_file: Path | None,
        appliance_fingerprint: str, data_lun: str | None, wal_lun: str | None,
        data_file: Path | None, wal_file: Path | None, ready_file: Path | None,
        agent_token_file: Path | None, **config: Any) -> None:
    """Format the store, run the workload and serve the agent until SIGTERM."""
    from simulators.agent import layout as L
    from simulators.agent.guest import Guest, GuestConfig

    cfg = GuestConfig(**config)
    g = L.Geometry(cfg.n_accounts, cfg.record_bytes, cfg.wal_slots)
    data, wal = _devices(appliance_url, appliance_token_file, data_lun, wal_lun, data_file,
                         wal_file, (g.data_bytes, g.wal_bytes), appliance_fingerprint)
    token = agent_token_file.read_text().strip() if agent_token_file else None
    guest = Guest(data, wal, cfg, token).start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        if appliance_url and data_lun and wal_lun:
            from sra.nss_client import NssClient

            client = NssClient(appliance_url, _token(appliance_token_file),
                               fingerprint=appliance_fingerprint)
            guest.register(client, [data_lun, wal_lun])
        _write_ready(ready_file, guest.ready_info())
        stop.wait()
    finally:
        guest.stop()


def _write_ready(path: Path | None, info: dict[str, Any]) -> None:
    text = json.dumps(info)
    if path is None:
        click.echo(text)
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


@agent_main.command("check")
@device_options
@click.option("--json", "as_json", is_flag=True, help="print the full report as JSON")
def check_cmd(appliance_url: str | None, appliance_token_file: Path | None,
              appliance_fingerprint: str, data_lun: str | None, wal_lun: str | None,
              data_file: Path | None, wal_file: Path | None, as_json: bool) -> None:
    """Check an image set; exit 0 when clean, 1 with violations, 2 when unreadable."""
    from simulators.agent.checker import check

    data, wal = _devices(appliance_url, appliance_token_file, data_lun, wal_lun, data_file,
                         wal_file, fingerprint=appliance_fingerprint)
    try:
        report = check(data, wal)
    except AgentError as exc:
        click.echo(f"error: {exc.code}: {exc.message}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        counts = ", ".join(f"{k}={v}" for k, v in report.counts.items())
        click.echo(f"{'clean' if report.ok else 'VIOLATIONS'}: {counts} "
                   f"(checkpoint {report.checkpoint_lsn}, log end {report.log_end}, "
                   f"replayed {report.replayed})")
    sys.exit(0 if report.ok else 1)


def _check_appliance(url: str | None, token_file: Path | None, via: str) -> None:
    """--appliance-url and its token go together, and only where one appliance serves."""
    if bool(url) != bool(token_file):
        raise click.UsageError("--appliance-url and --appliance-token-file go together")
    if url and via not in ("timeview", "export"):
        raise click.UsageError(f"--via {via} starts its own pair of appliances; "
                               "--appliance-url serves --via timeview or export")


@click.command("trials")
@click.option("--mode", type=click.Choice(["app", "crash", "both"]), default="both",
              show_default=True)
@click.option("--count", type=click.IntRange(1, 10_000), default=20, show_default=True,
              help="trials per mode")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--rate", "rate_tps", type=click.FloatRange(0, 100_000, min_open=True),
              default=100.0, show_default=True, help="workload transactions per second")
@click.option("--via", type=click.Choice(["timeview", "export", "replica", "sra"]),
              default="timeview",
              show_default=True, help="how the recovered image is produced")
@click.option("--appliance-url", help="use this appliance instead of starting a private one")
@click.option("--appliance-token-file", type=Path)
@click.option("--appliance-fingerprint", callback=_fingerprint,
              help="SHA-256 of the https appliance's certificate, pinned")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def trials(mode: str, count: int, seed: int, rate_tps: float, via: str,
           appliance_url: str | None, appliance_token_file: Path | None,
           appliance_fingerprint: str, as_json: bool) -> None:
    """Run application-consistency trials: snapshot, recover, check; print violation counts.

    Exits 1 when an application-consistent trial shows a violation or fails to snapshot.
    """
    from simulators.agent.trials import MODES, TrialConfig, format_table, run_trials

    _check_appliance(appliance_url, appliance_token_file, via)
    modes = list(MODES) if mode == "both" else [mode]
    cfg = TrialConfig(count=count, seed=seed, rate_tps=rate_tps)
    dots = None if as_json else (lambda r: click.echo("." if r.ok else "x", nl=False, err=True))
    summaries = run_trials(modes, cfg, dots, via=via, appliance_url=appliance_url,
                           token_file=appliance_token_file, fingerprint=appliance_fingerprint)
    if as_json:
        click.echo(json.dumps({"seed": seed, "count": count, "rate_tps": rate_tps, "via": via,
                               "modes": {m: s.to_dict() for m, s in summaries.items()}},
                              indent=2))
    else:
        click.echo("", err=True)
        click.echo(format_table(summaries))
    app = summaries.get("app")
    if app is not None:
        d = app.to_dict()
        sys.exit(1 if d["violations_total"] or d["snapshot_failures"] else 0)
