"""The hooks a plugin can implement.

Each function below is a *specification*: a plugin implements a hook by
defining a function with the same name, decorated with
``@instrument.hookimpl``, taking any subset of the arguments (pluggy passes
only the ones a plugin asks for, so adding an argument here later never breaks
an existing plugin).

Call these through :class:`instrument.plugins.PluginFacade`, never through
``pm.hook`` directly: the facade tags results with the plugin that produced
them, rejects duplicate names and isolates a failing plugin.

Author-facing documentation with examples is ``docs/plugins.md``; a test
checks it has a heading with each signature exactly as written here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

from instrument import PROJECT_NAME
from instrument.plugin_types import (
    ContactChannel,
    InterviewEvent,
    ModeSpec,
    OutputFormat,
    QuestionType,
    RecordingProvider,
)

if TYPE_CHECKING:  # keep `import instrument.hookspecs` free of click/jinja2/model
    import click
    import jinja2

    from instrument.loader import LoadOptions, LoadResult
    from instrument.model import Questionnaire

__all__ = [
    "interview_event",
    "load_questionnaire",
    "prepare_text_environment",
    "register_commands",
    "register_contact_channels",
    "register_modes",
    "register_output_formats",
    "register_question_types",
    "register_recording_providers",
]

_hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@_hookspec
def register_modes() -> list[ModeSpec]:  # type: ignore[empty-body]
    """Return the interview modes this plugin provides.

    Called once when the host builds its mode registry (server start,
    ``instrument plugins``). Names must be unique across all plugins.

    :return: a list of :class:`~instrument.plugin_types.ModeSpec`.
    """


@_hookspec
def register_output_formats() -> list[OutputFormat]:  # type: ignore[empty-body]
    """Return the export formats this plugin provides.

    Called once when the host builds its format registry (``instrument
    export``, ``instrument plugins``). Names must be unique across plugins.

    :return: a list of :class:`~instrument.plugin_types.OutputFormat`.
    """


@_hookspec
def register_question_types() -> list[QuestionType]:  # type: ignore[empty-body]
    """Return extra answer types questionnaires may use as ``type:``.

    Called once when the host builds its question-type registry, before a
    questionnaire is checked. Names must be unique across plugins.

    :return: a list of :class:`~instrument.plugin_types.QuestionType`.
    """


@_hookspec
def register_contact_channels() -> list[ContactChannel]:  # type: ignore[empty-body]
    """Return the ways of contacting panel members this plugin provides.

    Called once when the host builds its channel registry (the fieldwork
    worker's start, a wave file's check, ``instrument plugins``). Names must
    be unique across plugins. A channel sends what the worker hands it and
    keeps nothing: no store, no copy of the address.

    :return: a list of :class:`~instrument.plugin_types.ContactChannel`.
    """


@_hookspec
def register_recording_providers() -> list[RecordingProvider]:  # type: ignore[empty-body]
    """Return the providers that hold call recordings this plugin makes, and delete them.

    Called once when the host builds its provider registry (the fieldwork
    worker's first round, ``instrument calls forget-recordings``). Names must
    be unique across plugins and are the names the store keeps with each
    recording (``calls.provider``). When a withdrawal deletes answers, the
    recordings they point to are listed in the store, and each is deleted
    through the provider of its name, retried until it is done.

    :return: a list of :class:`~instrument.plugin_types.RecordingProvider`.
    """


@_hookspec(firstresult=True)
def load_questionnaire(path: Path, options: LoadOptions) -> Questionnaire | LoadResult | None:
    """Read the questionnaire at *path*, if this plugin understands it.

    Called for every questionnaire file the host opens. The first non-None
    result wins; third-party plugins are asked before the built-in YAML
    loader (itself a plugin, ``yaml``), so an importer (XLSForm, DDI) returns
    None for files that are not its own. Whatever a plugin returns, the host
    checks it (:mod:`instrument.checks`) before using it.

    :param path: the file (or folder) to read.
    :param options: what the host adds to questionnaires (fill filters,
        question types, modes); an importer that builds YAML text passes them
        to :func:`instrument.loader.load_questionnaire_text`.
    :return: a Questionnaire, a LoadResult (with file:line diagnostics),
        or None to let the next plugin try.
    """


@_hookspec
def prepare_text_environment(env: jinja2.Environment) -> None:
    """Add filters, tests or globals to the sandboxed Jinja environment.

    Called once per environment, after the built-in filters are added. The
    environment renders text fills for every mode, so a filter added here
    is used identically on web pages and in spoken prompts.

    :param env: the environment to change in place.
    """


@_hookspec
def interview_event(event: InterviewEvent) -> None:
    """Observe something that happened in an interview.

    Called by the host after the event is recorded, so an answer is never
    lost because a subscriber failed; a plugin that raises is reported as a
    warning and the other plugins still see the event. Keep it fast or hand the work to a queue: it runs inside
    the respondent's request.

    :param event: the :class:`~instrument.plugin_types.InterviewEvent`.
    """


@_hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands to the ``instrument`` command line.

    Called once at CLI start-up, before the command line is parsed. Add
    commands with ``cli.add_command``; a name already taken (built-in or
    another plugin's) is an error.

    :param cli: the top-level ``instrument`` group.
    """
