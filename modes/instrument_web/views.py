"""The respondent's pages: thin views around the engine and the runner.

Every view does the same few things: find the respondent's interview (its id
comes only from the signed session cookie, never from the URL, so nobody can
reach someone else's), ask the engine for the step, and either render it or
submit to it, save, and redirect (POST/redirect/GET).

What keeps answers from being lost or doubled:

* every form carries a signed *form state*: the interview revision and step
  token it was rendered at, a nonce, and when it was shown;
* a submit saves with ``expected_revision`` = that revision and the nonce as
  the idempotency key, *before* redirecting: a double click or a resent form
  records once (the store replays the first save), and a form from a second
  tab that fell behind is refused without writing anything;
* nothing is written on GET: showing a page costs one read.

The form state is also the answer form's CSRF token, so Flask-WTF's own
check is switched off for that one view (it stays on for every other form:
start, language, staff). The form state does what a synchronizer token does
and more: it is signed with the app's secret key, names the interview the
session cookie holds (a form state of any other interview is refused with
400), and carries a nonce used once. A page from another site can neither
read one nor make one. Checking a second token cost about 7% of a page
turn's instructions (callgrind; docs/web.md, Performance) and added nothing.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from itsdangerous import BadSignature, URLSafeSerializer
from markupsafe import Markup

from instrument.engine import EngineError, Problem, StaleSubmission, Step
from instrument.server.runner import Loaded, Runner, Survey
from instrument.server.security import ACTIVITY_STEP_SECONDS, device_class
from instrument.server.urls import cached_url
from instrument.store import InterviewNotFound, InterviewWithdrawn, NewEvent, StaleRevision
from instrument_web.form_state import BadFormState, FormState, FormStateSigner, signer_for
from instrument_web.forms import PageForm, missing_options, problem_targets
from instrument_web.messages import LANGUAGE_NAMES, ui

__all__ = ["create_blueprint"]

MODE = "web"


def create_blueprint(runner: Runner) -> Blueprint:
    """The web mode's blueprint, bound to ``runner``."""
    bp = Blueprint(
        MODE,
        __name__,
        template_folder="templates",
        static_folder="static",
        static_url_path="/static",
    )
    views = _Views(runner)

    bp.before_request(views.track_activity)
    bp.add_url_rule("/<qid>/", "page", views.page, methods=["GET"])
    bp.add_url_rule("/<qid>/", "submit", views.submit, methods=["POST"])
    bp.add_url_rule("/<qid>/start", "start", views.start, methods=["POST"])
    bp.add_url_rule("/<qid>/language", "language", views.language, methods=["POST"])
    bp.add_url_rule("/<qid>/saved", "saved", views.saved, methods=["GET"])
    bp.add_url_rule("/<qid>/keepalive", "keepalive", views.keepalive, methods=["GET"])
    bp.add_url_rule("/t/<token>", "token", views.token, methods=["GET"])
    bp.add_app_template_filter(_plain, "plain")
    bp.record_once(lambda state: _form_state_is_the_csrf_token(state.app, views.submit))
    return bp


def _form_state_is_the_csrf_token(app: Any, view: Any) -> None:
    """Exempt the answer view from Flask-WTF: it checks its signed form state instead (see above)."""
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(view)


def _plain(text: Any) -> str:
    """Question text without markup, for the page title."""
    return Markup(str(text)).striptags() if text else ""


