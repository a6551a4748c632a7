"""Adds an ``instrument hello`` command."""

from __future__ import annotations

import click

from instrument import hookimpl


@click.command("hello")
@click.argument("name", default="world")
def hello(name: str) -> None:
    """Say hello (proves plugin commands are reachable)."""
    click.echo(f"hello, {name}")


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(hello)
