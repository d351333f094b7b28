"""``drkit nss``: run an appliance and drive it from a terminal (tables, or ``--json``)."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from simulators.labfile import NoLab, appliance_of
from sra.nss_client import NssApiError, NssClient

IO_STEP = 4 * 2**20
console = Console()


@click.group()
@click.option("--url", envvar="DRKIT_NSS_URL",
              help="Appliance URL (or DRKIT_NSS_URL). Default: the lab's site a, if a lab is up.")
@click.option("--site", type=click.Choice(["a", "b"]),
              help="The appliance of this site of the lab (`drkit sim up`), URL and token "
                   "read from its lab.json ($DRKIT_LAB_DIR).")
@click.option("--token-file", type=click.Path(path_type=Path), envvar="DRKIT_NSS_TOKEN_FILE",
              help="File holding the API token (or DRKIT_NSS_TOKEN / DRKIT_NSS_TOKEN_FILE).")
@click.option("--fingerprint", envvar="DRKIT_NSS_FINGERPRINT",
              help="SHA-256 fingerprint of the appliance's TLS certificate, for https URLs "
                   "(shown by `drkit nss serve`; or DRKIT_NSS_FINGERPRINT).")
@click.pass_context
def nss(ctx: click.Context, url: str | None, site: str | None, token_file: Path | None,
        fingerprint: str | None) -> None:
    """Run and drive an NSS appliance simulator."""
    if url and site:
        raise click.UsageError("--url and --site are alternatives: give one")
    ctx.obj = {"url": url, "site": site, "token_file": token_file, "fingerprint": fingerprint}


def _client(ctx: click.Context) -> NssClient:
    if not ctx.obj["url"]:
        _from_lab(ctx.obj)
    token = os.environ.get("DRKIT_NSS_TOKEN") if not ctx.obj["site"] else None
    token_file = ctx.obj["token_file"]
    if not token and token_file:
        token = _read_token(Path(token_file))
    if not token:
        raise click.UsageError("no API token: give --token-file or set DRKIT_NSS_TOKEN")
    return NssClient(ctx.obj["url"], token, fingerprint=ctx.obj["fingerprint"] or "")


def _read_token(path: Path) -> str:
    try:
        token = path.read_text().strip()
    except (OSError, UnicodeError) as exc:
        why = getattr(exc, "strerror", None) or "not a text file"
        raise click.UsageError(f"token file {path}: {why}") from None
    if not token:
        raise click.UsageError(f"token file {path} is empty")
    return token


def _from_lab(obj: dict[str, Any]) -> None:
    """No --url: the appliance of the lab's site (--site, default a) and its token file."""
    try:
        app = appliance_of(obj["site"] or "a")
    except NoLab as exc:
        raise click.UsageError(f"no appliance given: {exc}; or give --url") from None
    obj["url"] = app["url"]
    obj["token_file"] = obj["token_file"] or Path(app["token_file"])
    obj["fingerprint"] = obj["fingerprint"] or app.get("fingerprint")


def _run(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except NssApiError as exc:
        _fail(exc.code, exc.message)


def _emit(rows: Iterable[dict[str, Any]], columns: list[str], as_json: bool,
          title: str, key: str) -> None:
    rows = list(rows)
    if as_json:
        click.echo(json.dumps({key: rows}, indent=2))
        return
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*[_cell(row.get(col)) for col in columns])
    console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return f"{value.get('type', '')} {value.get('id', '')}".strip()
    return "" if value is None else str(value)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@nss.command("iscsi-targets")
@json_option
@click.pass_context
def iscsi_targets(ctx: click.Context, as_json: bool) -> None:
    """The appliance's iSCSI target and portal (empty when it serves no iSCSI)."""
    rows = _run(lambda: _client(ctx).iscsi_targets())
    _emit(rows, ["name", "portal", "sessions"], as_json, "iSCSI targets", "targets")


@nss.command("iscsi-sessions")
@json_option
@click.pass_context
def iscsi_sessions(ctx: click.Context, as_json: bool) -> None:
    """iSCSI sessions logged in now, with the LUN numbers each initiator sees."""
    rows = _run(lambda: _client(ctx).iscsi_sessions())
    _emit(rows, ["initiator", "isid", "tsih", "type", "peer", "luns", "commands", "created"],
          as_json, "iSCSI sessions", "sessions")


