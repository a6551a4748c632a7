"""``instrument db``: create, migrate and inspect the store's schema.

Every store command migrates on first use anyway; these verbs exist so that
an operator can migrate explicitly (before starting web workers, after an
upgrade) and check where a database stands.
"""

from __future__ import annotations

import click

_DATABASE_HELP = (
    "Database URL (sqlite:///file.db or postgresql://user@host/db). "
    "Default: $INSTRUMENT_DATABASE_URL, else ./instrument.db."
)


@click.group("db")
def db() -> None:
    """Create, migrate and inspect the database schema."""


@db.command("upgrade")
@click.option("--database", "database", metavar="URL", default=None, help=_DATABASE_HELP)
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def upgrade(database: str | None, revision: str) -> None:
    """Create the schema or migrate it to the newest revision."""
    from instrument.store import migrate
    from instrument.store.engine import create_store_engine, resolve_url

    url = resolve_url(database)
    engine = create_store_engine(url)
    try:
        before = migrate.current_revision(engine)
        migrate.upgrade(engine, revision)
        after = migrate.current_revision(engine)
    finally:
        engine.dispose()
    where = url.render_as_string(hide_password=True)
    if before == after:
        click.echo(f"{where}: already at {after}")
    else:
        click.echo(f"{where}: upgraded {before or 'empty database'} -> {after}")


@db.command("current")
@click.option("--database", "database", metavar="URL", default=None, help=_DATABASE_HELP)
def current(database: str | None) -> None:
    """Print the schema revision of the database ("none" for an empty one)."""
    from instrument.store import migrate
    from instrument.store.engine import create_store_engine, resolve_url

    engine = create_store_engine(resolve_url(database))
    try:
        revision = migrate.current_revision(engine)
    finally:
        engine.dispose()
    if revision is None:
        click.echo("none (empty database: run `instrument db upgrade`)")
    elif revision == migrate.head_revision():
        click.echo(f"{revision} (head)")
    else:
        click.echo(
            f"{revision} (behind head {migrate.head_revision()}: run `instrument db upgrade`)"
        )
