"""``instrument staff``: the research team's accounts (interviewers and supervisors among them).

The command only parses options and prints; the store checks everything
(roles, a username taken, an unknown time zone) and keeps passwords only as
salted scrypt hashes. A password is asked for at the terminal (twice, not
echoed) or read from ``$INSTRUMENT_STAFF_PASSWORD``, so it need not appear in
the shell's history.
"""

from __future__ import annotations

import click

from instrument.store.schema import STAFF_ROLES  # the command is imported only when run

_DATABASE_HELP = (
    "Database URL (sqlite:///file.db or postgresql://user@host/db). "
    "Default: $INSTRUMENT_DATABASE_URL, else ./instrument.db."
)
_ZONE_HELP = (
    "The IANA time zone the interviewer console shows this person times in, such as "
    "Europe/Berlin (default: each study's own zone)."
)
DEFAULT_ZONE_WORD = "default"
"""What ``set-zone`` takes for "no zone of their own: the study's"."""


@click.group("staff")
def staff() -> None:
    """Add staff accounts and set an interviewer's time zone."""


def _zone_text(zone: str | None) -> str:
    return zone if zone else "the study's default zone"


@staff.command("add")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(STAFF_ROLES),
    default="researcher",
    show_default=True,
    help="What the account may do.",
)
@click.option("--time-zone", "time_zone", metavar="ZONE", default=None, help=_ZONE_HELP)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="INSTRUMENT_STAFF_PASSWORD",
    help="The account's password (asked for when not given; $INSTRUMENT_STAFF_PASSWORD).",
)
@click.option("--database", metavar="URL", default=None, help=_DATABASE_HELP)
def add(
    username: str, role: str, time_zone: str | None, password: str, database: str | None
) -> None:
    """Add the staff account USERNAME."""
    from instrument.store import open_store
    from instrument.store.staff import known_time_zone

    if time_zone is not None:
        try:  # before the account exists: a typo must not leave it half made
            time_zone = known_time_zone(time_zone.strip())
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'--time-zone'") from None
    with open_store(database) as store:
        try:
            store.create_staff_user(username, password, role=role)
            if time_zone is not None:
                store.set_staff_time_zone(username, time_zone)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"Added {role} {username}; times in {_zone_text(time_zone)}.")


@staff.command("set-zone")
@click.argument("username")
@click.argument("zone", metavar="ZONE")
@click.option("--database", metavar="URL", default=None, help=_DATABASE_HELP)
def set_zone(username: str, zone: str, database: str | None) -> None:
    """Show USERNAME times in ZONE (an IANA name such as Europe/Berlin; 'default': the study's)."""
    from instrument.store import open_store

    chosen = None if zone.strip().lower() == DEFAULT_ZONE_WORD else zone.strip()
    with open_store(database) as store:
        try:
            user = store.set_staff_time_zone(username, chosen)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'ZONE'") from None
        except LookupError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"{user.username} now sees times in {_zone_text(user.time_zone)}.")


@staff.command("show")
@click.argument("username")
@click.option("--database", metavar="URL", default=None, help=_DATABASE_HELP)
def show(username: str, database: str | None) -> None:
    """Print USERNAME's role, time zone and whether the account is enabled."""
    from instrument.store import open_store

    with open_store(database) as store:
        user = store.get_staff_user(username)
    if user is None:
        raise click.ClickException(f"no staff user {username!r}")
    state = "disabled" if user.disabled else "enabled"
    click.echo(f"{user.username}: {user.role}, {state}, times in {_zone_text(user.time_zone)}")