@nss.command()
@json_option
@click.pass_context
def info(ctx: click.Context, as_json: bool) -> None:
    """Show the appliance's identity."""
    data = _run(lambda: _client(ctx).appliance())
    _emit([data], ["id", "name", "model", "version", "serial"], as_json, "Appliance",
          "appliance")


@nss.command("luns")
@json_option
@click.pass_context
def list_luns(ctx: click.Context, as_json: bool) -> None:
    """List LUNs (devices, replicas and TimeViews)."""
    rows = _run(lambda: _client(ctx).list_luns())
    _emit(rows, ["id", "name", "wwn", "size_bytes", "access", "role"], as_json, "LUNs", "luns")


@nss.command("create-lun")
@click.argument("name")
@click.argument("size")
@json_option
@click.pass_context
def create_lun(ctx: click.Context, name: str, size: str, as_json: bool) -> None:
    """Create a thin LUN NAME of SIZE (bytes, or with K/M/G/T suffix)."""
    size_bytes = parse_size(size)  # a bad size is refused before anything is asked
    lun = _run(lambda: _client(ctx).create_lun(name, size_bytes))
    _emit([lun], ["id", "name", "wwn", "size_bytes"], as_json, "Created", "luns")


@nss.command("delete-lun")
@click.argument("lun_id")
@click.pass_context
def delete_lun(ctx: click.Context, lun_id: str) -> None:
    """Delete a LUN (refused while presented, snapshotted, grouped or replicated)."""
    _run(lambda: _client(ctx).delete_lun(lun_id))
    console.print(f"deleted {lun_id}")


@nss.command("write")
@click.argument("lun_id")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--offset", default=0, type=click.IntRange(0), show_default=True)
@click.pass_context
def write_file(ctx: click.Context, lun_id: str, source: Path, offset: int) -> None:
    """Write a file's bytes to a LUN at OFFSET (the file is padded to a 512-byte multiple).

    The whole request is checked first (alignment, range, access): a refused write writes
    nothing."""
    client = _client(ctx)
    size = source.stat().st_size
    _check_write(_run(lambda: client.get_lun(lun_id)), offset, size + -size % 512)
    with source.open("rb") as fh, _progress() as bar:
        task = bar.add_task(f"write {source.name}", total=size)
        done = 0
        while chunk := fh.read(IO_STEP):
            padded = chunk + bytes(-len(chunk) % 512)
            _run(lambda c=padded, o=offset + done: client.write(lun_id, o, c))
            done += len(chunk)
            bar.update(task, completed=done)


def _check_write(lun: dict[str, Any], offset: int, length: int) -> None:
    if lun["access"] != "read-write":
        _fail("read-only-device", f"lun {lun['id']!r} is read-only ({lun['role']}); "
              "nothing written")
    _check_range(lun, offset, length, "write")


def _check_range(lun: dict[str, Any], offset: int, length: int, verb: str) -> None:
    if offset >= lun["size_bytes"]:
        _fail("out-of-range", f"offset {offset} is past the end of lun {lun['id']!r} "
              f"({lun['size_bytes']} bytes); nothing to {verb}")
    if offset < 0 or offset % 512:
        _fail("misaligned-io", f"offset {offset} is not a non-negative multiple of 512; "
              f"nothing to {verb}")
    if length % 512:
        _fail("misaligned-io", f"length {length} is not a multiple of 512; nothing to {verb}")
    if offset + length > lun["size_bytes"]:
        _fail("out-of-range", f"{verb} of {length} bytes at offset {offset} runs past the end "
              f"of lun {lun['id']!r} ({lun['size_bytes']} bytes); nothing done")


def _check_target(target: Path) -> None:
    """Where a read or backup goes must be a file in an existing directory (checked first)."""
    if not target.parent.is_dir():
        _fail("bad-target", f"directory {target.parent} does not exist; nothing read")
    if target.is_dir():
        _fail("bad-target", f"{target} is a directory; nothing read")


