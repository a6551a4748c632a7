"""``instrument export``: harmonised response files for SPSS, Stata, R and pandas.

The command parses its options and hands them to :func:`instrument.exporting.run_export`,
which reads every stored version of the questionnaire and its interviews,
checks every format's limits before the first file is written (an export
writes everything or nothing) and writes the files; this module prints
what was written and what was left out.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

_DATABASE_HELP = (
    "Database URL (sqlite:///file.db or postgresql://user@host/db). "
    "Default: $INSTRUMENT_DATABASE_URL, else ./instrument.db."
)


def parse_since(text: str | None) -> dt.datetime | None:
    """A date (midnight UTC) or an ISO date-time (UTC unless it says otherwise)."""
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a date (YYYY-MM-DD) or ISO date-time", param_hint="--since"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


@click.command("export")
@click.option(
    "--questionnaire",
    "questionnaire_id",
    required=True,
    metavar="ID",
    help="The questionnaire's meta.id.",
)
@click.option(
    "--format",
    "formats",
    default=None,
    help="Comma-separated output formats (see `instrument plugins`). Default: every default "
    "format (the built-ins: sav,dta,csv,parquet,ddi). The dictionary, paradata, README and "
    "SHA256SUMS are always written.",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write into.",
)
@click.option("--database", "database", metavar="URL", default=None, help=_DATABASE_HELP)
@click.option(
    "--include-partial", is_flag=True, help="Also partial, unfinished and screened-out interviews."
)
@click.option(
    "--since",
    "since",
    metavar="DATE",
    default=None,
    help="Only interviews updated on or after DATE (UTC).",
)
@click.option(
    "--include-test", is_flag=True, help="Also test interviews (e.g. from `instrument simulate`)."
)
@click.option(
    "--long-loops",
    is_flag=True,
    help="Also write each loop as a long file (one row per case and iteration).",
)
@click.option(
    "--secret-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="A file holding the secret for pseudonymous ids, so case ids stay the same across exports "
    "(else $INSTRUMENT_EXPORT_SECRET; else a random secret: ids differ every export).",
)
@click.option(
    "--name", "stem", default=None, help="File name stem (default: the questionnaire id)."
)
@click.option(
    "--progress/--no-progress",
    "show_progress",
    default=None,
    help="Show a progress bar (default: when writing to a terminal).",
)
def export(
    questionnaire_id: str,
    formats: str | None,
    out: Path,
    database: str | None,
    include_partial: bool,
    since: str | None,
    include_test: bool,
    long_loops: bool,
    secret_file: Path | None,
    stem: str | None,
    show_progress: bool | None,
) -> None:
    """Export the interviews of a questionnaire as labelled data files."""
    from tqdm import tqdm

    from instrument.exporting import ExportFailed, ExportRequest, left_out_sentence, run_export
    from instrument.questionnaires import facade_from_context

    request = ExportRequest(
        questionnaire_id=questionnaire_id,
        out=out,
        formats=formats.split(",") if formats else None,
        database=database,
        include_partial=include_partial,
        include_test=include_test,
        since=parse_since(since),
        long_loops=long_loops,
        secret=secret_file.read_bytes().strip() if secret_file else None,
        stem=stem,
    )
    show = sys.stderr.isatty() if show_progress is None else show_progress
    try:
        result = run_export(
            request,
            facade_from_context(),
            progress=lambda **bar: tqdm(disable=not show, file=sys.stderr, **bar),
        )
    except ExportFailed as exc:
        raise click.ClickException(str(exc)) from None
    _log_export(request, result)
    click.echo(
        f"{questionnaire_id}: {result.cases} cases, {result.variables} variables "
        f"-> {out} ({len(result.files) + 1} files, checksums in {result.manifest})"
    )
    for line in [left_out_sentence(result.left_out), *result.notes]:
        if line:
            click.echo(line)


def _log_export(request: Any, result: Any) -> None:
    """The export's entry in the staff audit log: who wrote which data where (no answers)."""
    from instrument.commands.audit import cli_actor
    from instrument.store import open_store

    detail = {
        "cases": result.cases,
        "variables": result.variables,
        "files": len(result.files),
        "formats": ",".join(request.formats) if request.formats else "default",
        "include_partial": request.include_partial,
        "include_test": request.include_test,
        "since": request.since.isoformat() if request.since else None,
        "out": str(request.out.resolve()),
    }
    with open_store(request.database) as store:
        store.log_staff_action(
            cli_actor(),
            "export",
            subject=f"questionnaire:{request.questionnaire_id}",
            detail=detail,
        )
