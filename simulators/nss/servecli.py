"""``drkit nss serve``: run one appliance in the foreground (registered onto ``drkit nss``)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--name", required=True, help="Appliance name.")
@click.option("--data", "data_dir", required=True, type=click.Path(path_type=Path),
              help="Directory for metadata and sparse device images.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8470, show_default=True, type=click.IntRange(0, 65535),
              help="Port of the REST API (0: a free port, printed at start).")
@click.option("--token-file", "serve_token_file", type=click.Path(path_type=Path),
              help="API token file; created with a random token if missing.")
@click.option("--fsync", is_flag=True, help="fdatasync every write (power-loss durability).")
@click.option("--seal-key", type=click.Path(dir_okay=False, path_type=Path),
              help="Key file that seals peer and agent secrets at rest (created if missing; "
                   "default: <data>.key beside the data directory).")
@click.option("--header-timeout", default=10.0, show_default=True,
              type=click.FloatRange(0, 3600, min_open=True),
              help="Seconds a client has to send its request headers.")
@click.option("--insecure", is_flag=True,
              help="Serve plain HTTP and allow pairing over it (labs only).")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PEM certificate to serve (default: self-signed, made at first start).")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PEM private key of --tls-cert.")
@click.option("--iscsi-port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Serve the LUNs over iSCSI on this port of --host (0: no iSCSI portal).")
@click.option("--iscsi-chap", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='JSON file {"<initiator IQN or client name>": {"user", "secret"}}: '
                   "those initiators must log in with CHAP.")
@click.option("--jobs-keep", default=1000, show_default=True, type=click.IntRange(0),
              help="Finished jobs kept at most (the newest; those a client was given are "
                   "kept anyway for --jobs-poll-grace).")
@click.option("--jobs-max-age", default=86400.0, show_default=True,
              type=click.FloatRange(0), help="Seconds a finished job is kept at most.")
@click.option("--jobs-poll-grace", default=900.0, show_default=True,
              type=click.FloatRange(0),
              help="Seconds a finished job whose id a client was given is always kept, for "
                   "clients still polling it (the SRA's querySyncStatus); at most "
                   "--jobs-max-age.")
@click.option("--events-keep", default=1000, show_default=True, type=click.IntRange(1),
              help="Events kept per replication (the newest).")
def serve(name: str, data_dir: Path, host: str, port: int, serve_token_file: Path | None,
          fsync: bool, seal_key: Path | None, header_timeout: float, insecure: bool,
          tls_cert: Path | None, tls_key: Path | None, iscsi_port: int,
          iscsi_chap: Path | None, jobs_keep: int, jobs_max_age: float,
          jobs_poll_grace: float, events_keep: int) -> None:
    """Run one appliance in the foreground (HTTPS; its certificate fingerprint is printed)."""
    from .jobs import Retention  # here: the other commands start without the server's imports
    from .server import ServeError, Tls
    from .server import serve as run_server

    try:
        retention = Retention(jobs_keep, jobs_max_age, jobs_poll_grace)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--jobs-poll-grace'") from None
    try:
        run_server(name, data_dir, host, port, serve_token_file, fsync, seal_key,
                   header_timeout, Tls(insecure, tls_cert, tls_key), iscsi_port, iscsi_chap,
                   retention, events_keep)
    except ServeError as exc:
        raise click.ClickException(f"drkit nss serve: {exc}") from None
