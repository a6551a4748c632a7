"""A "check your answers" page (``type: summary``), as the ONS runner has one per section.

The page lists each question of a section asked on this route with the answer
given, in words; each line carries the variable key a mode's change link jumps
to (:meth:`Engine.jump`). A jump from a summary is remembered
(``State.returning``): once the changed page is answered, the pages after it
that still hold answers are passed through without being shown again, back to
the summary, unless one of them now needs an answer (a question newly on the
route) or one of its checks fires with the new answer; then it is shown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from instrument.engine.context import Context
from instrument.engine.layout import Layout
from instrument.engine.routing import Router
from instrument.engine.state import State
from instrument.engine.steps import Event
from instrument.engine.wording import Wording
from instrument.model import Question, Variable
from instrument.values import DK, REFUSED

__all__ = ["AnswerLine", "Summaries", "carry_on_to_summary", "returning_to"]

PASSED_AT_MOST = 100_000
"""Pages passed on the way back to a summary at the most: every step moves on, so this only
guards against a mistake; a roster of loops inside loops can hold thousands of pages."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerLine:
    """One answer on a summary page."""

    key: str  # the variable key; a change link jumps to the page that asked it
    question: str  # the question (or grid row) as it was shown, fills filled in
    answer: str  # the answer in words: option labels, the number, the date, don't know


class Summaries:
    """Builds the lines of summary pages for one questionnaire's interviews."""

    def __init__(self, layout: Layout, wording: Wording, variables: Mapping[str, Variable]) -> None:
        self.q = layout.q
        self.layout = layout
        self.wording = wording
        self.variables = variables

    def lines(
        self,
        summary: Question,
        state: State,
        html: bool | None,
        words: tuple[str, str, str],
    ) -> tuple[AnswerLine, ...]:
        """The answers of ``summary``'s section on this route, in the order they were asked.

        ``words`` are don't know, refused and "not answered" in the interview's language.
        """
        section = summary.summary_of
        lines: list[AnswerLine] = []
        for visit in state.history[:-1]:
            found = self.layout.page_section.get(visit.page)
            if found is None or found.id != section:
                continue
            page = self.q.pages[visit.page]
            ctx = Context(self.variables, state, page.loop, visit.suffix)
            shown = set(visit.keys)
            for question in page.questions:
                lines.extend(self._question_lines(question, ctx, state, html, shown, words))
        return tuple(lines)

    def _question_lines(
        self,
        question: Question,
        ctx: Context,
        state: State,
        html: bool | None,
        shown: set[str],
        words: tuple[str, str, str],
    ) -> list[AnswerLine]:
        sfx = ctx.sfx
        if question.type == "grid":
            result = []
            for row in question.rows:
                key = row.id + sfx
                if key in shown:
                    text = self.wording.row_texts(question, row, ctx, state, html)[0]
                    answer = self._words(question, state.answers.get(key), state, words)
                    result.append(AnswerLine(key=key, question=text, answer=answer))
            return result
        key = question.id + sfx
        if not question.stores_value or key not in shown:
            return []
        text = self.wording.question_texts(question, ctx, state, html)[0] or question.label
        answer = self._words(question, state.answers.get(key), state, words)
        other = question.other_option
        if other is not None and _chose(state.answers.get(key), other.code):
            specified = state.answers.get(f"{question.id}_other{sfx}")
            if specified:
                answer = f"{answer}: {specified}"
        return [AnswerLine(key=key, question=text, answer=answer)]

    def _words(
        self, question: Question, value: Any, state: State, words: tuple[str, str, str]
    ) -> str:
        if value is DK:
            return words[0]
        if value is REFUSED:
            return words[1]
        if value is None or value == "" or value == ():
            return words[2]
        language, default = state.language, self.q.default_language
        if question.choices is not None:
            codes = value if isinstance(value, tuple) else (value,)
            labels = []
            for code in codes:
                option = question.choices.option(code)
                labels.append(option.label.source(language, default) if option else str(code))
            return ", ".join(labels)
        if isinstance(value, dt.date):
            return f"{value.day} {value:%B} {value.year}"
        if isinstance(value, float):
            return f"{value:,.{question.places}f}" if question.type == "decimal" else str(value)
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)


def _chose(value: Any, code: int) -> bool:
    return value == code or (isinstance(value, tuple) and code in value)


def returning_to(page: str, suffix: str | None) -> str:
    """``State.returning`` for a page in a loop's iteration: ``page@suffix``.

    A list's summary is its "anyone else?" page, asked once per person: a change
    made from person 3's must come back to person 3's, not stop at person 1's
    (already answered yes) on the way. ``@`` is in no id (see :mod:`instrument.names`).
    """
    return page if suffix is None else f"{page}@{suffix}"


def carry_on_to_summary(
    router: Router,
    layout: Layout,
    variables: Mapping[str, Variable],
    state: State,
    now: dt.datetime,
) -> list[Event]:
    """After a change made from a summary, pass the pages already answered, back to the summary.

    Stops at the summary or the list's summary page the change was made from (and
    forgets the return), at a page with a question not
    yet answered or whose checks fire, or at the end of the route.
    """
    events: list[Event] = []
    target = state.returning
    for _ in range(PASSED_AT_MOST):
        visit = state.current
        if (
            visit is None
            or state.outcome is not None
            or visit.page == target
            or returning_to(visit.page, visit.suffix) == target
        ):
            state.returning = None
            return events
        page = layout.q.pages[visit.page]
        if page.questions[0].type in ("end", "summary") or any(
            key not in state.answers for key in visit.keys
        ):
            return events  # this one is shown: the person carries on from here
        ctx = Context(variables, state, page.loop, visit.suffix)
        if visit.page in layout.checked_pages and any(
            check.condition.evaluate(ctx)
            for question in router.shown(page, ctx)
            for check in question.checks
        ):
            return events
        events.extend(router.move_on(state, visit.frames, now, ctx))
    return events
