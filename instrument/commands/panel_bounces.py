"""``instrument panel bounces``: read the bounce mailbox and honour what it says.

Added to the ``panel`` group (:mod:`instrument.commands.panel`). The reading
is :mod:`instrument.panel.bounces` (and :mod:`instrument.panel.complaints` for
spam complaints, which feedback loops send to the same mailbox), the honouring
and the mailboxes :mod:`instrument.panelwork.bounce_intake`; this command
parses options, opens the keys (the addresses a bounce names are found by their
lookup hash) and prints counts, never an address. See docs/bounces.md.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from instrument.commands.audit import cli_actor
from instrument.commands.export import _DATABASE_HELP

__all__ = ["bounces"]


@click.command("bounces")
@click.option(
    "--maildir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="A Maildir (new, cur, tmp): messages not yet seen are read, then marked seen.",
)
@click.option(
    "--mbox",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="An mbox file: every message is read; the file is left as it is.",
)
@click.option(
    "--done",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="With --maildir: move each message read into this folder instead of marking it seen.",
)
@click.option(
    "--verbose", "-v", is_flag=True, help="A line for every message read (the member by pseudonym)."
)
@click.option("--database", metavar="URL", default=None, help=_DATABASE_HELP)
def bounces(
    maildir: Path | None, mbox: Path | None, done: Path | None, verbose: bool, database: str | None
) -> None:
    """Honour the bounces and spam complaints in a mailbox: a permanent bounce marks the message
    bounced and the address unusable for every channel; a delay records nothing; a spam
    complaint (an ARF feedback-loop report quoting our message) is kept on the message and the
    member is not emailed again. Running it again changes nothing.

    Needs the panel keys (INSTRUMENT_PANEL_KEYS or INSTRUMENT_PANEL_KEY_FILE).
    """
    from instrument.commands.panel import _sealer
    from instrument.panelwork.bounce_intake import (
        BounceHonourer,
        MailboxError,
        audit,
        take_in_maildir,
        take_in_mbox,
    )
    from instrument.store import open_store

    if (maildir is None) == (mbox is None):
        raise click.UsageError("give one mailbox: --maildir DIR or --mbox FILE")
    if done is not None and maildir is None:
        raise click.UsageError("--done goes with --maildir (an mbox file is left as it is)")
    actor = cli_actor()
    with open_store(database) as store:
        now = dt.datetime.now(dt.UTC)
        honourer = BounceHonourer(
            store, _sealer(store, now), clock=lambda: dt.datetime.now(dt.UTC), actor=actor
        )
        try:
            if maildir is not None:
                summary = take_in_maildir(honourer, maildir, done=done)
            else:
                assert mbox is not None
                summary = take_in_mbox(honourer, mbox)
        except MailboxError as exc:
            raise click.ClickException(str(exc)) from None
        audit(store, summary, actor=actor, now=dt.datetime.now(dt.UTC))
    if verbose:
        for name, outcome in summary.outcomes:
            who = f" (member {outcome.member})" if outcome.member else ""
            click.echo(f"{name}: {outcome.result}{who}: {outcome.reason}")
    click.echo(str(summary))
    for name, reason in summary.unreadable:
        click.echo(f"  unreadable: {name}: {reason}")
