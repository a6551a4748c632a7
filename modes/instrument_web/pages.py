"""Turning the interview service's outcomes into HTML pages.

Every page that asks questions carries a signed *form state* (see
:mod:`instrument.flask_support.form_state`): the interview, revision and page visit it
was rendered at, a nonce for the save it makes, and when it was shown. Soft
warnings the respondent may accept travel in a second signed field,
``warned``, tied to a digest of the answers warned about, so a changed answer
is checked afresh.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from flask import current_app, render_template, request
from itsdangerous import BadSignature, URLSafeSerializer
from markupsafe import Markup

from instrument import catalogue
from instrument.engine import Problem, Step
from instrument.flask_support.form_state import BadFormState, FormState, FormStateSigner, signer_for
from instrument.flask_support.step_forms import PageForm, missing_options, problem_targets
from instrument.interviews import InterviewInfo, Survey
from instrument_web.messages import ui, words_for

__all__ = ["Pages", "plain"]


def plain(text: Any) -> str:
    """Question text without markup, for the page title."""
    return Markup(str(text)).striptags() if text else ""


class Pages:
    """The web mode's pages for one app (reads the app's config and secret key per request)."""

    # -- signed form fields ----------------------------------------------------

    @staticmethod
    def _signer() -> FormStateSigner:
        secret_key = current_app.config["SECRET_KEY"]
        if isinstance(secret_key, (str, bytes)):
            return signer_for(secret_key)
        return FormStateSigner(secret_key)  # e.g. a list of keys

    @staticmethod
    def _serializer() -> URLSafeSerializer:
        secret_key = current_app.config["SECRET_KEY"]
        if isinstance(secret_key, (str, bytes)):
            return _warned_serializer(secret_key)
        return URLSafeSerializer(secret_key, salt="instrument-web-form")

    def read_form_state(self) -> FormState | None:
        """The signed form state the browser sent back, or None if it is not one we signed."""
        try:
            return self._signer().loads(request.form.get("form_state", ""))
        except BadFormState:
            return None

    def confirmed(self, form: PageForm) -> Any:
        """The warnings the respondent chose to accept, if the answers are still the warned ones."""
        try:
            warned = self._serializer().loads(request.form.get("warned", ""))
        except BadSignature:
            return ()
        if not isinstance(warned, dict) or warned.get("d") != _digest(form):
            return ()
        return set(warned.get("ids") or ())

    # -- pages -------------------------------------------------------------------

    def chrome(self, survey: Survey, language: str) -> dict[str, Any]:
        """What every page of a questionnaire shows around its content."""
        q = survey.questionnaire
        words = words_for(q)
        minutes = int(current_app.config["RESPONDENT_TIMEOUT_SECONDS"]) // 60
        return {
            "qid": survey.id,
            "survey_title": q.title.source(language, q.default_language),
            "language": language,
            "languages": list(catalogue.language_names(q.languages).items())
            if len(q.languages) > 1
            else [],
            "t": lambda key, **kw: words(language, key, **kw),
            "timeout_minutes": minutes,
        }

    def question_page(
        self,
        survey: Survey,
        interview: InterviewInfo,
        step: Step,
        form: PageForm,
        form_state: FormState,
        *,
        errors: Sequence[Problem] = (),
        warnings: Sequence[Problem] = (),
        prompts: Sequence[Problem] = (),
        notice: str | None = None,
    ) -> str:
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
        language = interview.language
        first = step.questions[0] if step.questions else None
        words = words_for(survey.questionnaire)
        title = (plain(first.text) if first is not None else "") or words(
            language, "page_title_page"
        )
        if len(title) > 80:
            title = title[:77].rstrip() + "..."
        if errors or prompts:
            title = f"{words(language, 'error_prefix')}: {title}"
        config = current_app.config
        return render_template(
            "web/page.html",
            **self.chrome(survey, language),
            step=step,
            form=form,
            form_state=self._signer().dumps(form_state),
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

    def end_page(self, survey: Survey, language: str, step: Step, *, just_finished: bool) -> str:
        """Thank you. Right after finishing, the end screen's own text; later, nothing from the answers."""
        if just_finished:
            end_text = step.questions[0].text if step.questions else None
            text = end_text or words_for(survey.questionnaire)(language, "thanks_complete")
        else:
            text = words_for(survey.questionnaire)(language, "thanks_done")
        return render_template("web/end.html", **self.chrome(survey, language), text=text)

    def start_page(self, survey: Survey, language: str, *, timed_out: bool, open_link: bool) -> str:
        return render_template(
            "web/start.html",
            **self.chrome(survey, language),
            timed_out=timed_out,
            open_link=open_link,
        )

    def saved_page(self, survey: Survey, language: str, link: str) -> str:
        return render_template("web/saved.html", **self.chrome(survey, language), link=link)

    def switch_page(self, survey: Survey, language: str, token: str) -> str:
        """Asked before a personal link replaces another interview in progress in this browser."""
        return render_template("web/switch.html", **self.chrome(survey, language), token=token)

    @staticmethod
    def link_problem(language: str, kind: str, words: Callable[..., str] = ui) -> str:
        """A link that does not work, in ``words`` (the questionnaire's, when it is known)."""
        return render_template(
            "web/link_problem.html",
            title=words(language, f"link_{kind}_title"),
            body=words(language, f"link_{kind}"),
            language=language,
            t=lambda key, **kw: words(language, key, **kw),
        )


@functools.lru_cache(maxsize=8)
def _warned_serializer(secret_key: str | bytes) -> URLSafeSerializer:
    """The signer of accepted warnings for a secret key, built once."""
    return URLSafeSerializer(secret_key, salt="instrument-web-form")


def _digest(form: PageForm) -> str:
    return hashlib.sha256(json.dumps(form.raw_signature()).encode()).hexdigest()[:32]
