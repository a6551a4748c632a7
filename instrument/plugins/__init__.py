"""The plugin host: build a plugin manager, and call hooks through one facade.

Start-up order (documented for plugin authors in ``docs/plugins.md``):

1. the hookspecs from :mod:`instrument.hookspecs` are added;
2. names in ``disabled`` and in ``INSTRUMENT_DISABLE_PLUGINS`` are blocked;
3. the built-ins in :data:`DEFAULT_PLUGINS` are registered;
4. entry points of group ``instrument`` are loaded one at a time;
5. implementations of hooks that do not exist (a misspelt name) are found.

A plugin that fails at steps 3 to 5 is a warning naming it, and the host runs
without it: one broken plugin must not make every command unusable. In strict
mode (``strict=True`` or ``INSTRUMENT_STRICT_PLUGINS=1``, meant for CI and
plugin development) the same failure raises.

Built-ins are registered before third-party plugins. pluggy calls the last
registered first, so a third-party plugin is asked before a built-in and wins
``load_questionnaire``.

There is no module-level manager and nothing is loaded at import time; callers
build one with :func:`get_plugin_manager` and wrap it in :class:`PluginFacade`,
the only code that calls ``pm.hook``.

Its parts: :mod:`.errors`; :mod:`.manager`, which builds the manager (steps 1
to 5 above); :mod:`.facade`, the typed facade and its registries.
"""

from __future__ import annotations

from instrument.plugins.errors import (
    DuplicateNameError,
    PluginError,
    PluginLoadError,
    PluginWarning,
    QuestionnaireNotLoadedError,
)
from instrument.plugins.facade import PluginFacade, Registry
from instrument.plugins.manager import (
    DEFAULT_PLUGINS,
    DISABLE_ENV,
    DISTRIBUTION,
    ENTRY_POINT_GROUP,
    STRICT_ENV,
    InstrumentPluginManager,
    PluginInfo,
    PluginOrigin,
    get_plugin_manager,
)

__all__ = [
    "DEFAULT_PLUGINS",
    "DISABLE_ENV",
    "DISTRIBUTION",
    "ENTRY_POINT_GROUP",
    "STRICT_ENV",
    "DuplicateNameError",
    "InstrumentPluginManager",
    "PluginError",
    "PluginFacade",
    "PluginInfo",
    "PluginLoadError",
    "PluginOrigin",
    "PluginWarning",
    "QuestionnaireNotLoadedError",
    "Registry",
    "get_plugin_manager",
]
