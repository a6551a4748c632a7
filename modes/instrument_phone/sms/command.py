"""``instrument sms start``: text the first question to a questionnaire's due cases."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import click

_DATABASE_HELP = (
    "Database URL (sqlite:///file.db or postgresql://user@host/db). "
    "Default: $INSTRUMENT_DATABASE_URL, else ./instrument.db."
)


@click.group("sms")
def sms() -> None:
    """Interviews by text message (the sms mode)."""


@sms.command("start")
@click.option("--questionnaire", "questionnaire", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The questionnaire file (it must list sms in its modes).")  # fmt: skip
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Text at most N cases.")
@click.option("--database", metavar="URL", default=None, help=_DATABASE_HELP)
def start(questionnaire: Path, limit: int | None, database: str | None) -> None:
    """Text the first question to each due case (a working number, not stopped, not finished).

    Only inside the study's calling hours in each respondent's time zone (the
    fieldwork file beside the questionnaire, else the defaults): a case due
    outside them is left for a later run and counted. Needs the server's secret
    (INSTRUMENT_SECRET_KEY), so that replies find their conversation, and the SMS
    channel's settings (INSTRUMENT_TWILIO_*, INSTRUMENT_SMS_FROM: the study
    number the webhook answers on).
    """
    from instrument.fieldwork.settings import settings_for
    from instrument.interviews import InterviewService, Surveys
    from instrument.plugins import PluginFacade, get_plugin_manager
    from instrument.questionnaires import require
    from instrument.store import open_store
    from instrument_phone.sms.conversations import number_key
    from instrument_phone.sms.starting import start_conversations

    secret = os.environ.get("INSTRUMENT_SECRET_KEY", "")
    if not secret:
        raise click.ClickException(
            "set INSTRUMENT_SECRET_KEY to the server's secret: replies are matched to their "
            "conversation by a hash of the number under it"
        )
    facade = PluginFacade(get_plugin_manager())
    channels = facade.contact_channels()
    if "sms" not in channels:
        raise click.ClickException("no SMS contact channel is installed")
    problem = channels["sms"].check()
    if problem:
        raise click.ClickException(problem)
    parsed = require(questionnaire, facade)
    fieldwork, diagnostics = settings_for(questionnaire)
    if diagnostics.errors:
        raise click.ClickException(
            "the fieldwork file has errors:\n" + "\n".join(str(d) for d in diagnostics.errors)
        )
    store = open_store(database)
    try:
        service = InterviewService(store, Surveys.serve(store, [parsed]))
        done = start_conversations(
            service,
            parsed.id,
            send=channels["sms"].send,
            keys=[number_key(secret)],
            now=lambda: dt.datetime.now(dt.UTC),
            limit=limit,
            rules=fieldwork.calling,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    click.echo(f"texted: {done.sent}  failed: {done.failed}  passed over: {done.skipped}")
    if done.later:
        when = (
            f"the first may be texted from {done.opens:%Y-%m-%d %H:%M} UTC: run again then"
            if done.opens
            else "the calling hours are open on no day, so no text is started"
        )
        click.echo(
            f"outside texting hours: {done.later} (the calling hours in each respondent's time "
            f"zone); {when}"
        )
