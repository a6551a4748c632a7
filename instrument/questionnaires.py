"""Opening a questionnaire file through the plugin host.

YAML is the built-in format and is read by :mod:`instrument.loader`, with the
fill environment extended by plugins (``prepare_text_environment``). Any other
file goes to the plugins' ``load_questionnaire`` hook, so an XLSForm or REDCap
importer can be installed without the commands knowing about it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from instrument.diagnostics import Diagnostic, Position, QuestionnaireError
from instrument.loader import LoadResult, load_questionnaire

if TYPE_CHECKING:
    from instrument.model import Questionnaire
    from instrument.plugins import PluginFacade

YAML_SUFFIXES = (".yaml", ".yml")


def open_questionnaire(path: str | Path, facade: "PluginFacade | None" = None) -> LoadResult:
    """Load and check ``path`` with the built-in YAML reader or a plugin's importer."""
    path = Path(path)
    if path.suffix.lower() in YAML_SUFFIXES or facade is None:
        if facade is None:
            return load_questionnaire(path)
        return load_questionnaire(
            path,
            text_environment=facade.prepare_text_environment,
            question_types=dict(facade.question_types()),
            modes=facade.mode_policies(),
        )
    from instrument.plugins import PluginError

    try:
        questionnaire = facade.load_questionnaire(path)
    except PluginError as exc:
        return LoadResult(None, [Diagnostic(Position(str(path), 1, 1), "error", str(exc))])
    return LoadResult(questionnaire, [])


def require(path: str | Path, facade: "PluginFacade | None" = None) -> "Questionnaire":
    """Like :func:`open_questionnaire`, but a questionnaire with errors raises."""
    result = open_questionnaire(path, facade)
    if result.questionnaire is None:
        raise QuestionnaireError(result.diagnostics)
    return result.questionnaire


def facade_from_context() -> "PluginFacade":
    """The plugin facade the CLI built (``cli(obj=facade)``), or a fresh one."""
    import click

    from instrument.plugins import PluginFacade, get_plugin_manager

    ctx = click.get_current_context(silent=True)
    found = ctx.find_object(PluginFacade) if ctx is not None else None
    if found is None:
        found = PluginFacade(get_plugin_manager())
        if ctx is not None:
            ctx.obj = found
    return found
