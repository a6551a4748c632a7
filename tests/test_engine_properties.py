"""Properties of the engine over random respondents.

A random respondent (drawn by hypothesis) is driven through ``tests/data/mini.yaml``
and the flagship ``questionnaires/social_licence.yaml``: random seed, mode,
language and case data, and on every page random answers, don't know, refusals
and skips, retried until the page is accepted. The properties:

1. a page never shows a question whose ``when`` is false (nor leaves out one
   whose ``when`` is true), judged by an oracle that evaluates the
   questionnaire's compiled expressions over the answers the respondent gave,
   without the engine's own routing;
2. going back and re-submitting the same answers returns the same step;
3. the state survives a JSON round trip at every step, and a restored state
   carries on exactly like the original;
4. the same seed and the same answers give the same interview;
5. whatever values arrive under whatever keys, the engine raises nothing but
   :class:`EngineError` subclasses.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from instrument.engine import Engine, EngineError, State, Step
from instrument.engine.steps import QuestionView, SubmitResult
from instrument.loader import load_questionnaire
from instrument.model import Block, Loop, Page, Questionnaire, Section
from instrument.values import DK, REFUSED, is_missing

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {
    "mini": ROOT / "tests" / "data" / "mini.yaml",
    "social_licence": ROOT / "questionnaires" / "social_licence.yaml",
}
NOW = dt.datetime(2026, 1, 15, 10, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
MAX_ACTIONS = 400
MAX_MOVES = 4  # backs and jumps per interview: enough to exercise them, few enough to finish
PROPERTY = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)

_engines: dict[str, Engine | str] = {}


def engine_for(name: str) -> Engine:
    """The engine for one questionnaire; skip when the file does not load cleanly (it may be mid-edit)."""
    if name not in _engines:
        loaded = load_questionnaire(SOURCES[name])
        if loaded.questionnaire is None:
            first = loaded.errors[0] if loaded.errors else "unreadable"
            _engines[name] = f"{SOURCES[name].name} does not load without errors: {first}"
        else:
            _engines[name] = Engine(loaded.questionnaire)
    found = _engines[name]
    if isinstance(found, str):
        pytest.skip(found)
    return found


names = pytest.mark.parametrize("name", sorted(SOURCES))


# ------------------------------------------------------------------ the respondent


@dataclass
class Action:
    """One call a respondent made, enough to replay it."""

    kind: str  # submit | back | jump
    at: dt.datetime
    answers: dict[str, Any] = field(default_factory=dict)
    confirm: Any = ()
    key: str = ""


def start_args(draw: Callable[..., Any], q: Questionnaire) -> dict[str, Any]:
    case: dict[str, Any] = {}
    for preload in q.preload:
        if draw(st.booleans()):
            continue
        if preload.type == "single" and preload.choices is not None:
            case[preload.id] = draw(st.sampled_from([o.code for o in preload.choices.options]))
        elif preload.type == "integer":
            case[preload.id] = draw(st.integers(0, 12))
        elif preload.type == "decimal":
            case[preload.id] = draw(st.floats(0, 100, allow_nan=False))
        elif preload.type == "date":
            case[preload.id] = draw(st.dates(dt.date(1950, 1, 1), TODAY))
        else:
            case[preload.id] = draw(st.text(max_size=8))
    return {
        "seed": draw(st.integers(0, 2**31)),
        "mode": draw(st.sampled_from(q.modes)),
        "language": draw(st.sampled_from(q.languages)),
        "case": case,
    }


def _bound(value: Any) -> Any:
    return TODAY if value == "today" else value


def valid_value(draw: Callable[..., Any], view: QuestionView) -> Any:
    """Something a person could sensibly enter for this question (it may still break a check)."""
    kind = view.type
    codes = [o.code for o in view.options]
    if kind in ("single", "yesno", "grid"):  # a grid is answered one code per row
        # the first option half the time, so screeners (usually "yes" first) let most respondents in
        return draw(st.sampled_from(codes[:1]) | st.sampled_from(codes))
    if kind == "multi":
        chosen = draw(
            st.lists(st.sampled_from(codes), min_size=1, max_size=len(codes), unique=True)
        )
        exclusive = {o.code for o in view.options if o.exclusive}
        if len(chosen) > 1:
            chosen = [c for c in chosen if c not in exclusive] or chosen[:1]
        return [str(c) for c in chosen] if draw(st.booleans()) else chosen
    if kind == "integer":
        low = view.min if view.min is not None else -3
        high = view.max if view.max is not None else low + 40
        number = draw(st.integers(low, min(high, low + 12)) | st.integers(low, high))
        return str(number) if draw(st.booleans()) else number
    if kind == "decimal":
        scale = 10 ** (view.places or 0)
        low = view.min if view.min is not None else -10
        high = view.max if view.max is not None else low + 100
        units = draw(st.integers(int(low * scale) + 1, int(high * scale) - 1))
        return f"{units / scale:.{view.places or 0}f}"
    if kind in ("text", "long_text"):
        text = "x" + draw(st.text(st.sampled_from("ab <>&'\"é\n"), max_size=19))
        return text[: view.max_length or 20]
    if kind == "date":
        low = _bound(view.min) or dt.date(1900, 1, 1)
        high = _bound(view.max) or dt.date(2100, 1, 1)
        day = draw(st.dates(low, high))
        form = draw(st.integers(0, 2))
        if form == 0:
            return day
        if form == 1:
            return day.isoformat()
        return {"day": str(day.day), "month": str(day.month), "year": str(day.year)}
    raise AssertionError(f"no answer for a {kind}")


def answer_one(draw: Callable[..., Any], view: QuestionView) -> Any:
    roll = draw(st.integers(0, 11))
    if roll == 0:
        return ""
    if roll == 1:
        return DK
    if roll == 2:
        return REFUSED
    return valid_value(draw, view)


def page_answers(draw: Callable[..., Any], step: Step, *, careful: bool) -> dict[str, Any]:
    """Answers for every key on the page; ``careful`` draws only substantive answers."""
    answers: dict[str, Any] = {}
    for view in step.questions:
        if view.rows:
            for row in view.rows:
                answers[row.key] = (
                    draw(st.sampled_from([o.code for o in view.options]))
                    if careful
                    else answer_one(draw, view)
                )
            continue
        if not view.key:
            continue
        value = valid_value(draw, view) if careful else answer_one(draw, view)
        answers[view.key] = value
        if view.other_key:
            answers[view.other_key] = draw(st.sampled_from(["somewhere", "", "  a  b "]))
    return answers


def is_prompt(result: SubmitResult) -> bool:
    return (
        not result.accepted
        and bool(result.errors)
        and all(p.kind == "prompt" for p in result.errors)
    )


class Run:
    """One interview being driven, with every call recorded for replay."""

    def __init__(self, engine: Engine, state: State) -> None:
        self.engine = engine
        self.state = state
        self.actions: list[Action] = []
        self.clock = NOW
        # hooks: called before each action with the action about to happen, and after it with its result
        self.before: list[Callable[[Action], None]] = []
        self.after: list[Callable[[Action, Any], None]] = []

    def tick(self, draw: Callable[..., Any]) -> dt.datetime:
        self.clock += dt.timedelta(seconds=draw(st.integers(1, 300)))
        return self.clock

    def do(self, action: Action) -> Any:
        for hook in self.before:
            hook(action)
        self.actions.append(action)
        result = apply(self.engine, self.state, action)
        for after in self.after:
            after(action, result)
        return result

    def answer_page(self, draw: Callable[..., Any]) -> tuple[dict[str, Any], SubmitResult]:
        """Submit random answers until the page is accepted; the answers that were, and the result."""
        step = self.engine.current_step(self.state)
        for attempt in range(40):
            answers = page_answers(draw, step, careful=attempt >= 4)
            confirm: Any = True if attempt >= 4 or draw(st.booleans()) else ()
            result = self.do(Action("submit", self.tick(draw), answers, confirm))
            if is_prompt(result):
                result = self.do(Action("submit", self.tick(draw), answers, confirm))
            if result.accepted:
                return answers, result
            if result.warnings and not result.errors:
                confirm = {w.id for w in result.warnings}
                result = self.do(Action("submit", self.tick(draw), answers, confirm))
                assert result.accepted, result.problems
                return answers, result
        raise AssertionError(
            f"no random answer was accepted on page {step.page_id}: {result.problems}"
        )


def apply(engine: Engine, state: State, action: Action) -> Any:
    if action.kind == "submit":
        return engine.submit(state, action.answers, now=action.at, confirm=action.confirm)
    if action.kind == "back":
        return engine.back(state, now=action.at)
    if action.kind == "jump":
        return engine.jump(state, action.key, now=action.at)
    raise AssertionError(action.kind)


def interview(
    data: st.DataObject,
    engine: Engine,
    *,
    moves: bool = False,
    on_page: Callable[[Run, dict[str, Any], SubmitResult], None] | None = None,
    hooks: Sequence[Callable[[Run], Callable[[Action], None]]] = (),
) -> Run:
    """A whole random interview; with ``moves``, random backs and jumps along the way."""
    args = start_args(data.draw, engine.q)
    run = Run(engine, engine.start(now=NOW, **args))
    for hook in hooks:
        run.before.append(hook(run))
    moved = 0
    for _ in range(MAX_ACTIONS):
        if run.state.finished:
            break
        answers, result = run.answer_page(data.draw)
        if on_page is not None:
            on_page(run, answers, result)
        if moves and moved < MAX_MOVES and not run.state.finished and len(run.state.history) > 1:
            roll = data.draw(st.integers(0, 9))
            moved += roll <= 1
            if roll == 0:
                run.do(Action("back", run.tick(data.draw)))
            elif roll == 1:
                keys = [k for visit in run.state.history[:-1] for k in visit.keys]
                if keys:
                    run.do(
                        Action("jump", run.tick(data.draw), key=data.draw(st.sampled_from(keys)))
                    )
    else:
        raise AssertionError("the interview did not finish")
    return run


def roundtrip(state: State) -> State:
    return State.from_json(json.loads(json.dumps(state.to_json(), allow_nan=False)))


def tokenless(step: Step) -> Step:
    return replace(step, token="")


# ---------------------------------------------------------------------- the oracle


class Oracle:
    """Expression values computed from the respondent's own answers, not from the engine's routing.

    ``known`` holds what each accepted page stored (as the submit result reports
    it); a loop's iterations are worked out here from its ``count`` or its
    ``for_each`` answer.
    """

    def __init__(
        self,
        q: Questionnaire,
        state: State,
        known: Mapping[str, Any],
        loop: str | None = None,
        suffix: str | None = None,
    ) -> None:
        self.q = q
        self.state = state
        self.known = known
        self.loop = loop
        self.suffix = suffix
        self.today = state.now.date()

    def get(self, name: str) -> Any:
        var = self.q.variables[name]
        if var.kind == "preload":
            return self.state.case.get(name)
        if var.kind == "experiment":
            return self.state.arms.get(name)
        if var.kind == "computed":
            question = var.question
            assert question is not None and question.expr is not None
            if question.when is not None and not question.when.evaluate(self):
                return None
            return question.expr.evaluate(self)
        if var.loop is not None:
            return self.known.get(f"{name}_{self.suffix}") if var.loop == self.loop else None
        return self.known.get(name)

    def outer(self) -> Oracle:
        return Oracle(self.q, self.state, self.known)

    def suffixes(self, loop_id: str) -> list[str]:
        loop = self.q.loops[loop_id]
        outer = self.outer()
        if loop.for_each is not None:
            chosen = outer.get(loop.for_each)
            options = self.q.questions[loop.for_each].choices
            assert options is not None
            return [
                str(o.code)
                for o in options.options
                if isinstance(chosen, tuple) and o.code in chosen
            ]
        assert loop.count is not None
        count = loop.count.evaluate(outer)
        if is_missing(count) or not isinstance(count, int):
            return []
        return [str(i) for i in range(1, min(count, loop.max) + 1)]

    def iterations(self, loop_id: str) -> list[Oracle]:
        return [Oracle(self.q, self.state, self.known, loop_id, s) for s in self.suffixes(loop_id)]

    def iterations_known(self, loop_id: str) -> bool:
        loop = self.q.loops[loop_id]
        outer = self.outer()
        if loop.for_each is not None:
            return isinstance(outer.get(loop.for_each), tuple)
        assert loop.count is not None
        return not is_missing(loop.count.evaluate(outer))

    def unknown(self, name: str) -> bool:
        """An answer stored as unknown (asked, not known); one not stored was not asked."""
        var = self.q.variables[name]
        if var.kind in ("preload", "experiment", "computed"):
            return self.get(name) is DK or self.get(name) is REFUSED
        key = f"{name}_{self.suffix}" if var.loop is not None else name
        if var.loop is not None and var.loop != self.loop or key not in self.known:
            return False
        return is_missing(self.known[key])


def ancestors(q: Questionnaire) -> dict[str, list[Section | Block | Loop]]:
    """For each page, its containers from the outside in."""
    found: dict[str, list[Section | Block | Loop]] = {}

    def walk(items: Sequence[Any], chain: list[Section | Block | Loop]) -> None:
        for item in items:
            if isinstance(item, Page):
                found[item.id] = list(chain)
            else:
                walk(item.items, chain + [item])

    walk(q.items, [])
    return found


def true(expr: Any, ctx: Oracle) -> bool:
    return expr is None or expr.evaluate(ctx) is True


def check_step_against_oracle(
    engine: Engine, state: State, known: Mapping[str, Any], chains: Mapping[str, list[Any]]
) -> None:
    q = engine.q
    step = engine.current_step(state)
    page = q.pages[step.page_id]
    ctx = Oracle(q, state, known)
    for container in chains[page.id]:
        if isinstance(container, Loop):
            assert true(container.when, ctx), (
                f"loop {container.id} shown although its condition is false"
            )
            suffixes = ctx.suffixes(container.id)
            assert step.loop == container.id and step.iteration is not None
            assert 1 <= step.iteration <= len(suffixes), (
                f"iteration {step.iteration} of {suffixes} in loop {container.id}"
            )
            ctx = Oracle(q, state, known, container.id, suffixes[step.iteration - 1])
        else:
            assert true(container.when, ctx), (
                f"{container.id} shown although its condition is false"
            )
    assert true(page.when, ctx), f"page {page.id} shown although its condition is false"
    expected: list[tuple[str, tuple[str, ...]]] = []
    sfx = f"_{ctx.suffix}" if ctx.suffix is not None else ""
    for question in page.questions:
        if not true(question.when, ctx):
            continue
        rows = tuple(f"{r.id}{sfx}" for r in question.rows if true(r.when, ctx))
        if question.type == "grid" and not rows:
            continue
        expected.append((question.id, rows))
    shown = [(v.id, tuple(sorted(r.key for r in v.rows))) for v in step.questions]
    assert shown == [(qid, tuple(sorted(rows))) for qid, rows in expected], (page.id, known)
    for view in step.questions:
        if view.key:
            assert view.key == f"{view.id}{sfx}"


# --------------------------------------------------------------------- properties


@names
@PROPERTY
@given(data=st.data())
def test_route_never_shows_a_question_whose_condition_is_false(
    name: str, data: st.DataObject
) -> None:
    engine = engine_for(name)
    chains = ancestors(engine.q)
    known: dict[str, Any] = {}

    def watch(run: Run) -> Callable[[Action], None]:
        def before(action: Action) -> None:
            check_step_against_oracle(engine, run.state, known, chains)

        return before

    def remember(run: Run, answers: dict[str, Any], result: SubmitResult) -> None:
        known.update(result.values)

    run = interview(data, engine, on_page=remember, hooks=[watch])
    assert run.state.outcome in ("complete", "screened_out")
    if run.state.outcome == "screened_out":
        end = engine.q.pages[run.state.history[-1].page]
        assert end.questions[0].type == "end"
        check_step_against_oracle(engine, run.state, known, chains)


@names
@PROPERTY
@given(data=st.data())
def test_back_then_the_same_answers_gives_the_same_step(name: str, data: st.DataObject) -> None:
    engine = engine_for(name)

    def back_and_forth(run: Run, answers: dict[str, Any], result: SubmitResult) -> None:
        if run.state.finished or not data.draw(st.booleans()):
            return
        here = engine.current_step(run.state)
        previous = run.state.history[-2]
        run.do(Action("back", run.tick(data.draw)))
        again = engine.current_step(run.state)
        assert again.page_id == previous.page and again.can_go_back == (len(run.state.history) > 1)
        for view in again.questions:  # the answers just given are the pre-fill
            if view.key:
                assert view.value == result.values[view.key]
            for row in view.rows:
                assert row.value == result.values[row.key]
        resubmitted = run.do(Action("submit", run.tick(data.draw), answers, True))
        assert resubmitted.accepted, resubmitted.problems
        assert not [e for e in resubmitted.events if e.kind == "answer"]
        assert tokenless(engine.current_step(run.state)) == tokenless(here)

    interview(data, engine, on_page=back_and_forth)


@names
@PROPERTY
@given(data=st.data())
def test_state_round_trips_and_carries_on_identically(name: str, data: st.DataObject) -> None:
    engine = engine_for(name)
    twin: list[State] = []  # restored from JSON before every call, then given the same call
    results: list[Any] = []

    def lockstep(run: Run) -> Callable[[Action], None]:
        def before(action: Action) -> None:
            restored = roundtrip(twin[0] if twin else run.state)
            assert restored == run.state and restored.on_route == run.state.on_route
            assert engine.current_step(restored) == engine.current_step(run.state)
            assert engine.values(restored) == engine.values(run.state)
            results[:] = [_comparable(apply(engine, restored, action))]
            twin[:] = [restored]

        return before

    def compare(action: Action, result: Any) -> None:
        assert _comparable(result) == results[0]
        assert twin[0] == run_state[0]

    run_state: list[State] = []

    def start_hook(run: Run) -> Callable[[Action], None]:
        run_state[:] = [run.state]
        run.after.append(compare)
        return lockstep(run)

    run = interview(data, engine, moves=True, hooks=[start_hook])
    assert twin and twin[0] == run.state
    assert roundtrip(run.state) == run.state
    assert engine.values(twin[0]) == engine.values(run.state)


@names
@PROPERTY
@given(data=st.data())
def test_showing_a_page_changes_nothing_in_the_state(name: str, data: st.DataObject) -> None:
    """``current_step`` only reads: the web keeps a shown interview to answer it without decoding.

    instrument.server.runner hands an interview back after a page was shown
    and the next request uses that very object as the stored state of its
    revision, so showing a page (in every way a mode asks for it) must leave
    the state exactly as it was.
    """
    engine = engine_for(name)

    def shows_only(run: Run) -> Callable[[Action], None]:
        def before(_action: Action) -> None:
            stored = json.dumps(run.state.to_json(), sort_keys=True)
            for html in (True, False, None):
                engine.current_step(run.state, html=html)
            engine.current_step(run.state, texts=False)
            assert json.dumps(run.state.to_json(), sort_keys=True) == stored

        return before

    run = interview(data, engine, moves=True, hooks=[shows_only])
    assert run.state.finished


def _comparable(result: Any) -> Any:
    if isinstance(result, SubmitResult):
        return (result.accepted, result.errors, result.warnings, result.events, result.values)
    return result


@names
@PROPERTY
@given(data=st.data())
def test_same_seed_and_answers_give_the_same_interview(name: str, data: st.DataObject) -> None:
    engine = engine_for(name)
    seen: list[Step] = []

    def record(run: Run) -> Callable[[Action], None]:
        return lambda action: seen.append(engine.current_step(run.state))

    first = interview(data, engine, moves=True, hooks=[record])
    state = first.state
    again = engine.start(
        now=NOW,
        seed=state.seed,
        mode=state.modes_used[0],
        language=state.language,
        case=dict(state.case),
    )
    assert again.arms == state.arms
    assert len(seen) == len(first.actions)
    for action, step in zip(first.actions, seen):
        assert engine.current_step(again) == step
        apply(engine, again, action)
    assert json.dumps(again.to_json(), sort_keys=True) == json.dumps(
        state.to_json(), sort_keys=True
    )
    assert engine.values(again) == engine.values(state)
    assert engine.asked_ids(again) == engine.asked_ids(state)


# ------------------------------------------------------------- arbitrary input

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-3, 120),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(
        ["", " ", "1", "2", "96", "97", "-1", "1,000", "2.50", "2019-03-27", "dk", "<b>", "0"]
    ),
    st.sampled_from([DK, REFUSED]),
    st.sampled_from(["9" * 5000, "1" * 400 + ".5", 10**400, float("nan"), float("inf"), "1e999"]),
    st.dates(),
    st.datetimes(),
)
garbage = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.tuples(scalars, scalars, scalars),
    st.dictionaries(st.sampled_from(["day", "month", "year", "x"]), scalars, max_size=4),
    st.frozensets(st.integers(-2, 100), max_size=4),
)


@names
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
@given(data=st.data())
def test_any_input_raises_only_engine_errors(name: str, data: st.DataObject) -> None:
    engine = engine_for(name)
    all_keys = sorted(engine.q.variables) + ["", "x_1", "heard_other"]

    def poke(run: Run, answers: dict[str, Any], result: SubmitResult) -> None:
        if run.state.finished:
            return
        step = engine.current_step(run.state)
        views = {k: v for v in step.questions for k in v.keys}
        keys = list(views) + data.draw(st.lists(st.sampled_from(all_keys), max_size=2))
        junk = {key: data.draw(garbage) for key in keys}
        confirm = data.draw(
            st.one_of(st.just(True), st.just(()), st.sets(st.text(max_size=6), max_size=2))
        )
        token = data.draw(st.one_of(st.none(), st.just(step.token), st.text(max_size=3)))
        try:
            outcome = engine.submit(
                run.state, junk, now=run.tick(data.draw), token=token, confirm=confirm
            )
        except EngineError:
            return
        if outcome.accepted and not run.state.finished and data.draw(st.booleans()):
            try:
                engine.jump(
                    run.state,
                    data.draw(st.sampled_from(all_keys) | st.text(max_size=5)),
                    now=run.tick(data.draw),
                )
            except EngineError:
                pass
        if not run.state.finished:
            engine.current_step(run.state)
            json.dumps(run.state.to_json(), allow_nan=False)  # nothing non-finite was stored
        engine.values(run.state)

    interview(data, engine, on_page=poke)
