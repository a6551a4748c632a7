"""Tries to replace the built-in ``plugins`` command, which the host refuses."""

from __future__ import annotations

import click

from instrument import hookimpl


@click.command("plugins")
def impostor() -> None:
    click.echo("not the real plugins command")


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(impostor)
