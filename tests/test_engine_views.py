"""The views the engine hands a mode: built by keyword, frozen, and shared where nothing is an interview's own."""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
from pathlib import Path

import pytest

from instrument.engine import Engine, OptionView, QuestionView, RowView, Step
from instrument.engine.steps import changed
from instrument.loader import require_questionnaire

DATA = Path(__file__).parent / "data"
NOW = dt.datetime(2026, 1, 15, 10, 0, tzinfo=dt.UTC)
VIEWS = (OptionView, RowView, QuestionView, Step)


def _examples() -> dict[type, object]:
    option = OptionView(code=1, label="Yes", spoken="Yes")
    row = RowView(key="r1", id="r1", text="Row", spoken="Row")
    question = QuestionView(
        key="q", id="q", type="single", text="Q?", spoken="Q?", options=(option,)
    )
    step = Step(
        kind="page", page_id="p", token="1", questions=(question,), progress=0.5, can_go_back=True
    )
    return {OptionView: option, RowView: row, QuestionView: question, Step: step}


@pytest.mark.parametrize("cls", VIEWS, ids=lambda c: c.__name__)
def test_views_are_frozen(cls: type) -> None:
    view = _examples()[cls]
    first = dataclasses.fields(view)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(view, first, "changed")
    with pytest.raises(dataclasses.FrozenInstanceError):
        delattr(view, first)


@pytest.mark.parametrize("cls", VIEWS, ids=lambda c: c.__name__)
def test_views_are_built_by_keyword_only(cls: type) -> None:
    fields = dataclasses.fields(cls)
    required = [f for f in fields if f.default is dataclasses.MISSING]
    with pytest.raises(TypeError):
        cls(*["x"] * len(required))


@pytest.mark.parametrize("cls", [QuestionView, Step], ids=lambda c: c.__name__)
def test_a_written_out_init_takes_exactly_the_fields_with_their_defaults(cls: type) -> None:
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert [p.name for p in parameters] == [f.name for f in dataclasses.fields(cls)]
    for parameter, field in zip(parameters, dataclasses.fields(cls), strict=True):
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
        expected = (
            inspect.Parameter.empty if field.default is dataclasses.MISSING else field.default
        )
        assert parameter.default == expected, field.name
    view = _examples()[cls]
    assert dataclasses.replace(view) == view
    assert {f.name: getattr(view, f.name) for f in dataclasses.fields(cls)} == vars(view)


def test_changed_is_replace_without_init() -> None:
    view = _examples()[QuestionView]
    assert isinstance(view, QuestionView)
    other = changed(view, value=1, offer_missing=True)
    assert other == dataclasses.replace(view, value=1, offer_missing=True)
    assert (view.value, view.offer_missing) == (None, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        other.value = 2  # type: ignore[misc]
    with pytest.raises(TypeError, match="no field 'colour'"):
        changed(view, colour="red")


@pytest.fixture(scope="module")
def mini() -> Engine:
    return Engine(require_questionnaire(DATA / "mini.yaml"))


def test_interviews_with_nothing_of_their_own_share_one_view(mini: Engine) -> None:
    first = mini.start(now=NOW, seed=1)
    second = mini.start(now=NOW, seed=2)
    a, b = mini.current_step(first), mini.current_step(second)
    assert a.page_id == b.page_id
    assert all(x is y for x, y in zip(a.questions, b.questions, strict=True))
    view = a.questions[0]
    assert view.key
    answer = view.options[0].code if view.options else "x"
    first.answers[view.key] = answer  # as a stored answer, shown again after going back
    own = mini.current_step(first).questions[0]
    assert own is not view and own.value == answer
    assert dataclasses.replace(own, value=None) == view
    assert mini.current_step(second).questions[0] is view and view.value is None
