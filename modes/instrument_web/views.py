"""The respondent's pages: a thin adapter between HTTP and the interview service.

Every view does the same few things: find the respondent's interview (its id
comes only from the signed session cookie, never from the URL), ask the
interview service to show, answer, go back or switch language, and turn the
outcome into a page or a redirect (POST/redirect/GET). Whether an answer
counts, and whether it was already saved, is the service's decision: see
:mod:`instrument.interviews.service`.

Every answer form carries a signed *form state* (the interview revision and
page visit it was rendered at, a nonce, when it was shown), which the service
gets as :class:`~instrument.interviews.Seen`: a double click or a resent form
records once (the nonce is the save's idempotency key), and a form from a
second tab that fell behind is refused without writing anything. Nothing is
written on GET, except carrying on in the web an interview begun in another mode.

The form state is also the answer form's CSRF token, so Flask-WTF's own check
is switched off for that one view (it stays on for every other form: start,
language, personal-link switch, staff). The form state does what a
synchronizer token does and more: it is signed with the app's secret key,
names the interview the session cookie holds (a form state of any other
interview is refused with 400), and carries a nonce used once. A page from
another site can neither read one nor make one.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, redirect, request, session, url_for

from instrument.engine import Step
from instrument.flask_support.form_state import FormState
from instrument.flask_support.step_forms import PageForm
from instrument.flask_support.urls import cached_url
from instrument.interviews import (
    RESPONDENT,
    Answers,
    InterviewInfo,
    LinkProblem,
    ModeContext,
    Rejected,
    Saved,
    Seen,
    Stale,
    Survey,
    Unavailable,
)
from instrument.ratelimit import RateLimiter
from instrument_web import browser
from instrument_web.devices import device_class
from instrument_web.messages import words_for
from instrument_web.pages import Pages, plain
from instrument_web.panel_views import register_panel_views

__all__ = ["create_blueprint"]

MODE = "web"
ACTOR = RESPONDENT  # who acts on the web: the respondent, as in every self-completion mode
ACTIONS = frozenset({"continue", "back", "confirm", "save_later"})
"""The buttons of the answer form; anything else is not a form of ours (400)."""

LIST_ACTIONS = frozenset({"change", "remove"})
"""The buttons of a list's summary, each with its target: change:<key>, remove:<list>:<person>."""


def create_blueprint(context: ModeContext) -> Blueprint:
    """The web mode's blueprint, bound to the host's interview service and clock."""
    bp = Blueprint(
        MODE,
        __name__,
        template_folder="templates",
        static_folder="static",
        static_url_path="/static",
    )
    views = _Views(context)

    bp.before_request(views.track_activity)
    bp.add_url_rule("/<qid>/", "page", views.page, methods=["GET"])
    bp.add_url_rule("/<qid>/", "submit", views.submit, methods=["POST"])
    bp.add_url_rule("/<qid>/start", "start", views.start, methods=["POST"])
    bp.add_url_rule("/<qid>/language", "language", views.language, methods=["POST"])
    bp.add_url_rule("/<qid>/saved", "saved", views.saved, methods=["GET"])
    bp.add_url_rule("/<qid>/keepalive", "keepalive", views.keepalive, methods=["GET"])
    bp.add_url_rule("/t/<token>", "token", views.token, methods=["GET", "POST"])
    register_panel_views(bp, context)  # /unsubscribe/<token>: a panel member's stop link
    bp.add_app_template_filter(plain, "plain")
    bp.record_once(lambda state: views.configure(state.app))
    return bp


