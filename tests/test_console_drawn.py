"""The script page's kept drawings of questions (modes/instrument_phone/console/drawn.py).

A question drawn for a plain GET is kept and given again while its view, the
interviewer's language and its autofocus are the same. These tests hold
what must never follow from that: an answer changed since is shown changed,
one interview's answer never appears on another's page, and a page shown
with problems or with what was posted is drawn afresh each time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import html
from phone_console_helpers import Interviewer, console_with_cases

from instrument.engine import OptionView, QuestionView, Step
from instrument.engine.steps import RowView
from instrument.flask_support.step_forms import PageForm
from instrument_phone.console.drawn import QuestionDrawings
from instrument_phone.console.words import word_table


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    with console_with_cases(tmp_path / "drawn.db", "c1", "c2") as app:
        yield app


def _at_parent(who: Interviewer) -> None:
    """Take a case, dial by hand and go to the flagship's question 'parent'."""
    who.next_case()
    who.post(who.attempt_path + "dial", {"rank": "1"})
    who.get(who.attempt_path + "script")
    who.answer({})  # the introduction
    assert "parent" in who.asked()


def test_an_answer_changed_since_a_question_was_kept_is_shown_changed(app: Any) -> None:
    ivy = Interviewer(app)
    ivy.sign_in()
    _at_parent(ivy)
    ivy.answer({"parent": "1"})
    ivy.answer({"n_children": "2"})
    page = ivy.answer({}, action="back")
    assert page.value("n_children") == "2"
    checked = ivy.answer({"n_children": "3"})  # the panel said 2: a soft check first
    assert checked.status == 422 and checked.warnings
    ivy.answer({"n_children": "3"}, action="confirm")
    page = ivy.answer({}, action="back")
    assert page.value("n_children") == "3"
    again = ivy.get(ivy.attempt_path + "script")  # the same view again: the kept drawing
    assert again.value("n_children") == "3" and again.text() == page.text()


def test_one_interviews_answer_never_shows_on_anothers_page(app: Any) -> None:
    ivy = Interviewer(app)
    ivy.sign_in()
    _at_parent(ivy)
    ivy.answer({"parent": "1"})
    assert ivy.answer({}, action="back").checked("parent") == ["1"]
    ivy.get(ivy.attempt_path + "end")
    ivy.post(ivy.attempt_path + "end", {"outcome": "partial"})
    _at_parent(ivy)  # the next case: the same question, not answered yet
    assert ivy.page is not None and ivy.page.checked("parent") == []


def test_a_page_with_problems_is_drawn_afresh_and_the_plain_page_after_it_too(app: Any) -> None:
    ivy = Interviewer(app)
    ivy.sign_in()
    _at_parent(ivy)
    plain = ivy.get(ivy.attempt_path + "script")
    rejected = ivy.answer({})  # no answer to a required question
    assert rejected.status == 422 and rejected.tree.xpath("//*[contains(@class, 'error-message')]")
    assert rejected.tree.xpath("//input[@autofocus]") == []  # the error summary takes the focus
    shown = ivy.get(ivy.attempt_path + "script")
    assert not shown.tree.xpath("//*[contains(@class, 'error-message')]")
    assert shown.text() == plain.text()


def _question(value: Any) -> QuestionView:
    options = tuple(OptionView(code=c, label=f"L{c}", spoken=f"S{c}") for c in (1, 2, 3))
    return QuestionView(
        key="pick", id="pick", type="multi", text="Pick", spoken="Pick", options=options,
        value=value,
    )  # fmt: skip


def test_a_view_that_cannot_be_hashed_is_drawn_each_time() -> None:
    calls: list[Any] = []

    def macro(sq: Any, *_rest: Any) -> str:
        calls.append(sq.view.value)
        return f"<p>{sq.view.value}</p>"

    drawings = QuestionDrawings()
    common = {"language": "en", "words": None, "first": True, "error_for": {}}
    common["form"] = lambda: None
    listed = [_question([1, 2])]  # an answer held as a list
    for _ in range(2):
        drawings.draw(macro, listed, plain=True, posted={}, **common)
    kept = [_question((1, 2))]
    for _ in range(2):
        assert drawings.draw(macro, kept, plain=True, posted={}, **common) == ["<p>(1, 2)</p>"]
    drawings.draw(macro, kept, plain=False, posted={}, **common)  # not plain: drawn afresh
    assert calls == [[1, 2], [1, 2], (1, 2), (1, 2)]


