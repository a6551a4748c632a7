"""The staff area (first slice): sign in, the questionnaires with their counts, a preview.

Staff accounts live in the store (scrypt-hashed passwords, roles
``researcher`` and ``admin``). Signing in opens a server-side staff session
(:mod:`instrument.store.staff_sessions`) and the signed cookie holds only its
random id, looked up on every request: signing out closes it, so a copy of
the cookie taken before opens nothing afterwards; so do disabling the account,
changing its password and ``STAFF_TIMEOUT_SECONDS`` without a request.
Sign-ins are counted per address before the password is hashed, and only a
few hashes run at once (:mod:`instrument.server.sign_in`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from markupsafe import Markup

from instrument.engine import EngineError
from instrument.flask_support.staff_session import SESSION_KEY, STAFF_AREAS, signed_in_staff
from instrument.server.host import Host
from instrument.server.preview import page_list, preview_step
from instrument.server.security import error_page
from instrument.server.sign_in import Outcome, check_password, staff_next

__all__ = ["SESSION_KEY", "create_staff_blueprint", "staff_required"]


def staff_required(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Only signed-in staff (with one of ``roles``, if given) may use the view."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if g.get("staff") is None:
                here = request.full_path if request.query_string else request.path
                return redirect(url_for("staff.login", next=here), 303)
            if roles and g.staff.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorate


def create_staff_blueprint(host: Host) -> Blueprint:
    bp = Blueprint("staff", __name__)

    @bp.before_request
    def load_staff() -> None:
        idle = dt.timedelta(seconds=int(current_app.config["STAFF_TIMEOUT_SECONDS"]))
        g.staff = signed_in_staff(host.store, now=host.now(), idle_timeout=idle)

    @bp.app_context_processor
    def staff_context() -> dict[str, Any]:
        return {"staff_user": g.get("staff")}

    @bp.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        error = None
        username = request.form.get("username", "")
        if request.method == "POST":
            result = check_password(
                host,
                username,
                request.form.get("password", ""),
                request.remote_addr or "unknown",
                wait_seconds=float(current_app.config["LOGIN_HASH_WAIT_SECONDS"]),
            )
            if result.outcome is Outcome.LIMITED:
                abort(429)
            if result.outcome is Outcome.BUSY:
                body, status = error_page(
                    503,
                    "Too many people are signing in",
                    "Your password was not checked. Wait a minute and sign in again.",
                )
                return body, status, {"Retry-After": "60"}
            if result.user is None:
                error = "The username or password is not right"
            else:
                _end_session()
                session[SESSION_KEY] = host.store.open_staff_session(result.user.id, now=host.now())
                back = staff_next(request.args.get("next"), current_app.config.get(STAFF_AREAS, ()))
                return redirect(back or url_for("staff.index"), 303)
        status = 200 if error is None else 401
        return render_template(
            "instrument/staff/login.html",
            error=error,
            username=username.replace("\x00", ""),
            page_title="Sign in",
        ), status

    @bp.post("/logout")
    def logout() -> Any:
        _end_session()
        return redirect(url_for("staff.login"), 303)

    def _end_session() -> None:
        """Close this browser's staff session in the store, so no copy of its cookie opens it."""
        session_id = session.pop(SESSION_KEY, None)
        if isinstance(session_id, str):
            host.store.close_staff_session(session_id, now=host.now())

    @bp.get("/")
    @staff_required()
    def index() -> Any:
        rows = []
        for survey in host.surveys.values():
            q = survey.questionnaire
            counts = host.store.count_by_status(survey.id)
            started = sum(n for status, n in counts.items() if status != "withdrawn")
            rows.append(
                {
                    "id": survey.id,
                    "title": q.title.source(q.default_language, q.default_language),
                    "version": q.version,
                    "started": started,
                    "completed": counts.get("complete", 0),
                    "counts": counts,
                    "web": "web" in current_app.blueprints and "web" in q.modes,
                }
            )
        return render_template(
            "instrument/staff/index.html", rows=rows, page_title="Questionnaires"
        )

    @bp.get("/preview/<qid>/")
    @staff_required()
    def preview_index(qid: str) -> Any:
        survey = host.survey(qid) or abort(404)
        q = survey.questionnaire
        return render_template(
            "instrument/staff/preview_index.html",
            survey=survey,
            title=q.title.source(q.default_language, q.default_language),
            pages=list(page_list(survey.engine)),
            modes=q.modes,
            languages=q.languages,
            page_title=f"Preview {qid}",
        )

    @bp.get("/preview/<qid>/<page_id>")
    @staff_required()
    def preview(qid: str, page_id: str) -> Any:
        survey = host.survey(qid) or abort(404)
        q = survey.questionnaire
        mode = request.args.get("mode", "web")
        language = request.args.get("lang", q.default_language)
        if page_id not in q.pages or mode not in q.modes or language not in q.languages:
            abort(404)
        try:
            step = preview_step(
                survey.engine, page_id, mode=mode, language=language, now=host.now()
            )
        except EngineError:
            abort(404)
        # A mode that draws its own pages previews them itself (the web: form fields);
        # for any other the staff page lists the wording its policy says it uses.
        spec = host.modes.get(mode)
        drawn = spec.preview(step, language) if spec is not None and spec.preview else None
        pages = [p.id for p in page_list(survey.engine)]
        index = pages.index(page_id)
        return render_template(
            "instrument/staff/preview.html",
            survey=survey,
            step=step,
            mode=mode,
            language=language,
            modes=q.modes,
            languages=q.languages,
            previous=pages[index - 1] if index > 0 else None,
            next=pages[index + 1] if index + 1 < len(pages) else None,
            page_title=f"Preview {page_id}",
            drawn=Markup(drawn) if drawn is not None else None,
            policy=q.mode_policies[mode],
        )

    # These modules import staff_required from here, so they are imported once it exists.
    from instrument.server.panel_dashboard import add_panel_dashboard_views
    from instrument.server.panel_members_views import add_panel_member_views
    from instrument.server.staff_audit_views import add_audit_views

    add_audit_views(bp, host)
    add_panel_dashboard_views(bp, host)
    add_panel_member_views(bp, host)
    return bp