class _Views:
    def __init__(self, context: ModeContext) -> None:
        self.context = context
        self.service = context.service
        self.pages = Pages()
        self.token_limiter = RateLimiter(20, 600)
        self.start_limiter = RateLimiter(30, 600)

    def configure(self, app: Any) -> None:
        """Read the limits from the app's config; exempt the answer view from Flask-WTF (see above)."""
        config = app.config
        self.token_limiter = RateLimiter(
            int(config.get("TOKEN_ATTEMPTS", 20)), float(config.get("TOKEN_WINDOW_SECONDS", 600))
        )
        self.start_limiter = RateLimiter(
            int(config.get("START_ATTEMPTS", 30)), float(config.get("START_WINDOW_SECONDS", 600))
        )
        csrf = app.extensions.get("csrf")
        if csrf is not None:
            csrf.exempt(self.submit)

    # -- helpers ----------------------------------------------------------------

    def _survey(self, qid: str) -> Survey:
        survey = self.context.survey(qid)
        if survey is None or MODE not in survey.questionnaire.modes:
            abort(404)
        return survey

    def _language(self, survey: Survey, wanted: str | None = None) -> str:
        q = survey.questionnaire
        for candidate in (wanted, request.args.get("lang"), session.get("lang")):
            if candidate in q.languages:
                return str(candidate)
        best = request.accept_languages.best_match(q.languages)
        return best or q.default_language

    def _page(self, qid: str) -> Response:
        return redirect(cached_url(".page", qid=qid), 303)

    def _current(self, qid: str) -> InterviewInfo | None:
        """The interview of ``qid`` this browser holds, if it still exists (else forgotten)."""
        interview_id = browser.interview_id(qid)
        if interview_id is None:
            return None
        about = self.service.about(interview_id)
        if isinstance(about, Unavailable) or about.questionnaire_id != qid:
            browser.forget(qid)
            return None
        return about

    def _client(self) -> dict[str, str]:
        return {"device": device_class(request.headers.get("User-Agent"))}

    # -- before every request ---------------------------------------------------

    def track_activity(self) -> None:
        if request.endpoint == f"{MODE}.static":
            return
        now = int(self.context.now().timestamp())
        browser.track_activity(now, int(current_app.config["RESPONDENT_TIMEOUT_SECONDS"]))

    # -- views ------------------------------------------------------------------

    def page(self, qid: str) -> Any:
        survey = self._survey(qid)
        interview_id = browser.interview_id(qid)
        now = self.context.now()
        shown = None
        if interview_id is not None:
            shown = self.service.show(interview_id, mode=MODE, actor=ACTOR, now=now)
            if isinstance(shown, Unavailable) or shown.interview.questionnaire_id != qid:
                browser.forget(qid)
                shown = None
        if shown is None:
            return self.pages.start_page(
                survey,
                self._language(survey),
                timed_out=session.pop("timed_out", False),
                open_link=_open(qid),
            )
        interview, step = shown.interview, shown.step
        if interview.finished:
            just = session.pop("just_finished", None) == interview.id
            return self.pages.end_page(survey, interview.language, step, just_finished=just)
        stale = session.pop("stale", False)
        notice = words_for(survey.questionnaire)(interview.language, "stale") if stale else None
        form_state = FormState.new(interview.id, interview.revision, step.token, now)
        return self.pages.question_page(
            survey, interview, step, PageForm(step), form_state, notice=notice
        )

    def start(self, qid: str) -> Any:
        survey = self._survey(qid)
        if self._current(qid) is None:
            if not _open(qid):
                abort(403)
            if not self.start_limiter.take(request.remote_addr or "unknown"):
                abort(429)
            language = self._language(survey, request.form.get("lang"))
            started = self.service.start(
                qid, mode=MODE, actor=ACTOR, now=self.context.now(), language=language
            )
            browser.remember(qid, started.interview.id)
        return self._page(qid)

    def token(self, token: str) -> Any:
        """A personal link: start or resume the interview it belongs to, on any device.

        When this browser is in the middle of another interview of the same
        questionnaire, the link asks before replacing it (a link opened from
        another site must not silently swap the respondent's interview); the
        answer comes back as a POST with the CSRF token.
        """
        address = request.remote_addr or "unknown"
        if not self.token_limiter.take(address):  # counted first; a link that works is given back
            abort(429)
        now = self.context.now()
        target = self.service.inspect_link(token, mode=MODE, now=now)
        if isinstance(target, LinkProblem):
            if target.reason == "invalid":
                return self.pages.link_problem(session.get("lang") or "en", "invalid"), 404
            self.token_limiter.give_back(address)
            return self.pages.link_problem(session.get("lang") or "en", "expired"), 410
        self.token_limiter.give_back(address)
        qid = target.questionnaire_id
        survey = self._survey(qid)
        session.pop("timed_out", None)
        current = self._current(qid)
        if (
            request.method == "GET"
            and current is not None
            and not current.finished
            and current.id != target.interview_id
        ):
            return self.pages.switch_page(survey, self._language(survey), token)
        opened = self.service.open_link(
            token, mode=MODE, actor=ACTOR, now=now, language=self._language(survey)
        )
        if isinstance(opened, LinkProblem):  # withdrawn or expired a moment ago
            words = words_for(survey.questionnaire)
            return self.pages.link_problem(self._language(survey), opened.reason, words), 410
        browser.remember(qid, opened.interview_id, token)
        # The token leaves the address bar at once (and, with no-referrer, is never sent on).
        return self._page(qid)

    def submit(self, qid: str) -> Any:
        survey = self._survey(qid)
        interview_id = browser.interview_id(qid)
        if interview_id is None:
            return self._page(qid)
        form_state = self.pages.read_form_state()
        if form_state is None or form_state.interview_id != interview_id:
            abort(400)
        seen = Seen(
            revision=form_state.revision,
            token=form_state.token,
            key=form_state.nonce,
            shown_at=form_state.shown_at,
        )
        action = request.form.get("action", "continue")
        kind, _, target = action.partition(":")  # change:<key>, remove:<list>:<person>
        if action not in ACTIONS and not (kind in LIST_ACTIONS and target):
            abort(400)
        now = self.context.now()
        if action == "back":
            moved = self.service.back(
                interview_id, seen, mode=MODE, actor=ACTOR, now=now, client=self._client()
            )
            return self._after(qid, survey, moved, action, None)
        if kind == "change":  # a person in a list's summary: back to their answers
            moved = self.service.jump(
                interview_id, seen, target, mode=MODE, actor=ACTOR, now=now, client=self._client()
            )
            return self._after(qid, survey, moved, kind, None)
        if kind == "remove":
            list_id, _, item = target.partition(":")
            moved = self.service.remove_item(
                interview_id, seen, list_id, item, mode=MODE, actor=ACTOR, now=now,
                client=self._client(),
            )  # fmt: skip
            return self._after(qid, survey, moved, kind, None)
        forms: list[PageForm] = []

        def read(step: Step) -> Answers:
            form = PageForm(step, request.form)
            forms.append(form)
            values, problems = form.answers(words_for(survey.questionnaire))
            confirmed = self.pages.confirmed(form) if action == "confirm" else ()
            return Answers(values, problems, confirmed)

        answered = self.service.answer(
            interview_id, seen, read, mode=MODE, actor=ACTOR, now=now, action=action,
            client=self._client(),
        )  # fmt: skip
        return self._after(qid, survey, answered, action, forms[0] if forms else None)

    def _after(
        self, qid: str, survey: Survey, outcome: Any, action: str, form: PageForm | None
    ) -> Any:
        """The response to an answer or a move, from the service's outcome."""
        if isinstance(outcome, Unavailable):
            browser.forget(qid)
            return self._page(qid)
        if isinstance(outcome, Stale):
            if not outcome.interview.finished:
                session["stale"] = True
            return self._page(qid)
        if isinstance(outcome, Saved):
            if outcome.interview.finished:
                session["just_finished"] = outcome.interview.id
            if action == "save_later":
                return self._save_later(qid, survey, outcome.interview.id)
            return self._page(qid)
        if isinstance(outcome, Rejected):
            if action == "save_later":
                return self._save_later(qid, survey, outcome.interview.id)
            interview, step = outcome.interview, outcome.step
            form_state = FormState.new(
                interview.id, interview.revision, step.token, self.context.now()
            )
            if outcome.prompts:
                form = PageForm(step, request.form)
            assert form is not None
            return self.pages.question_page(
                survey,
                interview,
                step,
                form,
                form_state,
                errors=outcome.errors,
                warnings=outcome.warnings,
                prompts=outcome.prompts,
            )
        return self._page(qid)  # Replayed: the first request saved it; show what is current

    def _save_later(self, qid: str, survey: Survey, interview_id: str) -> Any:
        """Give the respondent a link that resumes on any device, and sign this browser out.

        The link is shown in this response only: a signed cookie is readable
        at that browser, so it is never kept there.
        """
        token = browser.link_token(qid) or self.service.resume_link(
            interview_id, now=self.context.now()
        )
        browser.forget(qid)
        link = url_for(".token", token=token, _external=True)
        return self.pages.saved_page(survey, self._language(survey), link)

    def language(self, qid: str) -> Any:
        survey = self._survey(qid)
        wanted = request.form.get("lang", "")
        if wanted not in survey.questionnaire.languages:
            abort(400)
        session["lang"] = wanted
        interview_id = browser.interview_id(qid)
        if interview_id is not None:
            switched = self.service.switch_language(
                interview_id, wanted, mode=MODE, actor=ACTOR, now=self.context.now()
            )
            if isinstance(switched, Unavailable):
                browser.forget(qid)
        return self._page(qid)

    def saved(self, qid: str) -> Any:
        """Where "save and continue later" once led; the link is now shown only when it is made."""
        self._survey(qid)
        return self._page(qid)

    def keepalive(self, qid: str) -> Response:
        self._survey(qid)
        return Response(status=204)


def _open(qid: str) -> bool:
    """Whether anyone may start ``qid`` from its open link (``OPEN_LINKS``: True, False or ids)."""
    setting = current_app.config.get("OPEN_LINKS", True)
    if isinstance(setting, bool):
        return setting
    return qid in setting
