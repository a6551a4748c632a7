"""``instrument calls place``: automated (IVR) calls to a questionnaire's due cases, from the shell.

The phone plugin adds the command through the ``register_commands`` hook (it
needs twilio, which the host does not). The command parses options, reads
Twilio's settings from the environment and prints; choosing the cases and
coding them is the call queue's (:mod:`instrument.callqueue.automated`),
placing them :mod:`instrument_phone.ivr.outbound`'s. Each call's outcome is
coded later, when Twilio posts its final status to the ``ivr`` webhooks of a
running ``instrument serve``.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import click

__all__ = ["calls"]

_DATABASE_HELP = (
    "Database URL (sqlite:///file.db or postgresql://user@host/db). "
    "Default: $INSTRUMENT_DATABASE_URL, else ./instrument.db."
)
_SHOWN = 50
"""Cases listed by name in the report of those not called; the rest are counted."""


@click.group("calls")
def calls() -> None:
    """Automated (IVR) telephone calls placed through Twilio."""


@calls.command("place")
@click.option(
    "--questionnaire",
    "questionnaire",
    required=True,
    metavar="FILE|ID",
    help="The questionnaire file (its fieldwork file beside it gives the calling rules and the "
    "voicemail policy), or the id of a questionnaire the database holds.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1, max=10_000),
    default=20,
    show_default=True,
    help="Place at most this many calls.",
)
@click.option("--database", metavar="URL", default=None, help=_DATABASE_HELP)
def place(questionnaire: str, limit: int, database: str | None) -> None:
    """Place automated calls to the questionnaire's cases that are due now.

    Due: inside calling hours in the respondent's time, past the retry delay
    of its last outcome, under the attempt limits, held by no interviewer,
    with a number that works and is not on the do-not-call list. Needs
    INSTRUMENT_TWILIO_ACCOUNT_SID, INSTRUMENT_TWILIO_AUTH_TOKEN,
    INSTRUMENT_TWILIO_CALLER_ID and INSTRUMENT_PUBLIC_URL (where Twilio
    reaches the ivr webhooks of `instrument serve`).
    """
    settings = _twilio_settings()
    from instrument.callqueue import CallQueue
    from instrument.callqueue.automated import AutomatedCalls
    from instrument.interviews import InterviewService
    from instrument.store import open_store
    from instrument_phone.ivr import outbound
    from instrument_phone.telephony.dialer import make_client

    store = open_store(database)
    try:
        surveys, fieldwork = _study(store, questionnaire)
        (survey,) = surveys.values()
        if "ivr" not in survey.questionnaire.modes:
            raise click.ClickException(
                f"{survey.id} is not fielded by automated call: add ivr to meta.modes"
            )
        queue = CallQueue(store, InterviewService(store, surveys), lambda _id: fieldwork)
        client = make_client(settings, outbound.HTTP_CLIENT)
        report = outbound.place_due_calls(
            AutomatedCalls(queue),
            client,
            settings,
            survey.id,
            limit=limit,
            clock=lambda: dt.datetime.now(dt.UTC),
        )
    finally:
        store.close()
    _print(report, limit)


def _twilio_settings() -> Any:
    """Twilio's settings from the environment; a one-line error naming what is missing or wrong."""
    from instrument_phone.ivr.outbound import twilio_from_env
    from instrument_phone.telephony.config import TelephonyConfigError

    try:
        return twilio_from_env(os.environ)
    except TelephonyConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _study(store: Any, questionnaire: str) -> tuple[Any, Any]:
    """The questionnaire served from its file or the store, and its fieldwork settings."""
    from instrument.diagnostics import QuestionnaireError
    from instrument.fieldwork.settings import FieldworkSettings, settings_for
    from instrument.interviews import Surveys
    from instrument.loader import LoadOptions
    from instrument.questionnaires import facade_from_context, require

    facade = facade_from_context()
    options = LoadOptions.of(facade)
    if Path(questionnaire).is_file():
        try:
            surveys = Surveys.serve(store, [require(questionnaire, facade)], options=options)
        except QuestionnaireError as exc:
            raise click.ClickException(f"the questionnaire has errors:\n{exc}") from None
        source: str | None = questionnaire
    else:
        try:
            surveys = Surveys.stored(store, questionnaire, options=options)
        except LookupError as exc:
            raise click.ClickException(str(exc.args[0])) from None
        (survey,) = surveys.values()
        source = survey.questionnaire.source_path or None
    fieldwork = FieldworkSettings()
    if source is not None:
        fieldwork, diagnostics = settings_for(source)
        if diagnostics.has_errors():
            errors = "\n".join(str(d) for d in diagnostics.errors)
            raise click.ClickException(f"the fieldwork settings have errors:\n{errors}")
    return surveys, fieldwork


def _print(report: Any, limit: int) -> None:
    placed = report.placed
    click.echo(f"placed {len(placed)} automated call(s) to cases of {report.questionnaire_id}")
    for call in placed:
        click.echo(
            f"  case {call.case_id}: number {call.number_rank}, attempt {call.attempt_id} "
            f"(its {_ordinal(call.attempts)}), call {call.call_id}, Twilio {call.sid}"
        )
    if report.skipped:
        click.echo(f"taken but not called: {len(report.skipped)}")
        for skipped in report.skipped:
            click.echo(f"  case {skipped.case_id}: {skipped.reason} (coded {skipped.outcome})")
    if report.stopped_by_limit:
        click.echo(f"stopped at the limit of {limit}; cases may still be due")
    waiting = report.waiting
    if waiting:
        click.echo(f"not called now: {len(waiting)}")
        for case in waiting[:_SHOWN]:
            click.echo(f"  case {case.case_id}: {case.reason}")
        if len(waiting) > _SHOWN:
            click.echo(f"  ... and {len(waiting) - _SHOWN} more")


def _ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return f"{n}th attempt"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') } attempt"
