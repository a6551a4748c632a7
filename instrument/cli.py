"""The ``instrument`` command line.

Commands live one per module in :mod:`instrument.commands` and are imported
only when invoked, so ``instrument check`` never pays for Flask or pandas.
Plugins add their own commands through the ``register_commands`` hook.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

# name -> "module:attribute"; imported on first use.
BUILTIN_COMMANDS: dict[str, str] = {
    "check": "instrument.commands.check:check",
    "test": "instrument.commands.test:test",
    "simulate": "instrument.commands.simulate:simulate",
    "try": "instrument.commands.try_:try_",
    "plugins": "instrument.commands.plugins:plugins",
    "db": "instrument.commands.db:db",
    "serve": "instrument.commands.serve:serve",
    "export": "instrument.commands.export:export",
    "cases": "instrument.commands.cases:cases",
}


class LazyGroup(click.Group):
    """A click group whose built-in commands are imported on demand."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | self._lazy.keys())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self._lazy and name not in self.commands:
            module_name, attr = self._lazy[name].split(":")
            try:
                command = getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError) as exc:
                ctx.fail(f"the '{name}' command is not available in this installation ({exc})")
            self.add_command(command, name)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, lazy=BUILTIN_COMMANDS)
@click.version_option(package_name="survey-instrument")
def cli() -> None:
    """Define, check, run and export surveys: one questionnaire, every mode."""


def main() -> None:
    """Console-script entry point."""
    from instrument.plugins import PluginError, PluginFacade, get_plugin_manager

    try:
        facade = PluginFacade(get_plugin_manager())
        facade.register_commands(cli)
    except PluginError as exc:
        raise SystemExit(f"instrument: {exc}") from None
    cli(obj=facade)
