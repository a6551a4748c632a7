"""``instrument panel``: a panel's members, their contact details (encrypted) and consents.

The command parses options, joins the pure panel rules (:mod:`instrument.panel`:
the members file, the keys) to the store (:mod:`instrument.store.panel_members`)
and prints. Contact details are decrypted only for ``show --contacts``, and
that view is written to the staff audit log (as are imports and key
rotations; docs/audit.md). See docs/panel.md.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import TYPE_CHECKING

import click

from instrument.commands.audit import cli_actor
from instrument.commands.export import _DATABASE_HELP
from instrument.panel.members_csv import CONSENT_COLUMNS, CONSENT_MODES

if TYPE_CHECKING:
    from instrument.panel.crypto import ContactSealer
    from instrument.store import Store


def _sealer(store: Store, now: dt.datetime) -> ContactSealer:
    """The keys from the environment, proved against the database; a clear error otherwise."""
    from instrument.panel.crypto import (
        LOOKUP_SECRET,
        PanelKeyError,
        PanelKeys,
        new_lookup_secret,
        open_sealer,
    )

    try:
        keys = PanelKeys.from_environment()
        secret = store.panel_secret(LOOKUP_SECRET, create=lambda: new_lookup_secret(keys), now=now)
        return open_sealer(keys, secret)
    except PanelKeyError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("panel")
def panel() -> None:
    """A panel's members: import them, show one, record a consent, manage the keys."""


@panel.command("new-key")
def new_key() -> None:
    """Print a new random panel key (put it first in INSTRUMENT_PANEL_KEYS or the key file)."""
    from instrument.panel.crypto import new_key as make_key

    click.echo(make_key())


@panel.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--panel", "panel_name", required=True, metavar="NAME", help="The panel's name.")
@click.option("--database", metavar="URL", default=None, help=_DATABASE_HELP)
@click.option(
    "--region",
    default="GB",
    show_default=True,
    metavar="CC",
    help="Country (ISO code) of phone numbers written without their country code.",
)
def import_members(path: Path, panel_name: str, database: str | None, region: str) -> None:
    """Add or update the members in the CSV file PATH (an external_id column; see docs/panel.md).

    Every row is checked first; a file with any problem stores nothing. A
    member already in the panel (the same external_id) is updated, and what
    changed is written to their history.
    """
    import phonenumbers

    from instrument.interviews.phone_sample import parse_number
    from instrument.panel.members import seal_row
    from instrument.panel.members_csv import MembersFileError, read_members_file
    from instrument.store import MemberImportRefused, open_store

    region = region.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise click.BadParameter(f"unknown country code {region!r}", param_hint="--region")
    now = dt.datetime.now(dt.UTC)
    try:
        rows = read_members_file(
            path, parse_phone=functools.partial(parse_number, region=region), now=now
        )
    except MembersFileError as exc:
        raise click.ClickException(
            f"{len(exc.problems)} problem(s); nothing was stored:\n" + "\n".join(exc.problems)
        ) from None
    actor = cli_actor()
    with open_store(database) as store:
        sealer = _sealer(store, now)
        sealed = [seal_row(row, sealer, recorded_by=actor) for row in rows]
        try:
            report = store.import_members(panel_name, sealed, now=now, actor=actor)
        except MemberImportRefused as exc:
            lines = {row.external_id: row.line for row in rows}
            problems = [f"{path}:{lines[external_id]}: {external_id} {what}"
                        for external_id, what in exc.problems]  # fmt: skip
            raise click.ClickException(
                f"{len(problems)} problem(s); nothing was stored:\n" + "\n".join(problems)
            ) from None
    click.echo(
        f"panel {panel_name}: {report.added} added, {report.updated} updated, "
        f"{report.unchanged} unchanged"
    )


@panel.command("show")
@click.argument("external_id")
@click.option("--panel", "panel_name", required=True, metavar="NAME", help="The panel's name.")
@click.option("--database", metavar="URL", default=None, help=_DATABASE_HELP)
@click.option(
    "--contacts",
    is_flag=True,
    help="Also decrypt and print the contact details (the view is recorded in the audit log).",
)
def show(external_id: str, panel_name: str, database: str | None, contacts: bool) -> None:
    """Show a member: pseudonym, status, profile, consents, history; contact details on request."""
    from instrument.store import open_store

    with open_store(database) as store:
        member = store.get_member(panel_name, external_id=external_id)
        if member is None:
            raise click.ClickException(f"panel {panel_name!r} has no member {external_id!r}")
        now = dt.datetime.now(dt.UTC)
        sealer = _sealer(store, now) if contacts else None  # the keys proved before anything shows
        click.echo(f"member {member.external_id} of panel {panel_name}")
        click.echo(f"  pseudonym: {member.pseudonym}")
        click.echo(f"  status: {member.status}")
        click.echo(f"  language: {member.language or '-'}")
        click.echo(f"  preferred mode: {member.preferred_mode or '-'}")
        click.echo("  profile:")
        for name, value in sorted(member.profile.items()):
            click.echo(f"    {name}: {'-' if value is None else value}")
        if sealer is None:
            stored = store.member_contacts(member.id)
        else:  # read with its entry in the staff audit log
            stored = store.view_member_contacts(member.id, actor=cli_actor(), now=now)
        if sealer is not None:
            from instrument.panel.crypto import PanelKeyError

            try:
                shown = [(c, sealer.open(c.ciphertext)) for c in stored]
            except PanelKeyError as exc:
                raise click.ClickException(str(exc)) from None
            click.echo("  contact details:")
            for contact, value in shown:
                marks = "".join(
                    f" [{what} {at:%Y-%m-%d}]"
                    for what, at in (
                        ("bounced", contact.bounced_at),
                        ("opted out", contact.opted_out_at),
                    )
                    if at is not None
                )
                text = value.replace("\n", ", ")
                click.echo(f"    {contact.kind} {contact.rank}: {text}{marks}")
        else:
            kinds = sorted({c.kind for c in stored})
            click.echo(
                f"  contact details: {len(stored)} stored ({', '.join(kinds) or 'none'}); "
                "--contacts shows them"
            )
        click.echo("  consents:")
        for consent in store.consents_of(member.id):
            wave = f" (wave {consent.wave})" if consent.wave else ""
            click.echo(
                f"    {consent.at:%Y-%m-%d %H:%M} {consent.scope}{wave}: "
                f"{'given' if consent.given else 'refused'}, sheet {consent.sheet_version}, "
                f"{consent.mode}, recorded by {consent.recorded_by}"
            )
        click.echo("  history:")
        for entry in store.member_history(member.id):
            choice = (entry.after or {}).get("choice") if entry.action == "withdrawal" else None
            what = f"{entry.action} ({choice})" if choice else entry.action
            click.echo(f"    {entry.at:%Y-%m-%d %H:%M} {what} by {entry.actor}")


