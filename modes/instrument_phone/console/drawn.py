"""A script page's questions drawn once, and drawn again only when something shown differs.

The script page is drawn on every page turn, and drawing its questions (the
``question`` macro of ``phone/_script.html``: every choice with its key, its
read-out and screen wording, the note box) was most of what a console page
turn cost beyond the web's. Fifty interviewers reading the same questionnaire
draw the same questions over and over, so a question drawn for a plain GET is
kept and given again while everything it is drawn from is equal:

* the engine's :class:`~instrument.engine.QuestionView`, which holds the
  question's filled wording, its options and rows, and the answer it already
  has (what a GET shows ticked or typed comes only from it);
* the interviewer's language (the console's words) and whether the question
  gets the page's autofocus;
* the template itself (a reloaded template starts afresh).

A question is laid out for the interviewer (:func:`~instrument_phone.console.script.script_question`)
and the page's form made only when a question has to be drawn: a plain page
whose questions are all kept needs neither (building the form of a step cost
as much as a fifth of a page turn).

A grid is drawn row by row when it has to be drawn: each row's choice list
(the template's ``choice_list``: every choice with its key, and the row's
answer ticked) is kept by the row's variable and answer, the grid's choices,
the language and the autofocus, apart from the grid. A grid whose rows are
shown in a random order (as the flagship's are) is a new view in nearly
every interview, so kept whole it was drawn afresh each time, its rows times
its choices; kept by row, only its frame and the rows' legends are drawn
(the legend numbers the row where it stands).

A page shown again with problems, or with what was posted (a rejected answer,
a soft check), is drawn afresh every time: what was typed and the messages
are not part of the key. A question whose view cannot be hashed (an answer
held as a list) is drawn afresh too. The kept markup is what the macro gave
for that very key, so two interviews share it only when they would have been
drawn the same; the table is small and per process, like the interview
service's cache of snapshots, which holds the same answers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from markupsafe import Markup

from instrument.engine import QuestionView
from instrument_phone.console.script import ScriptQuestion, script_question

__all__ = ["KEEP", "QuestionDrawings"]

KEEP = 1024
"""Questions kept per process (a questionnaire has some hundreds, in one or two languages)."""

Draw = Callable[..., Any]
"""The template's ``question`` macro: (sq, form, error_for, posted, w, first[, rows_drawn]) -> markup."""
DrawRow = Callable[..., Any]
"""The template's ``choice_list`` macro: (name, choices, kind, form, w, other_key, other_value,
first) -> markup."""


class QuestionDrawings:
    """Drawn questions of plain script pages, by what they are drawn from (see the module)."""

    def __init__(self, keep: int = KEEP) -> None:
        self._keep = keep
        self._drawn: dict[tuple[Any, ...], Markup] = {}
        self._lock = threading.Lock()

    def draw(
        self,
        macro: Draw,
        views: Sequence[QuestionView],
        *,
        form: Callable[[], Any],
        language: str,
        words: Any,
        first: bool,
        plain: bool,
        error_for: dict[str, str],
        posted: Any,
        row_macro: DrawRow | None = None,
    ) -> list[Markup]:
        """Each question's markup; kept ones given again when ``plain`` (a GET without problems).

        ``form`` gives the page's form, asked for once and only if a question
        is drawn; ``first``: whether the page's first question takes the autofocus.
        ``row_macro``: the template's ``choice_list``, with which a grid drawn for a
        plain page is drawn row by row, its rows kept (None: grids drawn whole).
        """
        drawn = []
        made: list[Any] = []

        def page_form() -> Any:
            if not made:
                made.append(form())
            return made[0]

        for index, view in enumerate(views):
            focus = first and index == 0
            key = self._key(macro, view, language, focus) if plain else None
            found = None if key is None else self._drawn.get(key)
            if found is None:
                question = script_question(view)
                rows = None
                if key is not None and row_macro is not None and view.type == "grid" and view.rows:
                    rows = self._rows(row_macro, question, page_form, language, words, focus)
                found = Markup(
                    macro(question, page_form(), error_for, posted, words, focus, rows)
                    if rows is not None
                    else macro(question, page_form(), error_for, posted, words, focus)
                )
                if key is not None:
                    self._put(key, found)
            drawn.append(found)
        return drawn

    def _rows(
        self,
        row_macro: DrawRow,
        question: ScriptQuestion,
        form: Callable[[], Any],
        language: str,
        words: Any,
        focus: bool,
    ) -> list[Markup] | None:
        """A plain grid's rows' choice lists, each kept by what it is drawn from (None: a row's
        answer cannot be hashed, so the grid is drawn whole)."""
        rows = []
        for index, row in enumerate(question.view.rows):
            row_focus = focus and index == 0
            key = ("row", row_macro, language, row_focus, row.key, row.value, question.choices)
            try:
                found = self._drawn.get(key)
            except TypeError:  # an answer held in a list
                return None
            if found is None:
                found = Markup(
                    row_macro(
                        row.key, question.choices, "radio", form(), words, None, "", row_focus
                    )
                )
                self._put(key, found)
            rows.append(found)
        return rows

    @staticmethod
    def _key(macro: Draw, view: QuestionView, language: str, focus: bool) -> Any:
        key = (macro, language, focus, view)
        try:
            hash(key)
        except TypeError:  # an answer held in a list: drawn afresh
            return None
        return key

    def _put(self, key: tuple[Any, ...], markup: Markup) -> None:
        with self._lock:
            if len(self._drawn) >= self._keep:
                self._drawn.clear()
            self._drawn[key] = markup