def test_the_form_is_made_only_when_a_question_is_drawn() -> None:
    made: list[int] = []

    def form() -> str:
        made.append(1)
        return "form"

    def macro(sq: Any, shown_form: Any, *_rest: Any) -> str:
        assert shown_form == "form"
        return f"<p>{sq.view.value}</p>"

    drawings = QuestionDrawings()
    common = {"language": "en", "words": None, "first": True, "error_for": {}, "posted": {}}
    views = [_question((1,)), _question((2,))]
    assert drawings.draw(macro, views, form=form, plain=True, **common) == [
        "<p>(1,)</p>",
        "<p>(2,)</p>",
    ]
    assert made == [1]  # once for the page, not once a question
    assert drawings.draw(macro, views, form=form, plain=True, **common) == [
        "<p>(1,)</p>",
        "<p>(2,)</p>",
    ]
    assert made == [1]  # every question kept: no form made


def _grid(order: tuple[int, ...], values: dict[int, Any]) -> QuestionView:
    """A grid of four rows shown in ``order`` (as a randomised grid is), with ``values`` answered."""
    options = tuple(OptionView(code=c, label=f"L{c}", spoken=f"S{c}") for c in (1, 2, 3))
    rows = tuple(
        RowView(key=f"g_{n}", id=f"g_{n}", text=f"Row {n}", spoken=f"Row {n} read",
                value=values.get(n))
        for n in order
    )  # fmt: skip
    return QuestionView(
        key="", id="g", type="grid", text="Grid", spoken="Grid read", options=options, rows=rows
    )


def _plain_page(app: Any, view: QuestionView, drawings: QuestionDrawings, **how: Any) -> str:
    """The markup of a plain script page asking ``view``, drawn with the console's template."""
    step = Step(kind="page", page_id="p", token="t", questions=(view,), progress=0.5,
                can_go_back=True)  # fmt: skip
    with app.test_request_context("/"):
        macros: Any = app.jinja_env.get_template("phone/_script.html").module
        return "".join(
            drawings.draw(
                macros.question, [view], form=lambda: PageForm(step), language="en",
                words=word_table("en"), first=True, error_for={}, posted={}, **how,
            )
        )  # fmt: skip


def test_a_grids_rows_are_kept_by_row_and_the_grid_drawn_as_it_would_be_whole(app: Any) -> None:
    """Kept rows put together give the markup of the grid drawn in one piece, in any row order
    (a randomised grid); a row is drawn again only when its answer or its autofocus differs."""
    drawn_rows: list[str] = []

    def choice_list(name: str, *rest: Any) -> Any:  # the template's own macro, counted
        drawn_rows.append(name)
        return app.jinja_env.get_template("phone/_script.html").module.choice_list(name, *rest)

    kept = QuestionDrawings()
    for order, values, drawn_again in (
        ((1, 2, 3, 4), {2: 3}, ["g_1", "g_2", "g_3", "g_4"]),
        ((3, 1, 4, 2), {2: 3}, ["g_3", "g_1"]),  # the autofocus moved from row 1 to row 3
        ((1, 4, 3, 2), {2: 1}, ["g_2"]),  # row 2 answered otherwise
    ):
        before = len(drawn_rows)
        view = _grid(order, values)
        shown = _plain_page(app, view, kept, plain=True, row_macro=choice_list)
        assert drawn_rows[before:] == drawn_again, order
        assert shown == _plain_page(app, view, QuestionDrawings(), plain=False)  # drawn whole
        tree = html.fromstring(shown)
        legends = [" ".join(t.text_content().split()) for t in tree.xpath("//legend")[1:]]
        assert legends == [f"Read out {i}. Row {n} read" for i, n in enumerate(order, start=1)]
        assert tree.xpath("//input[@name='g_2'][@checked]/@value") == [str(values[2])]
        assert tree.xpath("//input[@autofocus]/@name") == [f"g_{order[0]}"]
