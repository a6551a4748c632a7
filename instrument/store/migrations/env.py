"""Alembic environment for the instrument store.

Normally :func:`instrument.store.migrate.upgrade` passes an open connection
(already inside a locked transaction) through ``config.attributes``; then the
migrations run on it and commit with it. Given only ``sqlalchemy.url``, this
makes its own engine with the store's connection settings.
"""

from __future__ import annotations

from alembic import context

from instrument.store.engine import create_store_engine, resolve_url
from instrument.store.schema import metadata

config = context.config


def _run_on(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    url = resolve_url(config.get_main_option("sqlalchemy.url"))
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    engine = create_store_engine(resolve_url(config.get_main_option("sqlalchemy.url")))
    try:
        with engine.begin() as own_connection:
            _run_on(own_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
