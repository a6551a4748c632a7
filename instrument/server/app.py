"""The Flask app factory: load questionnaires, open the store, mount every mode.

Everything is registered here, before the first request (Flask refuses setup
afterwards): each mode a plugin registers through ``register_modes`` gets its
blueprint mounted under ``/<mode name>``, and the staff area under
``/staff``. A mode's blueprint factory gets a
:class:`~instrument.interviews.ModeContext` (the interview service and the
clock); the host's own views reach the :class:`~instrument.server.host.Host`
through ``app.extensions["instrument"]``.

Templates are looked up in this order, so a deployment can restyle anything
without touching the package: ``THEME_DIR/templates`` (if configured), then
the host's templates (``instrument/...``), then each mode's own.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import warnings
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

from flask import Flask, render_template, send_from_directory, url_for
from flask_wtf.csrf import CSRFProtect
from jinja2 import ChoiceLoader, FileSystemLoader

from instrument import catalogue
from instrument.flask_support import ACTIVITY_STEP_SECONDS
from instrument.flask_support.csrf_tokens import install_csrf_tokens
from instrument.flask_support.urls import cached_url, install_cached_urls
from instrument.interviews import (
    InterviewService,
    ModeContext,
    Survey,
    Surveys,
    utc_now,
)
from instrument.loader import LoadOptions
from instrument.plugin_types import InterviewEvent
from instrument.plugins import PluginFacade, get_plugin_manager
from instrument.questionnaires import require
from instrument.ratelimit import RateLimiter
from instrument.server.host import Host
from instrument.server.security import browser_language, install_error_pages, install_headers
from instrument.server.sessions import PlainJSONSessionInterface
from instrument.store import open_store

__all__ = ["DEFAULTS", "create_app", "get_host"]

EXTENSION = "instrument"

DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": None,  # None: $INSTRUMENT_DATABASE_URL, else ./instrument.db
    "QUESTIONNAIRES": [],  # paths of questionnaire files to serve
    "SECRET_KEY": None,  # required outside TESTING; signs cookies and forms
    "SESSION_COOKIE_SECURE": False,  # set True behind HTTPS
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    # Re-sign and re-send the session cookie only when it changes (activity is
    # stamped in it to the minute), not on every response.
    "SESSION_REFRESH_EACH_REQUEST": False,
    "SESSION_COOKIE_NAME": "instrument_session",
    "RESPONDENT_TIMEOUT_SECONDS": 30 * 60,  # signed out after this long without a request
    "TIMEOUT_WARNING_SECONDS": 2 * 60,  # the JavaScript warning shows this long before
    "STAFF_TIMEOUT_SECONDS": 60 * 60,
    # A staff session found good is believed this long without reading it again (in this
    # process): a page turn's two requests need one read. Changes made in this process
    # count at once; one made elsewhere (another worker, the CLI) within this time.
    "STAFF_RECHECK_SECONDS": 2,
    "TOKEN_ATTEMPTS": 20,  # failed personal-link look-ups per address ...
    "TOKEN_WINDOW_SECONDS": 10 * 60,  # ... in this many seconds, per worker process
    "START_ATTEMPTS": 30,  # interviews started from open links per address ...
    "START_WINDOW_SECONDS": 10 * 60,  # ... in this many seconds, per worker process
    "LOGIN_ATTEMPTS": 10,
    "LOGIN_WINDOW_SECONDS": 10 * 60,
    "LOGIN_HASH_SLOTS": 2,  # staff password hashes (128 MiB each) run at once per process ...
    "LOGIN_HASH_WAIT_SECONDS": 5.0,  # ... and a sign-in waits this long for one, else 503
    "OPEN_LINKS": True,  # anyone may start from /web/<id>/; False or a list of ids to restrict
    "TRUSTED_PROXIES": 0,  # reverse proxies in front that set X-Forwarded-For
    "THEME_DIR": None,  # templates/ and static/ (theme.css) that override the built-ins
    "CLOCK": None,  # a callable returning the current UTC time (tests)
    "STORE": None,  # an already opened Store (tests, embedding)
    # scrypt cost of new staff password hashes (a PasswordCost); None: the strong default.
    # Weaker than that only with TESTING: a test suite's cheap but real hash.
    "STAFF_PASSWORD_COST": None,
    "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
    "MAX_CONTENT_LENGTH": 256 * 1024,
}

_HERE = Path(__file__).resolve().parent


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the web app.

    :param config: overrides of :data:`DEFAULTS` (and any Flask setting).
        ``QUESTIONNAIRES`` lists the files to serve; each is checked and
        stored as a questionnaire version before the app accepts a request.
    :raises instrument.loader.QuestionnaireError: a questionnaire has errors.
    """
    app = Flask(
        "instrument.server",
        static_folder=str(_HERE / "static"),
        static_url_path="/static",
        template_folder=str(_HERE / "templates"),
    )
    app.config.update(DEFAULTS)
    if config:
        app.config.update(dict(config))
    if not app.config.get("SECRET_KEY"):
        if not app.config.get("TESTING") and not app.debug:
            warnings.warn(
                "no SECRET_KEY configured: using a random one, so sessions end when the "
                "server restarts and several workers cannot share them",
                RuntimeWarning,
                stacklevel=2,
            )
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    # Activity is stamped to the minute, so the cookie outlives the timeout by that minute.
    app.permanent_session_lifetime = dt.timedelta(
        seconds=int(app.config["RESPONDENT_TIMEOUT_SECONDS"]) + ACTIVITY_STEP_SECONDS
    )
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]

    _install_theme(app)
    app.session_interface = PlainJSONSessionInterface()
    CSRFProtect(app)
    install_csrf_tokens(app)  # after CSRFProtect, whose csrf_token() it replaces
    install_headers(app)
    install_cached_urls(app)
    install_error_pages(app)

    pm = get_plugin_manager()
    facade = PluginFacade(pm)
    store = app.config.get("STORE") or open_store(app.config.get("DATABASE_URL"))
    if app.config.get("STAFF_PASSWORD_COST") is not None:
        store.set_password_cost(app.config["STAFF_PASSWORD_COST"], testing=app.config["TESTING"])
    modes = facade.modes()
    surveys = Surveys.serve(
        store,
        [require(path, facade) for path in app.config.get("QUESTIONNAIRES") or []],
        options=LoadOptions.of(facade),
    )

    def tell_plugins(kind: str, interview_id: str, at: Any, mode: str, data: Any) -> None:
        facade.interview_event(InterviewEvent(kind, interview_id, at, mode, data))

    service = InterviewService(store, surveys, listener=tell_plugins)
    context = ModeContext(service, app.config.get("CLOCK") or utc_now)

    mounted: set[str] = set()
    for name in modes:
        spec = modes[name]
        if spec.create_blueprint is None or spec.missing_requirements():
            continue
        blueprint = spec.create_blueprint(context)
        if blueprint is not None:
            app.register_blueprint(blueprint, url_prefix="/" + name)
            mounted.add(name)
    host = Host(
        context,
        RateLimiter(int(app.config["LOGIN_ATTEMPTS"]), float(app.config["LOGIN_WINDOW_SECONDS"])),
        threading.BoundedSemaphore(int(app.config["LOGIN_HASH_SLOTS"])),
        modes={name: modes[name] for name in modes if name in mounted},
    )
    app.extensions[EXTENSION] = host

    from instrument.server.staff import create_staff_blueprint

    app.register_blueprint(create_staff_blueprint(host), url_prefix="/staff")

    @app.get("/")
    def home() -> Any:
        links = []
        if "web" in app.blueprints:
            links = [
                (_title(survey), url_for("web.page", qid=survey.id))
                for survey in host.surveys.values()
                if "web" in survey.questionnaire.modes
            ]
        language = browser_language()
        words = catalogue.domain("server")
        return render_template(
            "instrument/home.html",
            links=links,
            language=language,
            say=partial(words.text, language),
            t=partial(catalogue.domain("web").text, language),
        )

    @app.get("/healthz")
    def healthz() -> tuple[str, int, dict[str, str]]:
        return "ok", 200, {"Content-Type": "text/plain"}

    return app


