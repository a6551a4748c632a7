"""Building the plugin manager: block, register the built-ins, load entry points, check hooks.

See :mod:`instrument.plugins` for the order and why a broken plugin is a
warning (an error in strict mode). Nothing is loaded at import time.
"""

from __future__ import annotations

import difflib
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import import_module, metadata

import pluggy

from instrument import PROJECT_NAME, __version__, hookspecs
from instrument.plugins.errors import PluginError, PluginLoadError, PluginWarning

__all__ = [
    "DEFAULT_PLUGINS",
    "DISABLE_ENV",
    "DISTRIBUTION",
    "ENTRY_POINT_GROUP",
    "STRICT_ENV",
    "InstrumentPluginManager",
    "PluginInfo",
    "PluginOrigin",
    "env_flag",
    "get_plugin_manager",
]

ENTRY_POINT_GROUP = PROJECT_NAME
DISABLE_ENV = "INSTRUMENT_DISABLE_PLUGINS"
STRICT_ENV = "INSTRUMENT_STRICT_PLUGINS"
DISTRIBUTION = "survey-instrument"

DEFAULT_PLUGINS: tuple[tuple[str, str], ...] = (
    ("yaml", "instrument.loader.plugin"),
    ("console", "instrument_console.plugin"),
    ("web", "instrument_web.plugin"),
    ("phone", "instrument_phone.plugin"),
    ("ivr", "instrument_phone.ivr.plugin"),
    ("sms", "instrument_phone.sms.plugin"),
    ("outputs", "instrument_outputs.plugin"),
    ("channels", "instrument_channels.plugin"),
)
"""Built-in plugins as ``(name, dotted module)``.

The name is the same as the plugin's entry-point name in ``pyproject.toml``:
registering it here makes built-ins work from a source checkout, where no
entry points exist, and the matching name makes the entry-point loader skip
it when the package is installed, so nothing is registered twice.
"""


@dataclass(frozen=True)
class PluginOrigin:
    """Where a registered plugin came from, for ``instrument plugins``."""

    source: str  # "built-in" or "entry point"
    distribution: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class PluginInfo:
    """One registered plugin as ``instrument plugins`` shows it."""

    name: str
    source: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _env_names(name: str) -> set[str]:
    return {part.strip() for part in os.environ.get(name, "").split(",") if part.strip()}


class InstrumentPluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers what start-up did.

    pluggy records distribution data only for plugins loaded by its own
    ``load_setuptools_entrypoints``; the host loads entry points one at a
    time (to isolate failures), so it keeps origins, disabled names and
    load failures here instead.
    """

    def __init__(self, *, strict: bool = False) -> None:
        super().__init__(PROJECT_NAME)
        self.strict = strict
        self.origins: dict[str, PluginOrigin] = {}
        self.disabled: set[str] = set()
        self.failures: dict[str, str] = {}


def get_plugin_manager(
    *,
    load_entrypoints: bool = True,
    disabled: Iterable[str] = (),
    strict: bool | None = None,
) -> InstrumentPluginManager:
    """Build a fresh plugin manager (see the module docstring for the order).

    :param load_entrypoints: load third-party plugins from entry points;
        tests pass False and register their plugins themselves.
    :param disabled: plugin names (entry-point names, or distribution names)
        never to register, added to those in ``INSTRUMENT_DISABLE_PLUGINS``.
    :param strict: raise instead of warning when a plugin fails; None reads
        ``INSTRUMENT_STRICT_PLUGINS``.
    """
    pm = InstrumentPluginManager(strict=env_flag(STRICT_ENV) if strict is None else strict)
    pm.add_hookspecs(hookspecs)
    for name in sorted({*disabled, *_env_names(DISABLE_ENV)}):
        pm.set_blocked(name)
        pm.disabled.add(name)
    for name, module in DEFAULT_PLUGINS:
        _register_builtin(pm, name, module)
    if load_entrypoints:
        for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
            _register_entry_point(pm, entry_point)
    _drop_unknown_hooks(pm)
    pm.check_pending()
    return pm


def _load_failed(pm: InstrumentPluginManager, name: str, exc: BaseException) -> None:
    message = f"plugin {name!r} could not be loaded: {type(exc).__name__}: {exc}"
    pm.failures[name] = f"{type(exc).__name__}: {exc}"
    if pm.strict:
        raise PluginLoadError(message) from exc
    warnings.warn(
        f"{message}; running without it (disable it with {DISABLE_ENV}={name})",
        PluginWarning,
        stacklevel=3,
    )


def _register_builtin(pm: InstrumentPluginManager, name: str, module: str) -> None:
    if pm.is_blocked(name):
        return  # not even imported: disabling is how you get past a broken import
    try:
        pm.register(import_module(module), name=name)
    except Exception as exc:
        _load_failed(pm, name, exc)
        return
    pm.origins[name] = PluginOrigin("built-in", DISTRIBUTION, __version__)


def _register_entry_point(pm: InstrumentPluginManager, entry_point: metadata.EntryPoint) -> None:
    name = entry_point.name
    dist = getattr(entry_point, "dist", None)
    dist_name = dist.name if dist is not None else None
    if pm.is_blocked(name) or (dist_name is not None and dist_name in pm.disabled):
        return
    existing = pm.get_plugin(name)
    if existing is not None:
        # The same module as a built-in registered under this name: that is
        # the installed copy of DEFAULT_PLUGINS, not a clash.
        if entry_point.attr is None and getattr(existing, "__name__", None) == entry_point.module:
            return
        _load_failed(pm, name, PluginError(f"the name {name!r} is already used by another plugin"))
        return
    try:
        plugin = entry_point.load()
        if pm.is_registered(plugin):
            return
        pm.register(plugin, name=name)
    except Exception as exc:
        _load_failed(pm, name, exc)
        return
    version = dist.version if dist is not None else None
    pm.origins[name] = PluginOrigin("entry point", dist_name, version)


def _drop_unknown_hooks(pm: InstrumentPluginManager) -> None:
    """Find implementations of hooks that do not exist.

    pluggy silently ignores them until ``check_pending``, which then fails
    for *every* plugin. Outside strict mode the offending plugin alone is
    left out, with a warning that suggests the hook it probably meant.
    """
    known = [name for name, caller in vars(pm.hook).items() if caller.has_spec()]
    offenders: dict[str, list[str]] = {}
    for hook_name, caller in list(vars(pm.hook).items()):
        if caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if not impl.optionalhook:
                offenders.setdefault(impl.plugin_name, []).append(hook_name)
    if pm.strict:
        return  # check_pending raises pluggy's PluginValidationError
    for plugin_name, hook_names in offenders.items():
        hints = []
        for hook_name in sorted(hook_names):
            close = difflib.get_close_matches(hook_name, known, n=1)
            hints.append(f"{hook_name} (did you mean {close[0]}?)" if close else hook_name)
        pm.unregister(name=plugin_name)
        pm.origins.pop(plugin_name, None)
        _load_failed(
            pm, plugin_name, PluginError(f"implements unknown hook(s): {', '.join(hints)}")
        )
