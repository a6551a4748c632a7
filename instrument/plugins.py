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
"""

from __future__ import annotations

import difflib
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import import_module, metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pluggy

from instrument import PROJECT_NAME, __version__, hookspecs
from instrument.modes import ModePolicy, ModeRegistryError, mode_registry
from instrument.plugin_types import InterviewEvent, ModeSpec, OutputFormat, QuestionType

if TYPE_CHECKING:
    import click
    import jinja2

    from instrument.loader import LoadOptions, LoadResult
    from instrument.model import Questionnaire

__all__ = [
    "DEFAULT_PLUGINS",
    "DISABLE_ENV",
    "ENTRY_POINT_GROUP",
    "STRICT_ENV",
    "DuplicateNameError",
    "InstrumentPluginManager",
    "PluginError",
    "PluginFacade",
    "PluginInfo",
    "PluginLoadError",
    "PluginWarning",
    "QuestionnaireNotLoadedError",
    "Registry",
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
    ("outputs", "instrument_outputs.plugin"),
)
"""Built-in plugins as ``(name, dotted module)``.

The name is the same as the plugin's entry-point name in ``pyproject.toml``:
registering it here makes built-ins work from a source checkout, where no
entry points exist, and the matching name makes the entry-point loader skip
it when the package is installed, so nothing is registered twice. Add
``("console", "instrument_console.plugin")`` and the like once those modules
exist.
"""


class PluginError(Exception):
    """A plugin could not be used; the message names it."""


class PluginLoadError(PluginError):
    """A plugin failed to load in strict mode."""


class DuplicateNameError(PluginError):
    """Two plugins registered the same name for a mode, format, type or command."""


class QuestionnaireNotLoadedError(PluginError, LookupError):
    """No plugin could read a questionnaire file."""


class PluginWarning(UserWarning):
    """A plugin failed and was left out (the non-strict form of PluginError)."""


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


def _env_flag(name: str) -> bool:
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
    pm = InstrumentPluginManager(strict=_env_flag(STRICT_ENV) if strict is None else strict)
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


_T = TypeVar("_T", ModeSpec, OutputFormat, QuestionType)


class Registry(Mapping[str, _T]):
    """A read-only ``name -> descriptor`` mapping that knows each owner."""

    def __init__(self, kind: str, entries: Mapping[str, tuple[str, _T]]) -> None:
        self.kind = kind
        self._entries: dict[str, tuple[str, _T]] = dict(entries)

    def __getitem__(self, name: str) -> _T:
        try:
            return self._entries[name][1]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise KeyError(f"no {self.kind} named {name!r} (known: {known})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def owner(self, name: str) -> str:
        """The name of the plugin that registered *name*."""
        self[name]  # the helpful KeyError
        return self._entries[name][0]

    def __repr__(self) -> str:
        inside = ", ".join(f"{name!r}: {plugin!r}" for name, (plugin, _) in self._entries.items())
        return f"Registry({self.kind!r}, {{{inside}}})"


class PluginFacade:
    """Typed access to every hook; the only code that calls ``pm.hook``.

    Registration and notification hooks call each plugin separately, so a
    result is tagged with its plugin and one plugin raising does not stop the
    others (it is a :class:`PluginWarning`, or an error in strict mode).
    """

    def __init__(self, pm: pluggy.PluginManager, *, strict: bool | None = None) -> None:
        self.pm = pm
        if strict is None:
            strict = getattr(pm, "strict", False) or _env_flag(STRICT_ENV)
        self.strict = strict

    # -- calling helpers ---------------------------------------------------

    def _failed(self, plugin: str, hook: str, exc: BaseException) -> None:
        message = f"plugin {plugin!r} failed in {hook}: {type(exc).__name__}: {exc}"
        if self.strict:
            raise PluginError(message) from exc
        warnings.warn(message, PluginWarning, stacklevel=4)

    def _call(self, impl: Any, hook: str, kwargs: Mapping[str, Any]) -> tuple[bool, Any]:
        """Call one implementation as pluggy would; (False, None) if it raised."""
        if impl.wrapper or impl.hookwrapper:
            raise PluginError(
                f"plugin {impl.plugin_name!r}: {hook} does not support wrapper implementations"
            )
        try:
            return True, impl.function(*(kwargs[arg] for arg in impl.argnames))
        except Exception as exc:
            self._failed(impl.plugin_name, hook, exc)
            return False, None

    def _each(self, hook: str, **kwargs: Any) -> Iterator[tuple[str, Any]]:
        """Call every implementation of *hook* in pluggy's order, one by one."""
        for impl in reversed(getattr(self.pm.hook, hook).get_hookimpls()):
            ok, result = self._call(impl, hook, kwargs)
            if ok:
                yield impl.plugin_name, result

    def _registry(self, hook: str, kind: str, cls: type[_T]) -> Registry[_T]:
        entries: dict[str, tuple[str, _T]] = {}
        for plugin, result in self._each(hook):
            if result is None:
                continue
            if isinstance(result, (str, bytes, Mapping)) or not isinstance(result, Iterable):
                items: list[Any] = [result]  # reported as the wrong type below
            else:
                items = list(result)
            wrong = [item for item in items if not isinstance(item, cls)]
            if wrong:
                self._failed(
                    plugin,
                    hook,
                    TypeError(f"must return a list of {cls.__name__}, got {wrong[0]!r}"),
                )
                continue
            for item in items:
                if item.name in entries:
                    first = entries[item.name][0]
                    if first == plugin:
                        raise DuplicateNameError(
                            f"plugin {plugin!r} registers the {kind} {item.name!r} twice"
                        )
                    raise DuplicateNameError(
                        f"plugins {first!r} and {plugin!r} both register the {kind} "
                        f"{item.name!r}; disable one with {DISABLE_ENV}=<plugin name>"
                    )
                entries[item.name] = (plugin, item)
        return Registry(kind, entries)

    # -- one method per hook -----------------------------------------------

    def modes(self) -> Registry[ModeSpec]:
        """All modes (hook ``register_modes``), name -> ModeSpec."""
        return self._registry("register_modes", "mode", ModeSpec)

    def mode_policies(self) -> dict[str, ModePolicy]:
        """Every mode interviews may run in: the standard ones and those plugins register with a policy.

        :raises PluginError: a plugin serves a standard mode with another
            policy, or two modes share a dataset code.
        """
        modes = self.modes()
        extra = [(name, modes[name].policy) for name in modes if modes[name].policy is not None]
        try:
            return mode_registry(extra)  # type: ignore[arg-type]
        except ModeRegistryError as exc:
            raise PluginError(str(exc)) from None

    def output_formats(self) -> Registry[OutputFormat]:
        """All export formats (hook ``register_output_formats``)."""
        return self._registry("register_output_formats", "output format", OutputFormat)

    def question_types(self) -> Registry[QuestionType]:
        """All plugin question types (hook ``register_question_types``)."""
        return self._registry("register_question_types", "question type", QuestionType)

    def load_questionnaire(
        self, path: Path | str, options: LoadOptions | None = None
    ) -> Questionnaire | LoadResult:
        """Read *path* with the first plugin that understands it (what it returned, unchecked).

        :func:`instrument.questionnaires.open_questionnaire` is what commands
        use: it passes this host's options and checks the result.
        :raises QuestionnaireNotLoadedError: when every loader returned None.
        """
        path = Path(path)
        if options is None:
            from instrument.loader import LoadOptions

            options = LoadOptions()
        result = self.pm.hook.load_questionnaire(path=path, options=options)
        if result is None:
            loaders = [impl.plugin_name for impl in self.pm.hook.load_questionnaire.get_hookimpls()]
            tried = ", ".join(reversed(loaders)) or "none installed"
            raise QuestionnaireNotLoadedError(f"no plugin can read {path} (loaders tried: {tried})")
        return cast("Questionnaire | LoadResult", result)

    def prepare_text_environment(self, env: jinja2.Environment) -> None:
        """Let every plugin add filters and globals to *env*."""
        for _ in self._each("prepare_text_environment", env=env):
            pass

    def interview_event(self, event: InterviewEvent) -> None:
        """Tell every plugin about *event*; a failing subscriber is only a warning."""
        if not isinstance(event, InterviewEvent):
            raise TypeError(f"expected an InterviewEvent, got {event!r}")
        for _ in self._each("interview_event", event=event):
            pass

    def register_commands(self, cli: click.Group) -> None:
        """Let plugins add commands to *cli*, refusing names already taken."""
        import click  # only the CLI pays for it

        owners = dict.fromkeys(cli.list_commands(click.Context(cli)), "a built-in command")
        # owners: command name -> who has it ("a built-in command" or "plugin 'x'")
        for impl in reversed(self.pm.hook.register_commands.get_hookimpls()):
            before = dict(cli.commands)
            ok, _ = self._call(impl, "register_commands", {"cli": cli})
            if not ok:  # leave no half-added commands behind
                cli.commands.clear()
                cli.commands.update(before)
                continue
            added = [n for n, c in cli.commands.items() if before.get(n) is not c]
            clash = next((n for n in added if n in owners), None)
            if clash is not None:
                cli.commands.clear()
                cli.commands.update(before)
                raise DuplicateNameError(
                    f"plugin {impl.plugin_name!r} adds the command {clash!r}, "
                    f"already taken by {owners[clash]}"
                )
            owners.update(dict.fromkeys(added, f"plugin {impl.plugin_name!r}"))

    # -- introspection -----------------------------------------------------

    def plugin_info(self) -> list[PluginInfo]:
        """Name, origin, version and implemented hooks of each plugin."""
        origins: Mapping[str, PluginOrigin] = getattr(self.pm, "origins", {})
        dists = {id(plugin): dist for plugin, dist in self.pm.list_plugin_distinfo()}
        infos = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:
                continue  # a blocked name
            origin = origins.get(name)
            dist = dists.get(id(plugin))
            if origin is None and dist is not None:
                origin = PluginOrigin("entry point", dist.project_name, dist.version)
            origin = origin or PluginOrigin("registered")
            hooks = tuple(sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or ()))
            infos.append(
                PluginInfo(name, origin.source, origin.distribution, origin.version, hooks)
            )
        return sorted(infos, key=lambda info: info.name)

    def unavailable(self) -> dict[str, str]:
        """Plugins left out: name -> "disabled" or why loading failed."""
        out = dict.fromkeys(getattr(self.pm, "disabled", ()), "disabled")
        out.update(getattr(self.pm, "failures", {}))
        return dict(sorted(out.items()))