def get_host(app: Flask | None = None) -> Host:
    """The host of ``app`` (default: the current app): its store, interview service and clock."""
    from flask import current_app

    target = app or current_app
    return target.extensions[EXTENSION]  # type: ignore[no-any-return]


def _title(survey: Survey) -> str:
    q = survey.questionnaire
    return q.title.source(q.default_language, q.default_language)


def _install_theme(app: Flask) -> None:
    """Put THEME_DIR/templates first in the template search, and serve THEME_DIR/static."""
    theme = app.config.get("THEME_DIR")
    loaders: list[Any] = []
    theme_css = False
    if theme:
        theme_path = Path(theme)
        if (theme_path / "templates").is_dir():
            loaders.append(FileSystemLoader(str(theme_path / "templates")))
        static = theme_path / "static"
        theme_css = (static / "theme.css").is_file()
        if static.is_dir():

            @app.get("/theme/<path:filename>")
            def theme_static(filename: str) -> Any:
                return send_from_directory(static, filename, max_age=3600)

    if loaders:
        assert app.jinja_loader is not None
        app.jinja_loader = ChoiceLoader([*loaders, app.jinja_loader])  # type: ignore[assignment]

    @app.context_processor
    def _theme() -> dict[str, Any]:
        return {
            "theme_css": cached_url("theme_static", filename="theme.css") if theme_css else None
        }
