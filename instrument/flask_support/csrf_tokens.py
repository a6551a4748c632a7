"""The staff pages' CSRF token, signed once a minute per session instead of on every page.

Flask-WTF keeps one random secret per session and puts a *signed, timed* copy of
it in every form; templates call ``csrf_token()``, which signs it afresh on every
request (a serializer built, JSON, an HMAC with a derived key, base64). On the
interviewer's script page that was a tenth of the page's server time, and the
console shows one on every page it serves.

This ``csrf_token`` gives the same token to the same session's pages for up to
:data:`REUSE_SECONDS` (or a tenth of ``WTF_CSRF_TIME_LIMIT`` if that is
shorter), so a token is at most that much older than Flask-WTF's own would be:
it stays valid for the time limit minus that, and is checked by Flask-WTF
exactly as before (signature, age, the session's secret). Tokens are kept per
process by (signing key, session secret), at most :data:`KEEP` of them.
"""

from __future__ import annotations

import threading
import time
from typing import Final

from flask import Flask, current_app, g, session
from flask_wtf.csrf import generate_csrf

__all__ = ["KEEP", "REUSE_SECONDS", "csrf_token", "install_csrf_tokens"]

REUSE_SECONDS: Final = 60.0
KEEP: Final = 4096

_signed: dict[tuple[str, str], tuple[str, float]] = {}
_lock = threading.Lock()


def _reuse_seconds() -> float:
    limit = current_app.config.get("WTF_CSRF_TIME_LIMIT", 3600)
    return REUSE_SECONDS if limit is None else min(REUSE_SECONDS, float(limit) / 10)


def csrf_token() -> str:
    """Flask-WTF's ``generate_csrf()``, reusing this session's token signed moments ago."""
    field = current_app.config.get("WTF_CSRF_FIELD_NAME") or "csrf_token"
    if field in g:
        return str(g.get(field))
    key = str(current_app.config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key)
    secret = session.get(field)
    if isinstance(secret, str):
        found = _signed.get((key, secret))
        if found is not None and 0 <= time.monotonic() - found[1] < _reuse_seconds():
            setattr(g, field, found[0])
            return found[0]
    token = str(generate_csrf())
    secret = session.get(field)  # made by generate_csrf for a new session
    if isinstance(secret, str):
        with _lock:
            if len(_signed) >= KEEP:
                _signed.clear()
            _signed[(key, secret)] = (token, time.monotonic())
    return token


def install_csrf_tokens(app: Flask) -> None:
    """Templates' ``csrf_token()`` becomes :func:`csrf_token` (call after ``CSRFProtect(app)``).

    Flask-WTF offers its own both as a Jinja global and through a context
    processor, which wins over globals; a processor added after it wins over it.
    """
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.context_processor(lambda: _CONTEXT)


_CONTEXT: Final = {"csrf_token": csrf_token}