def _fail(code: str, message: str) -> None:
    """One line on stderr (stdout may be a data stream: a backup, JSON)."""
    text = " ".join(f"{code}: {message}".split()) if message else code
    click.echo(f"error: {text}", err=True)
    sys.exit(1)


@nss.command("read")
@click.argument("lun_id")
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--offset", default=0, type=click.IntRange(0), show_default=True)
@click.option("--length", type=click.IntRange(512),
              help="Bytes to read, a multiple of 512 (default: to the end of the LUN).")
@click.option("--snapshot", "snap_id", help="Read this snapshot of the LUN instead.")
@click.pass_context
def read_file(ctx: click.Context, lun_id: str, target: Path, offset: int, length: int | None,
              snap_id: str | None) -> None:
    """Read a LUN's (or snapshot's) bytes into a file: e.g. a backup off a TimeView.

    TARGET appears only complete: the bytes go to a temporary file renamed at the end."""
    client = _client(ctx)
    lun = _run(lambda: client.get_lun(lun_id))
    length = lun["size_bytes"] - offset if length is None else length
    _check_range(lun, offset, length, "read")
    _check_target(target)
    with _staged(target) as fh, _progress() as bar:
        task = bar.add_task(f"read {lun_id}", total=length)
        for pos in range(offset, offset + length, IO_STEP):
            n = min(IO_STEP, offset + length - pos)
            if snap_id:
                data = _run(lambda p=pos, k=n: client.read_snapshot(snap_id, p, k))
            else:
                data = _run(lambda p=pos, k=n: client.read(lun_id, p, k))
            fh.write(data)
            bar.update(task, advance=n)


@contextmanager
def _staged(target: Path) -> Iterator[BinaryIO]:
    """A temporary file beside ``target``, renamed onto it only if the block ends normally."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@nss.command("backup")
@click.argument("snap_id")
@click.argument("target")
@click.option("--client", "client_id", help="Present the TimeView to this backup client.")
@click.pass_context
def backup(ctx: click.Context, snap_id: str, target: str, client_id: str | None) -> None:
    """Back up a snapshot off production: mount it as a read-only TimeView (presented to the
    backup client if given), stream its content to TARGET (a file, or - for stdout), then
    remove the TimeView. The production device is never read."""
    client = _client(ctx)
    if target != "-":
        _check_target(Path(target))
    snap = _run(lambda: client.get_snapshot(snap_id))
    name = f"drkit-backup-{snap_id}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%fZ}"
    view = _run(lambda: client.create_timeview(snap_id, name=name, writable=False))
    pres = _run(lambda: client.present(view["id"], client_id=client_id)) if client_id else None
    try:
        _stream(client, view, target)
    finally:
        if pres:
            client.unpresent(view["id"], pres["id"])
        client.delete_lun(view["id"])
    if target != "-":  # stdout carries the image itself
        console.print(f"backed up snapshot {snap['id']} of {snap['lun_id']} "
                      f"({view['size_bytes']} bytes) through TimeView {view['wwn']}",
                      highlight=False)


def _stream(client: NssClient, view: dict[str, Any], target: str) -> None:
    if target == "-":
        _copy(client, view, sys.stdout.buffer)
        return
    with _staged(Path(target)) as fh:
        _copy(client, view, fh)


def _copy(client: NssClient, view: dict[str, Any], out: BinaryIO) -> None:
    size = view["size_bytes"]
    with _progress() as bar:
        task = bar.add_task(f"backup {view['id']}", total=size)
        for pos in range(0, size, IO_STEP):
            n = min(IO_STEP, size - pos)
            out.write(_run(lambda p=pos, k=n: client.read(view["id"], p, k)))
            bar.update(task, advance=n)


@nss.command("snapshots")
@click.argument("lun_id")
@json_option
@click.pass_context
def list_snapshots(ctx: click.Context, lun_id: str, as_json: bool) -> None:
    """List a LUN's snapshots."""
    rows = _run(lambda: _client(ctx).list_snapshots(lun_id))
    _emit(rows, ["id", "seq", "created", "consistency", "group_snapshot"], as_json,
          f"Snapshots of {lun_id}", "snapshots")


