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
    "plugins": "instrument.commands.plugins:plugins",
    "db": "instrument.commands.db:db",
    "serve": "instrument.commands.serve:serve",
    "export": "instrument.commands.export:export",
    "cases": "instrument.commands.cases:cases",
    "texts": "instrument.commands.texts:texts",
    "fieldwork": "instrument.commands.fieldwork:fieldwork",
    "staff": "instrument.commands.staff:staff",
    "panel": "instrument.commands.panel:panel",
    "audit": "instrument.commands.audit:audit",
    "wave": "instrument.commands.wave:wave",
}


class LazyGroup(click.Group):
    """A click group whose built-in commands are imported on demand, and plugins' added once.

    Plugins' commands (the console mode's ``try`` among them) are added the
    first time the group is asked for a command it does not know, or for the
    list, with the facade the caller passed as ``obj`` (else a fresh one), so
    ``cli`` works the same from :func:`main`, from click's test runner and
    when embedded.
    """

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = dict(lazy or {})
        self._plugins_added = False

    def add_plugin_commands(self, facade: Any) -> None:
        """Let every plugin add its commands (once; see ``PluginFacade.register_commands``)."""
        if self._plugins_added:
            return
        self._plugins_added = True
        facade.register_commands(self)

    def _plugin_commands(self, ctx: click.Context) -> None:
        if self._plugins_added:
            return
        from instrument.plugins import PluginError, PluginFacade, get_plugin_manager

        facade = ctx.find_object(PluginFacade)
        try:
            self.add_plugin_commands(facade or PluginFacade(get_plugin_manager()))
        except PluginError as exc:
            ctx.fail(str(exc))

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._plugin_commands(ctx)
        return sorted(set(super().list_commands(ctx)) | self._lazy.keys())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self._lazy and name not in self.commands:
            self._plugin_commands(ctx)
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
        cli.add_plugin_commands(facade)
    except PluginError as exc:
        raise SystemExit(f"instrument: {exc}") from None
    cli(obj=facade)
