"""``drkit sra``: the SRA's own commands (registered in the drkit CLI as ``sra.cli:sra``)."""

from __future__ import annotations

from pathlib import Path

import click

from sra import errors


@click.group()
def sra() -> None:
    """The Storage Replication Adapter for SRM."""


@sra.command()
@click.option("--format", "fmt", type=click.Choice(["folder", "zip", "container"]),
              default="folder", show_default=True,
              help="folder: the SRA folder (command.pl at its root); zip: that folder zipped; "
                   "container: a Docker build context for the SRM appliance (/srm/sra).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("dist"),
              show_default=True, help="Directory to build in.")
def package(fmt: str, out: Path) -> None:
    """Build the SRA as SRM installs it."""
    from sra.package import build
    from sra.verbs.query import VERSION

    try:
        made = build(fmt, out, VERSION)
    except (errors.SraError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(str(made))
