"""``instrument check``: every problem in a questionnaire, with file, line and column."""

from __future__ import annotations

import json
from pathlib import Path

import click

from instrument.fieldwork.settings import fieldwork_path_for, is_fieldwork_file, load_fieldwork
from instrument.questionnaires import facade_from_context, open_questionnaire


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json gives one object per problem, for editors and CI tools.",
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def check(paths: tuple[Path, ...], output: str, strict: bool) -> None:
    """Check questionnaire files (and the fieldwork file beside each); exit 1 if any has errors."""
    facade = facade_from_context()
    problems = []
    failed = False
    for path in paths:
        if is_fieldwork_file(path):  # a study's fieldwork file, named on its own
            found = load_fieldwork(path)[1].sorted()
        else:
            found = open_questionnaire(path, facade).diagnostics
            beside = fieldwork_path_for(path)  # the questionnaire's fieldwork file, if it has one
            if beside.is_file():
                found = [*found, *load_fieldwork(beside)[1].sorted()]
        problems.extend(found)
        if any(d.severity == "error" for d in found) or (strict and found):
            failed = True
    if output == "json":
        click.echo(
            json.dumps({"ok": not failed, "problems": [d.as_dict() for d in problems]}, indent=2)
        )
    else:
        for diagnostic in problems:
            click.echo(str(diagnostic), err=False)
        errors = sum(d.severity == "error" for d in problems)
        warnings = len(problems) - errors
        summary = f"{len(paths)} file{'s' if len(paths) != 1 else ''} checked: {errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}"
        click.echo(summary, err=True)
    raise SystemExit(1 if failed else 0)
