"""``instrument calls forget-recordings``: delete at Twilio, now, the recordings withdrawals listed.

The fieldwork worker does the same every round
(:mod:`instrument.panelwork.recording_deletions`); this command is for a
study that runs no worker (no panel: cases withdrawn one by one), for a
retention timer, and for staff who want to see it done. It works off every
deletion that is due, prints what happened and what is left, and exits 1 when
a deletion failed this time (it stays listed, tried again later).
"""

from __future__ import annotations

import datetime as dt
import os

import click

__all__ = ["forget_recordings"]

_DATABASE_HELP = (
    "Database URL (sqlite:///file.db or postgresql://user@host/db). "
    "Default: $INSTRUMENT_DATABASE_URL, else ./instrument.db."
)


@click.command("forget-recordings")
@click.option("--database", metavar="URL", default=None, help=_DATABASE_HELP)
def forget_recordings(database: str | None) -> None:
    """Delete at Twilio the recordings of withdrawn cases and interviews that are due now.

    A withdrawal that deletes answers lists the recordings of the case's calls
    and those its answers name; each is deleted at Twilio once (Twilio's 404,
    no such recording, counts as done). A failure is tried again later, after a
    minute, then longer each time. Needs INSTRUMENT_TWILIO_ACCOUNT_SID and
    INSTRUMENT_TWILIO_AUTH_TOKEN (with the other INSTRUMENT_TWILIO_* settings).
    """
    from instrument.panelwork.recording_deletions import DeletionRound, delete_listed_recordings
    from instrument.panelwork.worker import worker_name
    from instrument.store import open_store
    from instrument_phone.telephony.config import TelephonyConfigError, TwilioSettings
    from instrument_phone.telephony.recordings import PROVIDER_NAME, twilio_recordings

    try:
        settings = TwilioSettings.from_env(os.environ)
    except TelephonyConfigError as exc:
        raise click.ClickException(str(exc)) from None
    provider = twilio_recordings(settings)
    problem = provider.check() if provider.check is not None else None
    if problem is not None:
        raise click.ClickException(problem)

    def now() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    total = DeletionRound()
    with open_store(database) as store:
        while True:
            done = delete_listed_recordings(
                store, {PROVIDER_NAME: provider}, worker=worker_name(), clock=now
            )
            total.add(done)
            if not done.tried:
                break
        counts = store.recording_deletion_counts(now=now())
    click.echo(f"recordings at Twilio: {total}")
    for sid, why in total.failures:
        click.echo(f"  {sid}: {why}")
    left = f"still to delete: {counts.pending}"
    if counts.next_try_at is not None:
        left += f" (the next try at {counts.next_try_at:%Y-%m-%d %H:%M:%S} UTC)"
    click.echo(f"{left}; deleted or gone so far: {counts.done}")
    if total.failed:
        raise SystemExit(1)
