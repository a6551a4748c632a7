"""``instrument serve``: run the web app on this machine with Flask's server.

For a laptop and a pilot. For fieldwork, run the same app under gunicorn
(``instrument.server.wsgi:app``, see docs/web.md).

``--demo`` (on by default, so the README's first command prints a working
sign-in) makes or renews an admin account ``demo`` with a fresh printed
password. Pointed at a database in real use, that would hand an admin login
to whoever runs the command, or reset one somebody relies on. So it does so
only in a database that is nobody's yet: a SQLite file (PostgreSQL only with
``--demo-on-postgresql``) whose only staff account, if any, is an enabled
``demo``. Anywhere else it leaves the accounts alone and says why.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from instrument.store import Store

_DATABASE_HELP = (
    "Database URL (sqlite:///file.db or postgresql://user@host/db). "
    "Default: $INSTRUMENT_DATABASE_URL, else ./instrument.db."
)
DEMO_STAFF = "demo"


@click.command("serve")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--database", metavar="URL", default=None, help=_DATABASE_HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--secret-key",
    envvar="INSTRUMENT_SECRET_KEY",
    default=None,
    help="Signs cookies (default: $INSTRUMENT_SECRET_KEY, else random per run).",
)
@click.option(
    "--demo/--no-demo",
    default=True,
    show_default=True,
    help="Print a test respondent link and a demo staff login "
    "(the login only in a SQLite database with no other staff account).",
)
@click.option(
    "--demo-on-postgresql",
    is_flag=True,
    help="Let --demo make its staff login in a PostgreSQL database too "
    "(still only if it has no staff account but 'demo').",
)
@click.option("--debug", is_flag=True, help="Flask debug mode (never on a public address).")
@click.option(
    "--fieldwork/--no-fieldwork",
    default=None,
    help="Run the fieldwork worker of panel waves in this process (default: on with the "
    "embedded SQLite database when panel keys are set, unless $INSTRUMENT_FIELDWORK_WORKER=0; "
    "with PostgreSQL, run `instrument fieldwork run` instead).",
)
def serve(
    paths: tuple[str, ...],
    database: str | None,
    host: str,
    port: int,
    secret_key: str | None,
    demo: bool,
    demo_on_postgresql: bool,
    debug: bool,
    fieldwork: bool | None,
) -> None:
    """Serve questionnaire file(s) PATH... to respondents on the web."""
    from instrument.diagnostics import QuestionnaireError
    from instrument.plugin_types import ModeSetupError
    from instrument.server.app import create_app, get_host

    try:
        app = create_app(
            {
                "QUESTIONNAIRES": list(paths),
                "DATABASE_URL": database,
                "SECRET_KEY": secret_key or secrets.token_hex(32),
            }
        )
    except QuestionnaireError as exc:
        raise click.ClickException(f"the questionnaire has errors:\n{exc}") from None
    except ModeSetupError as exc:
        raise click.ClickException(f"cannot start: {exc}") from None
    served = get_host(app)
    base = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}"
    click.echo(
        f"Serving on {base}/  (database: {served.store.engine.url.render_as_string(hide_password=True)})"
    )
    for survey in served.surveys.values():
        if "web" in app.blueprints and "web" in survey.questionnaire.modes:
            click.echo(f"  {survey.id}: open link      {base}/web/{survey.id}/")
            if demo:
                token = served.service.issue_link(
                    survey.id, case_id=None, purpose="test", now=served.now()
                )
                click.echo(
                    f"  {survey.id}: test link      {base}/web/t/{token}  (a test interview)"
                )
    if demo:
        click.echo(f"Staff area: {base}/staff/  {_demo_login(served.store, demo_on_postgresql)}")
    said, stop_worker = _start_fieldwork(served, base, fieldwork)
    click.echo(said)
    try:
        app.run(host=host, port=port, debug=debug, use_reloader=False)
    finally:
        if stop_worker is not None:
            stop_worker.set()


def _demo_login(store: Store, on_postgresql: bool) -> str:
    """Make or renew the ``demo`` admin where that is safe (module docstring); what to print."""
    refused = _why_no_demo_login(store, on_postgresql)
    if refused is not None:
        return f"(no demo login: {refused})"
    # A fresh password every time the demo is served: it is printed only here, and
    # a researcher who lost the terminal of an earlier run is not locked out.
    password = secrets.token_urlsafe(12)
    if store.get_staff_user(DEMO_STAFF) is not None:
        store.set_staff_password(DEMO_STAFF, password)
    else:
        store.create_staff_user(DEMO_STAFF, password, role="admin")
    return f"user {DEMO_STAFF!r}, password {password!r}"


def _why_no_demo_login(store: Store, on_postgresql: bool) -> str | None:
    """Why this database must not get a demo admin, or None if it may."""
    import sqlalchemy as sa

    from instrument.store.schema import staff_users

    if store.engine.dialect.name != "sqlite" and not on_postgresql:
        return "a PostgreSQL database may be in real use; --demo-on-postgresql allows one"
    with store.engine.connect() as connection:
        others = connection.scalar(
            sa.select(sa.func.count())
            .select_from(staff_users)
            .where(staff_users.c.username != DEMO_STAFF)
        )
    if others:
        return "this database has other staff accounts, so it is in real use"
    existing = store.get_staff_user(DEMO_STAFF)
    if existing is not None and existing.disabled:
        return f"the account {DEMO_STAFF!r} was disabled, and stays so"
    return None


def _start_fieldwork(served: Any, base: str, wanted: bool | None) -> tuple[str, Any]:
    """Start the panel waves' fieldwork worker in a daemon thread where it belongs.

    What to print, and the event that stops the worker (None: not started).

    On by default only with SQLite (one machine: the web server is the only
    process there is); with PostgreSQL the workers are processes of their own.
    """
    import os

    from instrument.commands.fieldwork import PUBLIC_URL_ENV
    from instrument.panel.crypto import PanelKeyError, PanelKeys
    from instrument.panelwork.recording_deletions import use_recording_providers
    from instrument.panelwork.worker import start_in_thread, worker_for
    from instrument.questionnaires import facade_from_context

    if wanted is None:
        wanted = (
            served.store.dialect == "sqlite"
            and os.environ.get("INSTRUMENT_FIELDWORK_WORKER", "1").strip() != "0"
        )
        if not os.environ.get("INSTRUMENT_PANEL_KEYS") and not os.environ.get(
            "INSTRUMENT_PANEL_KEY_FILE"
        ):
            return "Fieldwork worker: off (no panel keys set: no panel waves here)", None
    if not wanted:
        return "Fieldwork worker: off (`instrument fieldwork run` carries out panel waves)", None
    plugins = facade_from_context()
    try:
        worker = worker_for(
            served.store,
            plugins.contact_channels(),
            PanelKeys.from_environment(),
            clock=served.now,
            base_url=os.environ.get(PUBLIC_URL_ENV, "").strip() or base,
            plugins=plugins,  # its modes place the automated_call steps' calls
        )
    except PanelKeyError as exc:
        raise click.ClickException(f"the fieldwork worker cannot start: {exc}") from None
    use_recording_providers(worker, facade_from_context().recording_providers())
    stop = start_in_thread(worker)
    return f"Fieldwork worker: running in this process ({worker.name})", stop
