"""The script screens: the case's interview, run in mode ``cati`` through the interview service.

Each page is the engine's current step laid out for reading aloud
(:mod:`instrument_phone.console.script`) in a plain HTML form whose fields the
shared step form reads (:class:`~instrument.flask_support.step_forms.PageForm`),
so an answer keyed here reaches the engine exactly as one ticked on the web.
JavaScript only adds the keys (numbers, D, R, Enter); without it the form is
used with Tab, the arrow keys and the space bar.

Like the web, every answer form carries a signed form state (revision, page
visit, a nonce): the nonce is the save's idempotency key, so a double press of
Enter or a resent form records once, and a form from a second tab that fell
behind writes nothing (:class:`~instrument.interviews.Stale`). Soft checks the
interviewer accepted travel in a signed field tied to the answers warned about.
The per-question notes are recorded with the page turn, as paradata of that page.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flask import abort, current_app, redirect, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer

from instrument.engine import Problem, Step
from instrument.fieldwork import Disposition
from instrument.flask_support.form_state import (
    BadFormState,
    FormState,
    FormStateSigner,
    signer_for,
)
from instrument.flask_support.step_forms import PageForm, problem_targets
from instrument.flask_support.urls import cached_url
from instrument.interviews import Answers, InterviewInfo, Rejected, Seen, Shown, Stale, Unavailable
from instrument_phone import MODE_NAME
from instrument_phone.console.drawn import QuestionDrawings
from instrument_phone.console.recording_views import consent_first
from instrument_phone.console.script import jump_targets, notes_from, paradata
from instrument_phone.console.words import interviewer_language, word_table, words

if TYPE_CHECKING:
    from instrument_phone.console.views import Console

__all__ = ["ScriptViews"]

ACTIONS = frozenset({"continue", "confirm", "back", "jump"})


class ScriptViews:
    """GET shows the interview's current page; POST answers it, goes back or jumps."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.service = console.context.service
        self.drawings = QuestionDrawings()

    def _shown(self, attempt_id: int) -> Shown | Any:
        """The interview's current step, or the response that replaces the page."""
        if not self.console.still_held(attempt_id):
            return self.console.gone(attempt_id)
        interview_id = self.console.interview_of(attempt_id)
        shown = self.service.show(
            interview_id, mode=MODE_NAME, actor=self.console.me, now=self.console.now()
        )
        if isinstance(shown, Unavailable):
            self.console.tell("interview_gone")
            return redirect(url_for(".case", attempt_id=attempt_id), 303)
        return shown

    def page(self, attempt_id: int) -> Any:
        if (consent := consent_first(self.console, attempt_id)) is not None:
            return consent  # the study records: the consent question comes first
        shown = self._shown(attempt_id)
        if not isinstance(shown, Shown):
            return shown
        return self._render(attempt_id, shown.interview, shown.step, None)

    def earlier(self, attempt_id: int) -> Any:
        """The questions answered so far, most recent first, each a button that goes back to it."""
        shown = self._shown(attempt_id)
        if not isinstance(shown, Shown):
            return shown
        interview, step = shown.interview, shown.step
        survey = self.console.context.survey(interview.questionnaire_id)
        if survey is None or interview.finished or not step.can_go_back:
            return redirect(url_for(".script", attempt_id=attempt_id), 303)
        state = FormState.new(interview.id, interview.revision, step.token, self.console.now())
        snapshot = self.service.load(interview.id)
        case_id, _ = self.console.taken_case(attempt_id)
        return self.console.render(
            "phone/earlier.html", page_title=self.console.say()("jump_title"), case_id=case_id,
            attempt_id=attempt_id, targets=jump_targets(snapshot.state, survey.questionnaire),
            form_state=self._signer().dumps(state),
        )  # fmt: skip

    def submit(self, attempt_id: int) -> Any:
        if not self.console.still_held(attempt_id):
            return self.console.gone(attempt_id)
        interview_id = self.console.interview_of(attempt_id)
        state = self._form_state()
        if state is None or state.interview_id != interview_id:
            abort(400)
        action = request.form.get("action", "continue")
        if action not in ACTIONS:
            abort(400)
        seen = Seen(revision=state.revision, token=state.token, key=state.nonce,
                    shown_at=state.shown_at)  # fmt: skip
        me, now = self.console.me, self.console.now()
        client = paradata(notes_from(request.form))
        if action == "back":
            outcome: Any = self.service.back(
                interview_id, seen, mode=MODE_NAME, actor=me, now=now, client=client
            )
        elif action == "jump":
            target = request.form.get("jump_to", "")
            outcome = self.service.jump(
                interview_id, seen, target, mode=MODE_NAME, actor=me, now=now, client=client
            )
        else:
            _, questionnaire_id = self.console.taken_case(attempt_id)
            survey = self.console.context.survey(questionnaire_id)
            say = survey.questionnaire.interface_texts.domain("phone").text if survey else None

            def read(step: Step) -> Answers:
                form = PageForm(step, request.form)
                values, problems = form.answers(say or words("en"))
                confirmed = self._confirmed(form) if action == "confirm" else ()
                return Answers(values, problems, confirmed)

            outcome = self.service.answer(
                interview_id, seen, read, mode=MODE_NAME, actor=me, now=now,
                action=action, client=client,
            )  # fmt: skip
        if isinstance(outcome, Unavailable):
            self.console.tell("interview_gone")
            return redirect(url_for(".case", attempt_id=attempt_id), 303)
        if isinstance(outcome, Stale):
            self.console.tell("stale")
        if isinstance(outcome, Rejected):
            return self._render(
                attempt_id, outcome.interview, outcome.step,
                PageForm(outcome.step, request.form), errors=[*outcome.errors, *outcome.prompts],
                warnings=outcome.warnings,
            ), 422  # fmt: skip
        return redirect(cached_url(".script", attempt_id=attempt_id), 303)

    # -- signed fields -------------------------------------------------------------

    @staticmethod
    def _secret() -> Any:
        return current_app.config["SECRET_KEY"]

    def _signer(self) -> FormStateSigner:
        """The form state's signer, built once per secret key (as the web's is), not per request."""
        secret = self._secret()
        if isinstance(secret, (str, bytes)):
            return signer_for(secret)
        return FormStateSigner(secret)  # e.g. a list of keys

    def _form_state(self) -> FormState | None:
        try:
            return self._signer().loads(request.form.get("form_state", ""))
        except BadFormState:
            return None

    def _warned(self) -> URLSafeSerializer:
        secret = self._secret()
        if isinstance(secret, (str, bytes)):
            return _warned_serializer(secret)
        return URLSafeSerializer(secret, salt=_WARNED_SALT)

    def _confirmed(self, form: PageForm) -> Any:
        """The soft checks the interviewer accepted, while the answers are still the warned ones."""
        try:
            warned = self._warned().loads(request.form.get("warned", ""))
        except BadSignature:
            return ()
        if not isinstance(warned, dict) or warned.get("d") != _digest(form):
            return ()
        return set(warned.get("ids") or ())

    # -- the page --------------------------------------------------------------------

    def _render(
        self,
        attempt_id: int,
        interview: InterviewInfo,
        step: Step,
        form: PageForm | None,
        *,
        errors: Sequence[Problem] = (),
        warnings: Sequence[Problem] = (),
    ) -> str:
        """The page; ``form`` None: the step's own answers, a form made only if a question is drawn."""
        survey = self.console.context.survey(interview.questionnaire_id)
        if survey is None:
            abort(404)
        say = self.console.say()
        case_id, _ = self.console.taken_case(attempt_id)
        if step.kind == "end" or interview.finished:
            return self.console.render(
                "phone/finished.html", page_title=say("finished_title"), case_id=case_id,
                attempt_id=attempt_id, step=step, quick=self._outcome_of_finished(interview),
            )  # fmt: skip
        targets = problem_targets(step) if errors or warnings else {}
        state = FormState.new(interview.id, interview.revision, step.token, self.console.now())
        warned = None
        if warnings:
            assert form is not None  # warnings come only with what was posted
            warned = self._warned().dumps({"ids": [w.id for w in warnings], "d": _digest(form)})
        page_title = say("script_title", case=case_id)
        if errors:
            page_title = f"{say('error_prefix')}: {page_title}"
        error_for = {p.key: p.message for p in errors}
        language = interviewer_language()
        macros: Any = current_app.jinja_env.get_template("phone/_script.html").module
        drawn = self.drawings.draw(
            macros.question,
            step.questions, form=(lambda: PageForm(step)) if form is None else (lambda: form),
            language=language, words=word_table(language), first=not errors and not warnings,
            plain=(form is None or not form.submitted) and not errors and not warnings,
            error_for=error_for, posted=request.form, row_macro=macros.choice_list,
        )  # fmt: skip
        return self.console.render(
            "phone/script.html", page_title=page_title, case_id=case_id,
            attempt_id=attempt_id, step=step, drawn=drawn,
            form_state=self._signer().dumps(state),
            errors=[(targets.get(p.key, "script"), p.message) for p in errors],
            warnings=[(targets.get(w.key, "script"), w.message) for w in warnings],
            warned=warned,
            interview_language=interview.language, percent=round(step.progress * 100),
        )  # fmt: skip

    def _outcome_of_finished(self, interview: InterviewInfo) -> Disposition | None:
        """The outcome a finished interview is coded with in one press, if the study has it.

        A complete interview is a complete; one the questionnaire screened out
        is "not eligible". Anything else (an appointment, a note, another
        outcome) is the end-of-call page's, one link away.
        """
        code = _FINISHED_OUTCOMES.get(interview.status)
        table = self.console.queue.settings_for(interview.questionnaire_id).dispositions
        found = table.get(code) if code is not None else None
        return None if found is None or found.needs_appointment else found


_WARNED_SALT = "instrument-phone-warned"


@functools.lru_cache(maxsize=8)
def _warned_serializer(secret_key: str | bytes) -> URLSafeSerializer:
    """The signer of accepted soft checks for a secret key, built once."""
    return URLSafeSerializer(secret_key, salt=_WARNED_SALT)


_FINISHED_OUTCOMES = {"complete": "complete", "screened_out": "not_eligible"}
"""A finished interview's status -> the outcome its call is coded with on the finished page."""


def _digest(form: PageForm) -> str:
    """What the warned answers were, so a changed answer is checked afresh."""
    return hashlib.sha256(json.dumps(form.raw_signature()).encode()).hexdigest()[:32]