class _Views:
    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    # -- helpers ----------------------------------------------------------------

    def _survey(self, qid: str) -> Survey:
        survey = self.runner.survey(qid)
        if survey is None or MODE not in survey.questionnaire.modes:
            abort(404)
        return survey

    def _serializer(self) -> URLSafeSerializer:
        secret_key = current_app.config["SECRET_KEY"]
        if isinstance(secret_key, (str, bytes)):
            return _form_serializer(secret_key)
        return URLSafeSerializer(secret_key, salt="instrument-web-form")  # e.g. a list of keys

    def _language(self, survey: Survey, wanted: str | None = None) -> str:
        q = survey.questionnaire
        for candidate in (wanted, request.args.get("lang"), session.get("lang")):
            if candidate in q.languages:
                return str(candidate)
        best = request.accept_languages.best_match(q.languages)
        return best or q.default_language

    def _interview_id(self, qid: str) -> str | None:
        return (session.get("iv") or {}).get(qid)

    def _remember(self, qid: str, interview_id: str, token: str | None = None) -> None:
        session.permanent = True
        session["iv"] = {**(session.get("iv") or {}), qid: interview_id}
        tokens = dict(session.get("tok") or {})
        if token is not None:
            tokens[qid] = token
        else:
            tokens.pop(qid, None)
        session["tok"] = tokens

    def _forget(self, qid: str) -> None:
        session["iv"] = {k: v for k, v in (session.get("iv") or {}).items() if k != qid}
        session["tok"] = {k: v for k, v in (session.get("tok") or {}).items() if k != qid}

    def _load(self, qid: str, *, recent: bool = False) -> Loaded | None:
        """The respondent's interview of ``qid``, or None (forgotten if it has gone).

        ``recent``: this worker's last snapshot, unchecked against the database
        (see :meth:`Runner.load`); for a submit, whose save is a compare-and-set.
        """
        interview_id = self._interview_id(qid)
        if interview_id is None:
            return None
        try:
            loaded = self.runner.load(interview_id, recent=recent)
        except LookupError:  # unknown, or withdrawn (no state any more)
            self._forget(qid)
            return None
        if loaded.record.questionnaire_id != qid or loaded.record.status == "withdrawn":
            self._forget(qid)
            return None
        if not loaded.state.finished and loaded.state.mode != MODE:
            if recent:  # switch on the stored interview, not on a snapshot that may be old
                return self._load(qid)
            # started on the telephone, carried on here: the engine records the switch
            events = loaded.engine.switch_mode(loaded.state, MODE, now=self.runner.now())
            self.runner.save(loaded, events)  # moves loaded.record on to the saved revision
        return loaded

    def _form_state_signer(self) -> FormStateSigner:
        secret_key = current_app.config["SECRET_KEY"]
        if isinstance(secret_key, (str, bytes)):
            return signer_for(secret_key)
        return FormStateSigner(secret_key)  # e.g. a list of keys

    def _form_state(self, loaded: Loaded, step: Step) -> str:
        state = FormState.new(
            loaded.record.id, loaded.record.revision, step.token, self.runner.now()
        )
        return self._form_state_signer().dumps(state)

    def _read_form_state(self, loaded: Loaded) -> FormState:
        try:
            state = self._form_state_signer().loads(request.form.get("form_state", ""))
        except BadFormState:
            abort(400)
        if state.interview_id != loaded.record.id:
            abort(400)
        return state

    # -- before every request ---------------------------------------------------

    def track_activity(self) -> None:
        """Sign a respondent out after ``RESPONDENT_TIMEOUT_SECONDS`` without a request.

        The cookie itself also expires then; this server-side check holds
        even if a browser keeps an old cookie. Activity is recorded to the
        minute (``ACTIVITY_STEP_SECONDS``): a session cookie is re-signed and
        re-sent only when something in it changes, and stamping every request
        would change it on every request. The timeout counts from the stamp
        plus that step, so nobody is signed out early.
        """
        if request.endpoint == f"{MODE}.static":
            return
        now = int(self.runner.now().timestamp())
        seen = session.get("seen")
        timeout = int(current_app.config["RESPONDENT_TIMEOUT_SECONDS"])
        if (
            seen is not None
            and now - int(seen) > timeout + ACTIVITY_STEP_SECONDS
            and session.get("iv")
        ):
            session.pop("iv", None)
            session.pop("tok", None)
            session["timed_out"] = True
        if seen is None or now - int(seen) >= ACTIVITY_STEP_SECONDS:
            session["seen"] = now

    # -- views ------------------------------------------------------------------

    def page(self, qid: str) -> Any:
        survey = self._survey(qid)
        loaded = self._load(qid)
        if loaded is None:
            language = self._language(survey)
            timed_out = session.pop("timed_out", False)
            return render_template(
                "web/start.html",
                **self._chrome(survey, language),
                timed_out=timed_out,
                open_link=_open(qid),
            )
        state = loaded.state
        step = loaded.engine.current_step(state)
        if state.finished:
            return self._finished(survey, loaded, step)
        notice = ui(state.language, "stale") if session.pop("stale", False) else None
        page = self._render(survey, loaded, step, PageForm(step), notice=notice)
        self.runner.keep(loaded)  # shown as stored: the answer to this page may reuse it
        return page

    def start(self, qid: str) -> Any:
        survey = self._survey(qid)
        if self._load(qid) is None:
            if not _open(qid):
                abort(403)
            language = self._language(survey, request.form.get("lang"))
            loaded = self.runner.start(qid, mode=MODE, language=language)
            self._remember(qid, loaded.record.id)
            self.runner.keep(loaded)  # as stored: the first page may reuse it
        return redirect(cached_url(".page", qid=qid), 303)

    def token(self, token: str) -> Any:
        """A personal link: start or resume the interview it belongs to, on any device."""
        limiter = self.runner.token_limiter
        address = request.remote_addr or "unknown"
        if limiter.blocked(address):
            abort(429)
        store = self.runner.store
        found = store.find_token(token)
        survey = self.runner.survey(found.questionnaire_id) if found is not None else None
        if found is None or survey is None or MODE not in survey.questionnaire.modes:
            limiter.hit(address)
            return self._link_problem("invalid", 404)
        now = self.runner.now()
        if found.is_expired(now):
            return self._link_problem("expired", 410)
        qid = survey.id
        session.pop("timed_out", None)
        saved = {k: v for k, v in (session.get("saved") or {}).items() if k != qid}
        session["saved"] = saved
        if found.interview_id is not None:
            try:
                record = store.load_interview(found.interview_id)
            except InterviewNotFound:
                return self._link_problem("invalid", 404)
            if record.status == "withdrawn":
                return self._link_problem("expired", 410)
            self._remember(qid, record.id, token)
        else:
            language = self._language(survey)
            loaded = self.runner.start(
                qid,
                mode=MODE,
                language=language,
                case_id=found.case_id,
                is_test=found.purpose == "test",
            )
            # Two devices opening a new link at once: the first attach wins and both continue it.
            attached = store.attach_token(found.id, loaded.record.id, now=now)
            self._remember(qid, attached, token)
        # The token leaves the address bar at once (and, with no-referrer, is never sent on).
        return redirect(cached_url(".page", qid=qid), 303)

    def submit(self, qid: str) -> Any:
        survey = self._survey(qid)
        # The snapshot this worker saved or showed last is nearly always current, and
        # the save below is a compare-and-set: a stale one is refused there (a resend
        # of a save that worked is recognised by its idempotency key first), so it
        # is not checked against the database here. Only when its revision is not
        # the form's is the interview read again before deciding the form is old.
        loaded = self._load(qid, recent=True)
        if loaded is None:
            return redirect(cached_url(".page", qid=qid), 303)
        form_state = self._read_form_state(loaded)
        if form_state.revision != loaded.record.revision:
            loaded = self._load(qid)
            if loaded is None:
                return redirect(cached_url(".page", qid=qid), 303)
        if loaded.state.finished:
            return redirect(cached_url(".page", qid=qid), 303)
        if form_state.revision != loaded.record.revision:
            return self._behind(qid, loaded, form_state)
        action = request.form.get("action", "continue")
        engine, state = loaded.engine, loaded.state
        now = self.runner.now()
        step = engine.current_step(state)
        if action == "back":
            if form_state.token != step.token or not step.can_go_back:
                return self._stale(qid)
            events = engine.back(state, now=now)
            return self._save_and_go(qid, loaded, form_state, events, step, "back")

        form = PageForm(step, request.form)
        answers, problems = form.answers()
        if problems:
            if action == "save_later":
                return self._save_later(qid, loaded)
            return self._render(survey, loaded, step, form, errors=problems)
        confirm: Any = ()
        if action == "confirm":
            confirm = self._confirmed(form)
        try:
            result = engine.submit(state, answers, now=now, token=form_state.token, confirm=confirm)
        except StaleSubmission:
            return self._stale(qid)
        except EngineError:
            return redirect(cached_url(".page", qid=qid), 303)
        if result.accepted:
            return self._save_and_go(qid, loaded, form_state, result.events, step, action)
        if action == "save_later":
            return self._save_later(qid, loaded)
        if result.errors and all(p.kind == "prompt" for p in result.errors):
            # The engine remembered the prompt (don't know is offered from now on): save that.
            try:
                saved = self.runner.save(
                    loaded,
                    result.events,
                    expected_revision=form_state.revision,
                    idempotency_key=form_state.nonce,
                )
            except StaleRevision:
                return self._stale(qid)
            if saved.replayed:  # the same form twice at once: the other request saved it
                loaded.record = self.runner.store.load_interview(loaded.record.id)
            step = engine.current_step(state)
            return self._render(
                survey, loaded, step, PageForm(step, request.form), prompts=result.errors
            )
        return self._render(
            survey, loaded, step, form, errors=result.errors, warnings=result.warnings
        )

    def language(self, qid: str) -> Any:
        survey = self._survey(qid)
        wanted = request.form.get("lang", "")
        if wanted not in survey.questionnaire.languages:
            abort(400)
        session["lang"] = wanted
        loaded = self._load(qid)
        if loaded is not None and not loaded.state.finished and loaded.state.language != wanted:
            events = loaded.engine.switch_language(loaded.state, wanted, now=self.runner.now())
            try:
                self.runner.save(loaded, events)
            except StaleRevision:
                pass  # saved elsewhere meanwhile: the page shows what is current
        return redirect(cached_url(".page", qid=qid), 303)

    def saved(self, qid: str) -> Any:
        survey = self._survey(qid)
        token = (session.get("saved") or {}).get(qid)
        if token is None:
            return redirect(cached_url(".page", qid=qid), 303)
        link = url_for(".token", token=token, _external=True)
        language = self._language(survey)
        return render_template("web/saved.html", **self._chrome(survey, language), link=link)

    def keepalive(self, qid: str) -> Response:
        self._survey(qid)
        return Response(status=204)

    # -- the parts --------------------------------------------------------------

    def _confirmed(self, form: PageForm) -> Any:
        """The warnings the respondent chose to accept, if the answers are still the warned ones."""
        try:
            warned = self._serializer().loads(request.form.get("warned", ""))
        except BadSignature:
            return ()
        if not isinstance(warned, dict) or warned.get("d") != _digest(form):
            return ()
        return set(warned.get("ids") or ())

    def _paradata(self, form_state: FormState, step: Step, action: str) -> list[NewEvent]:
        device = device_class(request.headers.get("User-Agent"))
        page = {"page": step.page_id, "visit": step.token, "device": device}
        shown_at = form_state.shown_at
        return [
            NewEvent(None, {"event": "shown", **page}, kind="paradata", at=shown_at),
            NewEvent(
                None,
                {"event": "submitted", "action": action, **page},
                kind="paradata",
                at=self.runner.now(),
            ),
        ]

    def _save_and_go(
        self,
        qid: str,
        loaded: Loaded,
        form_state: FormState,
        events: Any,
        step: Step,
        action: str,
    ) -> Any:
        try:
            result = self.runner.save(
                loaded,
                events,
                expected_revision=form_state.revision,
                idempotency_key=form_state.nonce,
                extra=self._paradata(form_state, step, action),
            )
        except StaleRevision:
            return self._stale(qid)
        except InterviewWithdrawn:
            self._forget(qid)
            return redirect(cached_url(".page", qid=qid), 303)
        if loaded.state.finished and not result.replayed:
            session["just_finished"] = loaded.record.id
        if action == "save_later":
            return self._save_later(qid, loaded)
        if not result.replayed:
            self.runner.keep(loaded)  # saved: the next page may reuse it
        return redirect(cached_url(".page", qid=qid), 303)

    def _save_later(self, qid: str, loaded: Loaded) -> Any:
        """Give the respondent a link that resumes on any device, and sign this browser out."""
        token = (session.get("tok") or {}).get(qid)
        if token is None:
            token = self.runner.store.issue_token(
                qid,
                interview_id=loaded.record.id,
                case_id=loaded.record.case_id,
                now=self.runner.now(),
            )
        session["saved"] = {**(session.get("saved") or {}), qid: token}
        self._forget(qid)
        return redirect(cached_url(".saved", qid=qid), 303)

    def _behind(self, qid: str, loaded: Loaded, form_state: FormState) -> Any:
        """A form rendered at an older revision: a resend of a save that worked, or a stale tab."""
        try:
            replayed = self.runner.replayed(
                loaded.record.id, revision=form_state.revision, idempotency_key=form_state.nonce
            )
        except InterviewWithdrawn:
            replayed = False
        if replayed:
            return redirect(cached_url(".page", qid=qid), 303)
        return self._stale(qid)

    def _stale(self, qid: str) -> Any:
        session["stale"] = True
        return redirect(cached_url(".page", qid=qid), 303)

    def _finished(self, survey: Survey, loaded: Loaded, step: Step) -> Any:
        """Thank you. Right after finishing, the end screen's own text; later, nothing from the answers."""
        just = session.pop("just_finished", None) == loaded.record.id
        language = loaded.state.language
        if just:
            end_text = step.questions[0].text if step.questions else None
            text = end_text or ui(language, "thanks_complete")
        else:
            text = ui(language, "thanks_done")
        return render_template("web/end.html", **self._chrome(survey, language), text=text)

    def _link_problem(self, kind: str, status: int) -> Any:
        language = session.get("lang") or "en"
        title = ui(language, f"link_{kind}_title")
        body = ui(language, f"link_{kind}")
        return render_template(
            "web/link_problem.html",
            title=title,
            body=body,
            t=lambda key, **kw: ui(language, key, **kw),
        ), status

    def _chrome(self, survey: Survey, language: str) -> dict[str, Any]:
        q = survey.questionnaire
        minutes = int(current_app.config["RESPONDENT_TIMEOUT_SECONDS"]) // 60
        return {
            "qid": survey.id,
            "survey_title": q.title.source(language, q.default_language),
            "language": language,
            "languages": [(code, LANGUAGE_NAMES.get(code, code)) for code in q.languages]
            if len(q.languages) > 1
            else [],
            "t": lambda key, **kw: ui(language, key, **kw),
            "timeout_minutes": minutes,
        }

    def _render(
        self,
        survey: Survey,
        loaded: Loaded,
        step: Step,
        form: PageForm,
        *,
        errors: list[Problem] = (),  # type: ignore[assignment]
        warnings: list[Problem] = (),  # type: ignore[assignment]
        prompts: list[Problem] = (),  # type: ignore[assignment]
        notice: str | None = None,
    ) -> Any:
        targets = problem_targets(step)
        by_key: dict[str, str] = {}
        summary = []
        for problem in [*errors, *prompts]:
            target = targets.get(problem.key, "main-content")
            summary.append((target, problem.message))
            by_key.setdefault(problem.key, problem.message)
        warned = None
        if warnings:
            warned = self._serializer().dumps({"ids": [w.id for w in warnings], "d": _digest(form)})
        language = loaded.state.language
        first = step.questions[0] if step.questions else None
        title = (_plain(first.text) if first is not None else "") or ui(language, "page_title_page")
        if len(title) > 80:
            title = title[:77].rstrip() + "..."
        if errors or prompts:
            title = f"{ui(language, 'error_prefix')}: {title}"
        config = current_app.config
        return render_template(
            "web/page.html",
            **self._chrome(survey, language),
            step=step,
            form=form,
            form_state=self._form_state(loaded, step),
            page_title=title,
            errors=errors,
            prompts=prompts,
            summary=summary,
            error_for=by_key,
            warnings=[(targets.get(w.key, "main-content"), w.message) for w in warnings],
            warned=warned,
            notice=notice,
            missing_options=missing_options,
            single=len(step.questions) == 1,
            percent=round(step.progress * 100),
            timeout_seconds=int(config["RESPONDENT_TIMEOUT_SECONDS"]),
            warning_seconds=int(config["TIMEOUT_WARNING_SECONDS"]),
        )


@functools.lru_cache(maxsize=8)
def _form_serializer(secret_key: str | bytes) -> URLSafeSerializer:
    """The form-state signer for a secret key, built once (it is used two or three times a page turn)."""
    return URLSafeSerializer(secret_key, salt="instrument-web-form")


def _open(qid: str) -> bool:
    """Whether anyone may start ``qid`` from its open link (``OPEN_LINKS``: True, False or ids)."""
    setting = current_app.config.get("OPEN_LINKS", True)
    if isinstance(setting, bool):
        return setting
    return qid in setting


def _digest(form: PageForm) -> str:
    return hashlib.sha256(json.dumps(form.raw_signature()).encode()).hexdigest()[:32]
