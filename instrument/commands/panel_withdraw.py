"""``instrument panel withdraw`` and ``instrument panel purge``: a member's withdrawal done by staff,
and the retention rule that deletes withdrawn members' contact details.

Both are added to the ``panel`` group (:mod:`instrument.commands.panel`). Each
writes its staff audit entry in the transaction of the change (see
:mod:`instrument.store.panel_withdrawal`); neither needs the panel keys, since
nothing is decrypted. See docs/withdrawal.md.
"""

from __future__ import annotations

import datetime as dt

import click

from instrument.commands.audit import cli_actor
from instrument.commands.export import _DATABASE_HELP

__all__ = ["purge", "withdraw"]

_DONE = {
    "stop_contact": "contact stopped",
    "delete_contacts": "contact stopped and contact details deleted",
    "delete_all": "contact stopped, contact details and answers deleted",
}


@click.command("withdraw")
@click.argument("external_id")
@click.option("--panel", "panel_name", required=True, metavar="NAME", help="The panel's name.")
@click.option(
    "--stop-contact",
    "choice",
    flag_value="stop_contact",
    help="Contact them no more (answers kept).",
)
@click.option(
    "--delete-contacts",
    "choice",
    flag_value="delete_contacts",
    help="Also delete their contact details (answers kept).",
)
@click.option(
    "--delete-all",
    "choice",
    flag_value="delete_all",
    help="Also delete their answers (every wave's case withdrawn; exports leave them out).",
)
@click.option(
    "--reason",
    default=None,
    metavar="TEXT",
    help="Why, for the history and the audit log (never a name, address or number).",
)
@click.option("--database", metavar="URL", default=None, help=_DATABASE_HELP)
def withdraw(
    external_id: str,
    panel_name: str,
    choice: str | None,
    reason: str | None,
    database: str | None,
) -> None:
    """Withdraw a member at once, as they asked (by phone, by letter): one of the three choices.

    Each choice includes the ones before it. Asking again for what is already
    done (or for less) changes nothing and says when it was done.
    """
    from instrument.store import open_store

    if choice is None:
        raise click.UsageError(
            "say what the member asked for: --stop-contact, --delete-contacts or --delete-all"
        )
    now = dt.datetime.now(dt.UTC)
    with open_store(database) as store:
        member = store.get_member(panel_name, external_id=external_id)
        if member is None:
            raise click.ClickException(f"panel {panel_name!r} has no member {external_id!r}")
        result = store.withdraw_member(
            member.id, choice, actor=cli_actor(), by_staff=True, via="cli", now=now, reason=reason
        )
    name = f"member {external_id} ({result.pseudonym})"
    if not result.done:
        click.echo(
            f"{name}: already done on {result.at:%Y-%m-%d %H:%M} UTC ({_DONE[result.choice]}); nothing changed"
        )
        return
    click.echo(f"{name}: {_DONE[result.choice]}")
    click.echo(
        f"  {len(result.cases_stopped)} wave case(s) stopped, {result.queue_rows_removed} taken out of "
        f"the phone queue, {result.contacts_deleted} contact detail(s) deleted, "
        f"{len(result.cases_withdrawn)} case(s) withdrawn with their answers"
    )
    if result.recordings_listed:
        click.echo(
            f"  {result.recordings_listed} recording(s) to delete at the telephony provider: the "
            "fieldwork worker deletes them (or `instrument calls forget-recordings`)"
        )


@click.command("purge")
@click.option("--panel", "panel_name", required=True, metavar="NAME", help="The panel's name.")
@click.option(
    "--older-than",
    "days",
    required=True,
    type=click.IntRange(min=0),
    metavar="DAYS",
    help="Members who withdrew more than DAYS days ago.",
)
@click.option("--database", metavar="URL", default=None, help=_DATABASE_HELP)
def purge(panel_name: str, days: int, database: str | None) -> None:
    """Delete the contact details of members who withdrew more than DAYS days ago.

    The record that they withdrew (and of this purge) stays; run it from a
    daily timer to keep a retention rule.
    """
    from instrument.store import open_store

    now = dt.datetime.now(dt.UTC)
    with open_store(database) as store:
        if store.get_panel(panel_name) is None:
            raise click.ClickException(f"there is no panel {panel_name!r}")
        result = store.purge_withdrawn_contacts(
            panel_name, older_than=dt.timedelta(days=days), now=now, actor=cli_actor()
        )
    click.echo(
        f"panel {panel_name}: contact details of {result.members} member(s) withdrawn more than "
        f"{days} day(s) ago deleted ({result.contacts_deleted} detail(s))"
    )
