"""The run loop: respondents one after another through the real engine, tallied.

Each respondent gets its own seed (:func:`respondent_seed`) for its choices
and as the interview's engine seed, so a run is reproducible given ``now``.
An invalid input the engine accepts is reported like an unexpected
exception, with the seed to replay it with :func:`simulate_respondent`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import time
import traceback
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from instrument.engine import Engine, Event, State
from instrument.model import Questionnaire

from .hints import Hints, questionnaire_hints
from .report import (
    SimulationFailure,
    SimulationReport,
    Tally,
    count_answers,
    count_checks,
    make_report,
)
from .respondent import Behaviour, Respondent, draw_case

__all__ = [
    "DEFAULT_NOW",
    "MAX_PAGES",
    "CaseSource",
    "SimulatedInterview",
    "respondent_seed",
    "simulate",
    "simulate_respondent",
]

DEFAULT_NOW = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
MAX_PAGES = (
    5_000  # plus 50 per page of the questionnaire: an interview longer than that is an engine error
)


@dataclass
class SimulatedInterview:
    """One finished simulated interview, as handed to ``on_interview``."""

    index: int
    seed: int
    state: State
    events: list[Event]
    started_at: dt.datetime
    pages: int


_HINTS: weakref.WeakKeyDictionary[Engine, Hints] = weakref.WeakKeyDictionary()


def engine_hints(engine: Engine) -> Hints:
    """What the engine's questionnaire compares answers with, read once per engine."""
    hints = _HINTS.get(engine)
    if hints is None:
        hints = _HINTS[engine] = questionnaire_hints(engine.q)
    return hints


def respondent_seed(seed: int, index: int) -> int:
    """The seed of respondent ``index`` in a simulation seeded ``seed`` (stable across runs and machines)."""
    digest = hashlib.blake2b(f"{seed}/{index}".encode(), digest_size=6).digest()
    return int.from_bytes(digest, "big")


CaseSource = Mapping[str, Any] | Callable[[random.Random], Mapping[str, Any]] | None


def simulate(
    questionnaire: Questionnaire,
    n: int,
    seed: int,
    mode: str | None = None,
    *,
    now: dt.datetime | None = None,
    on_interview: Callable[[SimulatedInterview], None] | None = None,
    behaviour: Behaviour | None = None,
    language: str | None = None,
    case: CaseSource = None,
    engine: Engine | None = None,
) -> SimulationReport:
    """Run ``n`` random respondents through ``questionnaire`` and report what they met.

    ``now`` is when the first interview starts (default: a fixed date, so a
    seed alone reproduces a report); interviews start a minute apart and
    pages take seconds to a few minutes. ``language``: one language for all
    (default: each respondent draws one of the questionnaire's languages).
    ``case``: preload values for every interview (a mapping) or a function of
    the respondent's random generator; by default each preload is drawn at
    random by its type (left unset one time in ten). ``on_interview`` is
    called with each finished interview (not those that hit an engine error);
    exceptions it raises propagate. ``engine``: an engine already built for
    ``questionnaire`` (default: a new one).
    """
    if n < 0:
        raise ValueError("n must be at least 0")
    mode = mode or questionnaire.modes[0]
    if mode not in questionnaire.modes:
        raise ValueError(f"questionnaire '{questionnaire.id}' does not run in mode '{mode}'")
    if engine is None:
        engine = Engine(questionnaire)
    elif engine.q is not questionnaire:
        raise ValueError("engine was built for another questionnaire")
    behaviour = behaviour or Behaviour()
    start = now or DEFAULT_NOW
    if start.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    tally = Tally()
    outside = 0.0
    began = time.perf_counter()
    for index in range(n):
        r_seed = respondent_seed(seed, index)
        started_at = start + dt.timedelta(minutes=index)
        interview = _run(engine, tally, index, r_seed, mode, language, started_at, behaviour, case)
        if interview is not None and on_interview is not None:
            handed = time.perf_counter()
            on_interview(interview)
            outside += time.perf_counter() - handed
    seconds = time.perf_counter() - began - outside  # the simulation's own time, not the callback's
    return make_report(questionnaire, tally, n, seed, mode, start, seconds)


