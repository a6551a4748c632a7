"""Opening a questionnaire file through the plugin host, and checking what any plugin read.

Every file goes to the plugins' ``load_questionnaire`` hook: the built-in YAML
reader is one of them (:mod:`instrument.loader.plugin`), asked after any
third-party importer, so an XLSForm or REDCap importer can be installed
without the commands knowing about it. Whatever plugin read the file, the
host then checks the questionnaire (:mod:`instrument.checks`) with the same
modes and question types, so an importer cannot hand the engine something
the YAML reader would have refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from instrument.checks import check_questionnaire
from instrument.diagnostics import Diagnostic, Position, QuestionnaireError
from instrument.loader import LoadOptions, LoadResult, load_questionnaire
from instrument.modes import STANDARD_MODES

if TYPE_CHECKING:
    from instrument.model import Questionnaire
    from instrument.plugins import PluginFacade


def open_questionnaire(path: str | Path, facade: "PluginFacade | None" = None) -> LoadResult:
    """Read ``path`` with the plugin that understands it and check the result.

    Without a facade (a library caller), the built-in YAML reader reads it.
    """
    path = Path(path)
    if facade is None:
        options = LoadOptions()
        result = load_questionnaire(path)
    else:
        from instrument.plugins import PluginError

        try:
            options = LoadOptions.of(facade)
            read = facade.load_questionnaire(path, options)
        except PluginError as exc:
            return LoadResult(None, [Diagnostic(Position(str(path), 1, 1), "error", str(exc))])
        result = read if isinstance(read, LoadResult) else LoadResult(read, [])
    if result.questionnaire is None:
        return result
    problems = check_questionnaire(
        result.questionnaire,
        str(path),
        modes=options.modes or STANDARD_MODES,
        question_types=options.question_types,
    )
    if problems:
        return LoadResult(None, [*result.diagnostics, *problems])
    return result


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