@nss.command("snapshot")
@click.argument("lun_id")
@click.option("--quiesce", is_flag=True, help="Quiesce through registered Snapshot Agents.")
@json_option
@click.pass_context
def snapshot(ctx: click.Context, lun_id: str, quiesce: bool, as_json: bool) -> None:
    """Take a copy-on-write snapshot of a LUN."""
    snap = _run(lambda: _client(ctx).create_snapshot(lun_id, quiesce=quiesce))
    _emit([snap], ["id", "lun_id", "seq", "created", "consistency"], as_json, "Snapshot",
          "snapshots")


@nss.command("timeview")
@click.argument("snap_id")
@click.option("--name")
@click.option("--read-only", is_flag=True)
@json_option
@click.pass_context
def timeview(ctx: click.Context, snap_id: str, name: str | None, read_only: bool,
             as_json: bool) -> None:
    """Make a TimeView device of a snapshot."""
    lun = _run(lambda: _client(ctx).create_timeview(snap_id, name, writable=not read_only))
    _emit([lun], ["id", "name", "wwn", "access", "origin_snapshot"], as_json, "TimeView", "luns")


@nss.command("clients")
@json_option
@click.pass_context
def list_clients(ctx: click.Context, as_json: bool) -> None:
    """List SAN clients and their initiators."""
    rows = _run(lambda: _client(ctx).list_clients())
    _emit(rows, ["id", "name", "initiators"], as_json, "Clients", "clients")


@nss.command("create-client")
@click.argument("name")
@click.option("--initiator", "initiators", multiple=True, metavar="TYPE:ID",
              help="e.g. FC:21:00:00:00:11:22:ab:cd or iSCSI:iqn.1998-01.com.vmware:esx1")
@json_option
@click.pass_context
def create_client(ctx: click.Context, name: str, initiators: tuple[str, ...],
                  as_json: bool) -> None:
    """Create a SAN client (an ESXi host or cluster) with its initiators."""
    inits = [dict(zip(("type", "id"), item.split(":", 1), strict=False)) for item in initiators]
    client = _run(lambda: _client(ctx).create_client(name, inits))
    _emit([client], ["id", "name", "initiators"], as_json, "Client", "clients")


@nss.command("present")
@click.argument("lun_id")
@click.argument("client_id")
@json_option
@click.pass_context
def present(ctx: click.Context, lun_id: str, client_id: str, as_json: bool) -> None:
    """Present a LUN to a client (LUN masking)."""
    pres = _run(lambda: _client(ctx).present(lun_id, client_id=client_id))
    _emit([pres], ["id", "lun_id", "client_id", "lun_number"], as_json, "Presentation",
          "presentations")


@nss.command("groups")
@json_option
@click.pass_context
def list_groups(ctx: click.Context, as_json: bool) -> None:
    """List consistency groups."""
    rows = _run(lambda: _client(ctx).list_groups())
    _emit(rows, ["id", "name", "luns"], as_json, "Consistency groups", "groups")


@nss.command("create-group")
@click.argument("name")
@click.argument("lun_ids", nargs=-1, required=True)
@json_option
@click.pass_context
def create_group(ctx: click.Context, name: str, lun_ids: tuple[str, ...], as_json: bool) -> None:
    """Create a consistency group of LUNs."""
    group = _run(lambda: _client(ctx).create_group(name, list(lun_ids)))
    _emit([group], ["id", "name", "luns"], as_json, "Group", "groups")


def parse_size(text: str) -> int:
    units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    try:
        size = int(float(text[:-1]) * units[text[-1]]) if text and text[-1] in units \
            else int(text)
    except (ValueError, OverflowError):
        raise click.BadParameter(f"size {text!r} is not a number of bytes (e.g. 10G)") from None
    if size <= 0:
        raise click.BadParameter(f"size {text!r} must be more than 0 bytes")
    return size


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TransferSpeedColumn(),
                    console=Console(stderr=True), transient=True)


def _register() -> None:
    from .replication.cli import register
    from .servecli import serve

    nss.add_command(serve)
    register(nss, _client, _run, _emit, parse_size, json_option)


_register()