def simulate_respondent(
    engine: Engine,
    seed: int,
    mode: str | None = None,
    *,
    now: dt.datetime,
    language: str | None = None,
    behaviour: Behaviour | None = None,
    case: CaseSource = None,
    index: int = 0,
) -> tuple[SimulatedInterview | None, list[SimulationFailure]]:
    """Replay one respondent (e.g. the seed of a reported engine error); returns it and any failure."""
    tally = Tally()
    mode = mode or engine.q.modes[0]
    interview = _run(
        engine, tally, index, seed, mode, language, now, behaviour or Behaviour(), case
    )
    return interview, tally.failures


def _run(
    engine: Engine,
    tally: Tally,
    index: int,
    seed: int,
    mode: str,
    language: str | None,
    started_at: dt.datetime,
    behaviour: Behaviour,
    case: CaseSource,
) -> SimulatedInterview | None:
    """Play one respondent; record what happened in ``tally``. None if the engine failed."""
    rng = random.Random(seed)
    q = engine.q
    # draw the language and the case whether or not they are overridden, so that the rest of a
    # respondent's choices do not depend on the overrides (a replay with language=... matches)
    drawn_language = q.languages[int(rng.random() * len(q.languages))]
    lang = language or drawn_language
    case_data: Mapping[str, Any] = draw_case(q, rng)
    if callable(case):
        case_data = case(rng)
    elif case is not None:
        case_data = case
    try:
        return _interview(
            engine, tally, rng, index, seed, mode, lang, started_at, behaviour, case_data
        )
    except _Accepted as exc:
        tally.failures.append(
            SimulationFailure(index, seed, started_at, mode, lang, exc.page, str(exc), "")
        )
    except Exception as exc:
        tb = traceback.extract_tb(exc.__traceback__)
        summary = "".join(traceback.format_list(tb[-6:])) + f"{type(exc).__name__}: {exc}"
        page_id = getattr(exc, "_sim_page", None)
        tally.failures.append(
            SimulationFailure(
                index,
                seed,
                started_at,
                mode,
                lang,
                page_id,
                f"{type(exc).__name__}: {exc}",
                summary,
            )
        )
    return None


_THINKING: Final = tuple(dt.timedelta(seconds=4 + i) for i in range(40))
"""How long a simulated respondent takes over a page: 4 to 43 seconds."""


class _Accepted(Exception):
    """The engine accepted something it must reject."""

    def __init__(self, message: str, page: str | None) -> None:
        super().__init__(message)
        self.page = page