@panel.command("consent")
@click.argument("external_id")
@click.option("--panel", "panel_name", required=True, metavar="NAME", help="The panel's name.")
@click.option(
    "--what",
    "scope",
    required=True,
    type=click.Choice(["membership", "wave", *CONSENT_COLUMNS.values()]),
    help="What the consent is to.",
)
@click.option("--given/--refused", required=True, help="Whether consent was given.")
@click.option("--sheet", required=True, help="The version of the information sheet.")
@click.option(
    "--mode",
    required=True,
    type=click.Choice(CONSENT_MODES),
    help="How it was given.",
)
@click.option("--wave", default=None, help="The wave (with --what wave).")
@click.option(
    "--at",
    "at_text",
    default=None,
    metavar="TIME",
    help="When (ISO 8601 with an offset, e.g. 2026-12-01T10:00+00:00); default: now.",
)
@click.option("--database", metavar="URL", default=None, help=_DATABASE_HELP)
def consent(
    external_id: str,
    panel_name: str,
    scope: str,
    given: bool,
    sheet: str,
    mode: str,
    wave: str | None,
    at_text: str | None,
    database: str | None,
) -> None:
    """Record a member's consent (or refusal); the newest record of a kind is the one that holds."""
    from instrument.panel.members import Consent
    from instrument.store import open_store

    if (scope == "wave") != (wave is not None):
        raise click.UsageError("--wave goes with --what wave, and --what wave needs --wave")
    now = dt.datetime.now(dt.UTC)
    at = now
    if at_text is not None:
        try:
            at = dt.datetime.fromisoformat(at_text)
        except ValueError:
            raise click.BadParameter(
                f"{at_text!r} is not an ISO 8601 time", param_hint="--at"
            ) from None
        if at.tzinfo is None:
            raise click.BadParameter("give the time's UTC offset (Z or +01:00)", param_hint="--at")
    with open_store(database) as store:
        member = store.get_member(panel_name, external_id=external_id)
        if member is None:
            raise click.ClickException(f"panel {panel_name!r} has no member {external_id!r}")
        record = store.record_consent(
            member.id,
            Consent(
                scope=scope,
                given=given,
                sheet_version=sheet,
                at=at,
                mode=mode,
                recorded_by=cli_actor(),
                wave=wave,
            ),
        )
    click.echo(
        f"member {external_id}: {record.scope} {'given' if record.given else 'refused'} "
        f"(sheet {record.sheet_version}, {record.mode}) recorded"
    )


@panel.command("status")
@click.option("--panel", "panel_name", required=True, metavar="NAME", help="The panel's name.")
@click.option("--database", metavar="URL", default=None, help=_DATABASE_HELP)
def status(panel_name: str, database: str | None) -> None:
    """How many members the panel has, by status."""
    from instrument.panel.members_csv import MEMBER_STATUSES
    from instrument.store import open_store

    with open_store(database) as store:
        if store.get_panel(panel_name) is None:
            raise click.ClickException(f"there is no panel {panel_name!r}")
        counts = store.count_members(panel_name)
    click.echo(f"panel {panel_name}: {sum(counts.values())} member(s)")
    for name in MEMBER_STATUSES:
        click.echo(f"  {name}: {counts.get(name, 0)}")


@panel.command("rotate-key")
@click.option("--database", metavar="URL", default=None, help=_DATABASE_HELP)
def rotate_key(database: str | None) -> None:
    """Encrypt every stored contact detail again with the newest panel key.

    Put the new key first in INSTRUMENT_PANEL_KEYS (or the key file), keep the
    old ones after it, run this, then drop the old keys. All or nothing: a
    value no key opens stops it and changes nothing.
    """
    from instrument.panel.crypto import PanelKeyError
    from instrument.store import open_store

    now = dt.datetime.now(dt.UTC)
    with open_store(database) as store:
        sealer = _sealer(store, now)
        try:
            count = store.reseal_panel_data(sealer.reseal, now=now, actor=cli_actor())
        except PanelKeyError as exc:
            raise click.ClickException(f"{exc}; nothing was changed") from None
    click.echo(
        f"{count} value(s) encrypted again with the newest key of {sealer.keys.source}; "
        "older keys can now be dropped"
    )


# A member's withdrawal and the retention purge live in their own module (docs/withdrawal.md).
from instrument.commands.panel_withdraw import purge, withdraw  # noqa: E402

panel.add_command(withdraw)
panel.add_command(purge)

# Reading the bounce mailbox, too (docs/bounces.md).
from instrument.commands.panel_bounces import bounces  # noqa: E402

panel.add_command(bounces)
