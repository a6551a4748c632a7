"""The ceiling for the web benchmark: a bare Flask app doing one INSERT per request.

    WEB_CEILING_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/x \\
    gunicorn --workers 2 --pythonpath benchmarks 'web_ceiling:app'

It has the same shape as a respondent's page turn and nothing else: ``GET /c/``
renders a small form (a hidden nonce, three radios) and records that it was
shown; ``POST /c/`` stores the answer under the form's nonce and redirects
(303) back to ``/c/``. Each request is one INSERT in its own transaction on
PostgreSQL through SQLAlchemy and psycopg 3, the stack the real app uses, so
the difference between this and the real app is the app's own work (engine,
session, CSRF, forms, templates, the compare-and-set save), not the machine,
gunicorn or the database round trip. No sessions, no CSRF, no template files.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, redirect, request

__all__ = ["ENV_VAR", "answers", "clear", "create_app", "prepare"]

ENV_VAR = "WEB_CEILING_DATABASE_URL"

_metadata = sa.MetaData()
shown = sa.Table(
    "ceiling_shown",
    _metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("nonce", sa.String(64), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
)
answered = sa.Table(
    "ceiling_answers",
    _metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("nonce", sa.String(64), nullable=False),
    sa.Column("answer", sa.String(16), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ceiling</title></head>
<body><main>
<form method="post" action="/c/" class="question-form">
<input type="hidden" name="form_state" value="{nonce}">
<fieldset><legend><h1>How clear was this?</h1></legend>
<input id="a1" name="answer" type="radio" value="1"><label for="a1">Very clear</label>
<input id="a2" name="answer" type="radio" value="2"><label for="a2">Fairly clear</label>
<input id="a3" name="answer" type="radio" value="3"><label for="a3">Not clear</label>
</fieldset>
<button type="submit" name="action" value="continue">Continue</button>
</form>
</main></body></html>
"""


def _url(database_url: str) -> str:
    return database_url.replace("postgresql://", "postgresql+psycopg://", 1)


def prepare(database_url: str) -> None:
    """Create the two tables (before the workers start, so they do not race to do it)."""
    engine = sa.create_engine(_url(database_url))
    try:
        _metadata.create_all(engine)
    finally:
        engine.dispose()


def answers(database_url: str) -> list[tuple[str, str]]:
    """Every stored (nonce, answer)."""
    engine = sa.create_engine(_url(database_url))
    try:
        with engine.connect() as connection:
            return [(r.nonce, r.answer) for r in connection.execute(sa.select(answered))]
    finally:
        engine.dispose()


def clear(database_url: str) -> None:
    """Drop the tables (a ``--database`` given by the user is left as it was)."""
    engine = sa.create_engine(_url(database_url))
    try:
        _metadata.drop_all(engine)
    finally:
        engine.dispose()


def create_app(database_url: str) -> Flask:
    app = Flask(__name__)
    engine = sa.create_engine(_url(database_url), pool_pre_ping=True)

    @app.get("/c/")
    def page() -> Response:
        nonce = secrets.token_urlsafe(16)
        with engine.begin() as connection:
            connection.execute(shown.insert().values(nonce=nonce))
        return Response(_PAGE.format(nonce=nonce), content_type="text/html; charset=utf-8")

    @app.post("/c/")
    def submit() -> Any:
        nonce = request.form.get("form_state", "")[:64]
        answer = request.form.get("answer", "")[:16]
        with engine.begin() as connection:
            connection.execute(answered.insert().values(nonce=nonce, answer=answer))
        return redirect("/c/", 303)

    @app.get("/healthz")
    def healthz() -> tuple[str, int]:
        return "ok", 200

    return app


def __getattr__(name: str) -> Any:
    # Built on first access (gunicorn's import), so importing for prepare() needs no env.
    if name == "app":
        application = create_app(os.environ[ENV_VAR])
        globals()["app"] = application
        return application
    raise AttributeError(name)
