"""``instrument cases``: the sample of cases a questionnaire is fielded to, with their preload values.

The command only parses options and prints; reading and checking the file is
:mod:`instrument.interviews.case_file`, storing goes through the interview service.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from pathlib import Path

import click

_DATABASE_HELP = (
    "Database URL (sqlite:///file.db or postgresql://user@host/db). "
    "Default: $INSTRUMENT_DATABASE_URL, else ./instrument.db."
)


@click.group("cases")
def cases() -> None:
    """Load the cases (sample units) of a questionnaire and issue their personal links."""


@cases.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--questionnaire",
    "questionnaire",
    required=True,
    metavar="FILE|ID",
    help="The questionnaire file, or the id of a questionnaire the database holds.",
)
@click.option("--database", metavar="URL", default=None, help=_DATABASE_HELP)
@click.option(
    "--links",
    "links_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Issue a personal link per case and write case_id,link to this CSV file.",
)
@click.option(
    "--base-url",
    default="http://localhost:5000",
    show_default=True,
    help="Where the web questionnaire is served (the links start with it).",
)
@click.option(
    "--expires-days",
    type=click.IntRange(min=1),
    default=None,
    help="Links expire after this many days.",
)
@click.option(
    "--region",
    default="GB",
    show_default=True,
    metavar="CC",
    help="Country (ISO code) of phone numbers written without their country code.",
)
@click.option(
    "--automated",
    is_flag=True,
    help="Queue the cases with a number for automated (IVR) calls, placed by `instrument calls "
    "place`, instead of for interviewers: an interviewer's next case never takes them.",
)
def import_cases(
    path: Path,
    questionnaire: str,
    database: str | None,
    links_path: Path | None,
    base_url: str,
    expires_days: int | None,
    region: str,
    automated: bool,
) -> None:
    """Store the cases in the CSV file PATH: a case_id column and one column per preload variable.

    For telephone fieldwork also phone, phone_2, ... (in the order to try them),
    name, time_zone or postcode or region, language and priority; a case with a
    number goes into the call queue, for interviewers or, with --automated, for
    automated calls. Every row is checked first; a file with any problem stores
    nothing.
    """
    import phonenumbers

    region = region.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise click.BadParameter(f"unknown country code {region!r}", param_hint="--region")
    from instrument.diagnostics import QuestionnaireError
    from instrument.fieldwork.settings import FieldworkSettings, settings_for
    from instrument.interviews import InterviewService, Surveys
    from instrument.interviews.case_file import CaseFileError, read_case_file, store_cases
    from instrument.loader import LoadOptions
    from instrument.questionnaires import facade_from_context, require
    from instrument.store import StoreError, open_store

    facade = facade_from_context()
    options = LoadOptions.of(facade)
    store = open_store(database)
    try:
        if Path(questionnaire).is_file():
            try:
                surveys = Surveys.serve(store, [require(questionnaire, facade)], options=options)
            except QuestionnaireError as exc:
                raise click.ClickException(f"the questionnaire has errors:\n{exc}") from None
        else:
            try:
                surveys = Surveys.stored(store, questionnaire, options=options)
            except LookupError as exc:
                raise click.ClickException(str(exc.args[0])) from None
        (survey,) = surveys.values()
        if automated and not _has_automated_mode(survey.questionnaire):
            raise click.ClickException(
                f"{survey.id} is not fielded by automated call (--automated): add ivr to meta.modes"
            )
        fieldwork = FieldworkSettings()
        if Path(questionnaire).is_file():
            fieldwork, diagnostics = settings_for(questionnaire)
            if diagnostics.has_errors():
                errors = "\n".join(str(d) for d in diagnostics.errors)
                raise click.ClickException(f"the fieldwork settings have errors:\n{errors}")
        try:
            rows = read_case_file(
                path, survey.engine, region=region, default_zone=fieldwork.calling.default_zone
            )
        except CaseFileError as exc:
            raise click.ClickException(
                f"{len(exc.problems)} problem(s); nothing was stored:\n" + "\n".join(exc.problems)
            ) from None
        now = dt.datetime.now(dt.UTC)
        expires = now + dt.timedelta(days=expires_days) if expires_days else None
        try:
            stored = store_cases(
                InterviewService(store, surveys),
                survey.id,
                rows,
                now=now,
                source=str(path),
                links=links_path is not None,
                expires_at=expires,
                fieldwork=fieldwork,
                taken_by="automated" if automated else "interviewer",
            )
        except CaseFileError as exc:
            raise click.ClickException(
                f"{len(exc.problems)} problem(s); nothing was stored:\n" + "\n".join(exc.problems)
            ) from None
        except StoreError as exc:  # withdrawn by someone else while this file was stored
            raise click.ClickException(f"{exc}; nothing was stored") from None
    finally:
        store.close()
    queued = sum(1 for row in rows if row.phone is not None and row.phone.numbers)
    click.echo(
        f"stored {len(stored)} case(s) of {survey.id}"
        + (f"; {queued} with a phone number put in the call queue" if queued else "")
        + (" for automated calls" if queued and automated else "")
    )
    if automated and not queued:
        click.echo("no case has a phone number: none was queued for automated calls")
    if links_path is not None:
        base = base_url.rstrip("/")
        # Readable by its owner only: each link opens one person's interview.
        descriptor = os.open(links_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.chmod(links_path, 0o600)  # an existing file keeps its mode otherwise
        with open(descriptor, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["case_id", "link"])
            for case in stored:
                writer.writerow([case.case_id, f"{base}/web/t/{case.token}"])
        click.echo(
            f"personal links written to {links_path}; keep the file safe: each link opens "
            "one person's interview"
        )


def _has_automated_mode(questionnaire: object) -> bool:
    """Whether one of the questionnaire's modes is asked by a machine (as ivr is)."""
    policies = questionnaire.mode_policies  # type: ignore[attr-defined]
    modes = questionnaire.modes  # type: ignore[attr-defined]
    return any(policies[mode].administered_by == "machine" for mode in modes)
