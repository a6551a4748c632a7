"""The staff area (first slice): sign in, the questionnaires with their counts, a preview.

Staff accounts live in the store (scrypt-hashed passwords, roles
``researcher`` and ``admin``). The signed session cookie holds only the
account id; the account is re-read on every request, so disabling it takes
effect at once. Failed sign-ins are rate limited per address.
"""

from __future__ import annotations

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

from instrument.engine import EngineError
from instrument.server.host import Host
from instrument.server.preview import page_list, preview_step

__all__ = ["create_staff_blueprint", "staff_required"]


def staff_required(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Only signed-in staff (with one of ``roles``, if given) may use the view."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if g.get("staff") is None:
                return redirect(url_for("staff.login", next=request.path), 303)
            if roles and g.staff.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorate


def create_staff_blueprint(runner: Host) -> Blueprint:
    bp = Blueprint("staff", __name__)

    @bp.before_request
    def load_staff() -> None:
        g.staff = None
        user_id = session.get("staff")
        if user_id is None:
            return
        now = int(runner.now().timestamp())
        if now - int(session.get("staff_seen", 0)) > int(
            current_app.config["STAFF_TIMEOUT_SECONDS"]
        ):
            session.pop("staff", None)
            return
        user = runner.store.get_staff_user_by_id(int(user_id))
        if user is None or user.disabled:
            session.pop("staff", None)
            return
        session["staff_seen"] = now
        g.staff = user

    @bp.app_context_processor
    def staff_context() -> dict[str, Any]:
        return {"staff_user": g.get("staff")}

    @bp.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        error = None
        if request.method == "POST":
            address = request.remote_addr or "unknown"
            if runner.login_limiter is not None and runner.login_limiter.blocked(address):
                abort(429)
            user = runner.store.verify_staff_password(
                request.form.get("username", ""), request.form.get("password", "")
            )
            if user is None:
                if runner.login_limiter is not None:
                    runner.login_limiter.hit(address)
                error = "The username or password is not right"
            else:
                session["staff"] = user.id
                session["staff_seen"] = int(runner.now().timestamp())
                target = request.args.get("next", "")
                if not target.startswith("/staff/") or target.startswith("//"):
                    target = url_for("staff.index")
                return redirect(target, 303)
        status = 200 if error is None else 401
        return render_template(
            "instrument/staff/login.html", error=error, page_title="Sign in"
        ), status

    @bp.post("/logout")
    def logout() -> Any:
        session.pop("staff", None)
        session.pop("staff_seen", None)
        return redirect(url_for("staff.login"), 303)

    @bp.get("/")
    @staff_required()
    def index() -> Any:
        rows = []
        for survey in runner.surveys.values():
            q = survey.questionnaire
            counts = runner.store.count_by_status(survey.id)
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
        survey = runner.survey(qid) or abort(404)
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
        survey = runner.survey(qid) or abort(404)
        q = survey.questionnaire
        mode = request.args.get("mode", "web")
        language = request.args.get("lang", q.default_language)
        if page_id not in q.pages or mode not in q.modes or language not in q.languages:
            abort(404)
        try:
            step = preview_step(
                survey.engine, page_id, mode=mode, language=language, now=runner.now()
            )
        except EngineError:
            abort(404)
        context: dict[str, Any] = {}
        if mode == "web" and "web" in current_app.blueprints:
            from instrument_web.forms import PageForm, missing_options
            from instrument_web.messages import ui

            context = {
                "form": PageForm(step),
                "missing_options": missing_options,
                "t": lambda key, **kw: ui(language, key, **kw),
            }
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
            **context,
        )

    return bp
