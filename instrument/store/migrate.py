"""Running the Alembic migrations from code: no alembic.ini on disk.

The migration scripts ship inside the package (``instrument/store/migrations``),
so an installed survey-instrument can create and upgrade its own database.
:func:`upgrade` runs in one transaction that first takes a lock (an advisory
lock on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so several web workers
starting at once against an empty database migrate it once, not in a race.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from instrument.store.engine import WRITE_OPTION

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "head_revision", "upgrade"]

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"

# An arbitrary constant that names "instrument schema migration" among advisory locks.
_PG_MIGRATION_LOCK: Final = 0x5E1F_0001


def alembic_config(connection: sa.Connection | None = None, url: str | None = None) -> Config:
    """An Alembic Config built in code, pointing at the packaged migrations.

    With ``connection`` the migrations run on it (inside its transaction);
    with ``url`` env.py makes its own engine (used by Alembic's own CLI-style
    commands such as ``revision --autogenerate`` during development).
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the packaged migrations know."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations packaged"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, target: str = "head") -> None:
    """Migrate the database to ``target`` under a lock, in one transaction."""
    with engine.connect() as connection:
        connection.execution_options(**{WRITE_OPTION: True})
        with connection.begin():
            if engine.dialect.name == "postgresql":
                connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
                )
            command.upgrade(alembic_config(connection=connection), target)
