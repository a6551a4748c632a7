"""``instrument serve``: run the web app on this machine with Flask's server.

For a laptop and a pilot. For fieldwork, run the same app under gunicorn
(``instrument.server.wsgi:app``, see docs/web.md).
"""

from __future__ import annotations

import secrets

import click

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
    help="Print a test respondent link and create a demo staff login.",
)
@click.option("--debug", is_flag=True, help="Flask debug mode (never on a public address).")
def serve(
    paths: tuple[str, ...],
    database: str | None,
    host: str,
    port: int,
    secret_key: str | None,
    demo: bool,
    debug: bool,
) -> None:
    """Serve questionnaire file(s) PATH... to respondents on the web."""
    from instrument.diagnostics import QuestionnaireError
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
        click.echo(f"Staff area: {base}/staff/  {_demo_login(served.store)}")
    app.run(host=host, port=port, debug=debug, use_reloader=False)


def _demo_login(store: object) -> str:
    from instrument.store import Store

    assert isinstance(store, Store)
    # A fresh password every time the demo is served: it is printed only here, and
    # a researcher who lost the terminal of an earlier run is not locked out.
    password = secrets.token_urlsafe(12)
    if store.get_staff_user(DEMO_STAFF) is not None:
        store.set_staff_password(DEMO_STAFF, password)
    else:
        store.create_staff_user(DEMO_STAFF, password, role="admin")
    return f"user {DEMO_STAFF!r}, password {password!r}"
