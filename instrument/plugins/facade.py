"""The typed facade: the only code that calls ``pm.hook``, and the registries it builds."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pluggy

from instrument.modes import ModePolicy, ModeRegistryError, mode_registry
from instrument.plugin_types import (
    ContactChannel,
    InterviewEvent,
    ModeSpec,
    OutputFormat,
    QuestionType,
    RecordingProvider,
)
from instrument.plugins.errors import (
    DuplicateNameError,
    PluginError,
    PluginWarning,
    QuestionnaireNotLoadedError,
)
from instrument.plugins.manager import DISABLE_ENV, STRICT_ENV, PluginInfo, PluginOrigin, env_flag

if TYPE_CHECKING:
    import click
    import jinja2

    from instrument.loader import LoadOptions, LoadResult
    from instrument.model import Questionnaire

__all__ = ["PluginFacade", "Registry"]


_T = TypeVar("_T", ModeSpec, OutputFormat, QuestionType, ContactChannel, RecordingProvider)


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
            strict = getattr(pm, "strict", False) or env_flag(STRICT_ENV)
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

    def contact_channels(self) -> Registry[ContactChannel]:
        """All contact channels (hook ``register_contact_channels``), name -> ContactChannel."""
        return self._registry("register_contact_channels", "contact channel", ContactChannel)

    def recording_providers(self) -> Registry[RecordingProvider]:
        """Where recordings are held (hook ``register_recording_providers``), name -> provider."""
        return self._registry(
            "register_recording_providers", "recording provider", RecordingProvider
        )

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