def _interview(
    engine: Engine,
    tally: Tally,
    rng: random.Random,
    index: int,
    seed: int,
    mode: str,
    language: str,
    started_at: dt.datetime,
    behaviour: Behaviour,
    case: Mapping[str, Any],
) -> SimulatedInterview:
    clock = time.perf_counter
    b = behaviour
    now = started_at
    policy = engine.q.mode_policies[mode]
    respondent = Respondent(rng, policy, behaviour, started_at.date(), engine_hints(engine))
    actor = (
        f"interviewer:sim{1 + int(rng.random() * 20):02d}" if policy.interviewer else "respondent"
    )
    events: list[Event] = []
    reached: set[str] = set()
    fired_here: set[tuple[str, int, str]] = set()
    pages = steps = 0
    max_steps = MAX_PAGES + 50 * len(engine.q.pages)
    engine_time = 0.0
    reached_counter = tally.reached
    submit = engine.submit
    current_step = engine.current_step

    t = clock()
    state = engine.start(now=now, seed=seed, mode=mode, language=language, case=case)
    engine_time += clock() - t
    step_page: str | None = None
    try:
        while not state.finished:
            steps += 1
            if steps > max_steps:
                raise RuntimeError(
                    f"the interview did not end within {max_steps} pages (a routing loop?)"
                )
            t = clock()
            step = current_step(state, texts=False)
            engine_time += clock() - t
            step_page = step.page_id
            for view in step.questions:
                reached.add(view.id)
            history = len(state.history)
            # leave the page: give up, go back or jump back, before answering
            r = rng.random()
            if r < b.breakoff:
                tally.breakoffs += 1
                now += dt.timedelta(minutes=30)
                t = clock()
                events.extend(engine.finish(state, now=now))
                engine_time += clock() - t
                break
            if r < b.breakoff + b.back and step.can_go_back:
                tally.backs += 1
                now += dt.timedelta(seconds=3)
                t = clock()
                events.extend(engine.back(state, now=now))
                engine_time += clock() - t
                continue
            if r < b.breakoff + b.back + b.jump and history > 2:
                tally.jumps += 1
                # people change a recent answer: jump to one of the last ten pages
                earliest = max(0, history - 11)
                target = state.history[earliest + int(rng.random() * (history - 1 - earliest))]
                now += dt.timedelta(seconds=5)
                t = clock()
                events.extend(
                    engine.jump(state, target.keys[0] if target.keys else target.page, now=now)
                )
                engine_time += clock() - t
                continue
            prompted: set[str] = set()
            for _attempt in range(b.max_attempts):
                answers, invalid = respondent.page(step, prompted)
                now += _THINKING[int(rng.random() * len(_THINKING))]
                t = clock()
                result = submit(state, answers, now=now, token=step.token, actor=actor)
                engine_time += clock() - t
                events.extend(result.events)
                if invalid is not None:
                    tally.invalid_tried[invalid[1]] += 1
                if result.warnings or (result.errors and result.errors[0].kind != "prompt"):
                    count_checks(result, step, engine, tally, fired_here)
                if result.accepted:
                    if invalid is not None:
                        raise _Accepted(
                            f"the engine accepted an invalid input ({invalid[1]}) for '{invalid[0]}': {invalid[2]!r}",
                            step.page_id,
                        )
                    count_answers(answers, step, tally)
                    tally.passed[step.page_id] += 1
                    pages += 1
                    break
                errors = result.errors
                if invalid is not None:
                    keys = {p.key for p in errors}
                    key, kind, value = invalid
                    other_key = next((v.other_key for v in step.questions if v.key == key), None)
                    if key not in keys and not (other_key and other_key in keys):
                        raise _Accepted(
                            f"the engine did not flag an invalid input ({kind}) for '{key}': {value!r}"
                            f" (the page was refused for: {', '.join(sorted(keys)) or 'warnings only'})",
                            step.page_id,
                        )
                    tally.invalid_rejected[kind] += 1
                    continue
                if errors and errors[0].kind == "prompt":
                    tally.rejections["skip_prompt"] += 1
                    prompted.update(p.key for p in errors)
                    t = clock()
                    step = current_step(
                        state, texts=False
                    )  # re-rendered: don't know is offered now
                    engine_time += clock() - t
                    continue
                if errors:
                    for problem in errors:
                        tally.rejections["hard_check" if "#" in problem.id else "unanswered"] += 1
                    continue
                # soft warnings only: confirm them, or change the answers
                if rng.random() < b.confirm:
                    tally.warnings_confirmed += 1
                    t = clock()
                    result = submit(
                        state,
                        answers,
                        now=now,
                        token=step.token,
                        confirm={w.id for w in result.warnings},
                        actor=actor,
                    )
                    engine_time += clock() - t
                    events.extend(result.events)
                    if not result.accepted:
                        raise _Accepted(
                            "confirming every soft warning did not get the page accepted: "
                            + "; ".join(f"{p.key}: {p.message}" for p in result.problems),
                            step.page_id,
                        )
                    count_answers(answers, step, tally)
                    tally.passed[step.page_id] += 1
                    pages += 1
                    break
                tally.answers_changed += 1
            else:
                # nothing this respondent tried got past the page: give up (the report says
                # whether others got past it, or whether it looks like a check that cannot pass)
                tally.stuck[step.page_id] += 1
                t = clock()
                events.extend(engine.finish(state, now=now))
                engine_time += clock() - t
                break
    except _Accepted:
        raise
    except Exception as exc:
        visit = state.current  # where the engine was when it failed
        exc._sim_page = visit.page if visit is not None else step_page  # type: ignore[attr-defined]
        raise
    finally:
        tally.engine_seconds += engine_time
    visit = state.current
    if visit is not None and state.outcome != "partial":
        for question in engine.q.pages[visit.page].questions:
            if question.type == "end":  # the end screen shown when an end item closed the interview
                reached.add(question.id)
    for qid in reached:
        reached_counter[qid] += 1
    for fired_key in fired_here:
        tally.checks[fired_key][1] += 1
    tally.outcomes[state.outcome or "unfinished"] += 1
    tally.pages.append(pages)
    return SimulatedInterview(index, seed, state, events, started_at, pages)
