"""A WSGI entry point for production servers, configured from the environment.

    INSTRUMENT_QUESTIONNAIRES=questionnaires/social_licence.yaml \\
    INSTRUMENT_DATABASE_URL=postgresql://survey@db/survey \\
    INSTRUMENT_SECRET_KEY=... \\
    gunicorn --workers 2 --threads 4 'instrument.server.wsgi:app'

Environment variables:

* ``INSTRUMENT_QUESTIONNAIRES``: questionnaire paths, separated by ``os.pathsep`` (``:``);
* ``INSTRUMENT_DATABASE_URL``: the store (default ./instrument.db);
* ``INSTRUMENT_SECRET_KEY``: signs cookies and forms; **every worker must share it**;
* ``INSTRUMENT_SECURE_COOKIES``: ``1`` when served over HTTPS (it should be);
* ``INSTRUMENT_TRUSTED_PROXIES``: how many reverse proxies set ``X-Forwarded-For``;
* ``INSTRUMENT_THEME_DIR``: a theme directory (templates/ and static/theme.css);
* ``INSTRUMENT_OPEN_LINKS``: ``0`` to allow personal links only;
* ``INSTRUMENT_START_ATTEMPTS``: interviews one address may start from an open
  link in ten minutes, per worker (default 30; a load test from one machine
  needs more).

Migrate the database once before starting several workers
(``instrument db upgrade``); the app also migrates on start, under a lock.
"""

from __future__ import annotations

import gc
import os
from typing import Any

from instrument.server.app import create_app

__all__ = ["config_from_env"]  # and ``app``, built on first access


def _flag(env: Any, name: str, default: bool) -> bool:
    value = env.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def config_from_env(environ: Any = None) -> dict[str, Any]:
    """The app configuration the environment describes."""
    env = os.environ if environ is None else environ
    paths = [p for p in env.get("INSTRUMENT_QUESTIONNAIRES", "").split(os.pathsep) if p]
    if not paths:
        raise RuntimeError("set INSTRUMENT_QUESTIONNAIRES to the questionnaire file(s) to serve")
    secret = env.get("INSTRUMENT_SECRET_KEY")
    if not secret:
        raise RuntimeError(
            "set INSTRUMENT_SECRET_KEY (e.g. python -c 'import secrets; print(secrets.token_hex(32))'): "
            "every worker must sign cookies with the same key"
        )
    return {
        "QUESTIONNAIRES": paths,
        "DATABASE_URL": env.get("INSTRUMENT_DATABASE_URL"),
        "SECRET_KEY": secret,
        "SESSION_COOKIE_SECURE": _flag(env, "INSTRUMENT_SECURE_COOKIES", False),
        "TRUSTED_PROXIES": int(env.get("INSTRUMENT_TRUSTED_PROXIES", "0") or 0),
        "THEME_DIR": env.get("INSTRUMENT_THEME_DIR") or None,
        "OPEN_LINKS": _flag(env, "INSTRUMENT_OPEN_LINKS", True),
        "START_ATTEMPTS": int(env.get("INSTRUMENT_START_ATTEMPTS", "30") or 30),
    }


def __getattr__(name: str) -> Any:
    # Built on first access, so importing this module (docs, tests) does not need the env.
    if name == "app":
        application = create_app(config_from_env())
        # What the app built (questionnaires, templates, the schema) lives as long as the
        # worker: kept out of the collector's full passes, which otherwise walk it all and
        # stopped a worker 54-235 ms at a time under load (docs/benchmarks.md, IVR).
        gc.freeze()
        globals()["app"] = application
        return application
    raise AttributeError(name)
