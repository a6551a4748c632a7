"""Random respondents: send thousands of made-up interviews down every route.

A researcher wants to know, before fieldwork, which questions nobody can
reach, which checks fire and how often, and whether the engine copes with
people who skip, say "don't know", type nonsense, go back and give up. This
module plays such respondents against the real :class:`~instrument.engine.Engine`.

Each respondent answers *only from the step* the engine hands it, as a mode
would render it: the option codes shown, the bounds, the maximum length, the
exclusive and other-specify flags, whether don't know is offered. It never
looks at the questionnaire's routing, so a question it never sees is a
question no real respondent could see either (within the sample drawn).

Some inputs are deliberately invalid (codes not offered, numbers out of
range, malformed numbers and dates, texts too long, an exclusive option with
others, don't know where it is not allowed). The engine must reject each one;
if it accepts one, that is reported as an engine error, exactly like an
unexpected exception, with the respondent's seed so it can be replayed with
:func:`simulate_respondent`.

Everything random comes from the simulation seed: respondent ``i`` of seed
``s`` gets :func:`respondent_seed` ``(s, i)`` for its own choices and as the
interview's engine seed, so a report is reproducible given ``now``.

No web, telephony, database or file-format code is imported here; the
``instrument simulate`` command adds storage on top via ``on_interview``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import statistics
import time
import traceback
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from instrument.engine import Engine, Event, QuestionView, State, Step, SubmitResult
from instrument.model import Questionnaire
from instrument.values import DK, REFUSED

__all__ = [
    "VALID_ONLY",
    "Behaviour",
    "CheckStat",
    "QuestionStat",
    "SimulatedInterview",
    "SimulationFailure",
    "SimulationReport",
    "random_answers",
    "respondent_seed",
    "simulate",
    "simulate_respondent",
]

DEFAULT_NOW = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
MAX_PAGES = (
    5_000  # plus 50 per page of the questionnaire: an interview longer than that is an engine error
)

_WORDS = (
    "data",
    "school",
    "doctor",
    "family",
    "records",
    "trust",
    "council",
    "privacy",
    "help",
    "children",
    "worried",
    "fine",
    "unsure",
    "depends",
    "useful",
    "fair",
    "safe",
    "consent",
    "services",
    "support",
)
# Valid but awkward texts an export must survive: formula-like starts, quotes, non-ASCII, newlines.
_AWKWARD = (
    "=1+1",
    "+44 20 7946 0000",
    "-",
    "@home",
    'said "no"',
    "Café – naïve ŵ ŷ",
    "tab\there",
    "x,y;z",
)


@dataclass(frozen=True)
class Behaviour:
    """How often simulated respondents do each thing (probabilities).

    Per question (or grid row): ``skip`` leaves it empty; ``missing`` picks
    don't know / refused when they are offered (on the web only after a skip
    prompt; ``after_prompt`` is the chance then). Per page: ``invalid``
    injects one invalid input, ``back`` and ``jump`` move backwards before
    answering, ``breakoff`` abandons the interview (finished as partial).
    ``confirm`` is the chance a soft warning is confirmed rather than the
    answers changed.
    """

    skip: float = 0.03
    missing: float = 0.04
    after_prompt: float = 0.45
    skip_again: float = 0.25
    invalid: float = 0.05
    back: float = 0.02
    jump: float = 0.005
    breakoff: float = 0.002
    confirm: float = 0.75
    awkward_text: float = 0.1
    max_attempts: int = 30


NO_BREAKOFF = Behaviour(breakoff=0.0)


@dataclass
class QuestionStat:
    """How many simulated interviews were shown a question (loops and grids count once)."""

    id: str
    type: str
    reached: int = 0


@dataclass
class CheckStat:
    """How often one check of one question fired."""

    question: str
    index: int
    severity: str  # "error" (hard) or "warning" (soft)
    fired: int = 0  # submissions on which it fired
    interviews: int = 0  # interviews in which it fired at least once


@dataclass
class SimulationFailure:
    """An engine error: an unexpected exception, or an invalid input the engine accepted."""

    respondent: int
    seed: int
    started_at: dt.datetime
    mode: str
    language: str
    page: str | None
    message: str
    traceback: str = ""

    def reproduce(self) -> str:
        """Python that replays this respondent."""
        return (
            f"simulate_respondent(Engine(q), seed={self.seed}, mode={self.mode!r}, language={self.language!r}, "
            f"now=datetime.fromisoformat({self.started_at.isoformat()!r}))"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "respondent": self.respondent,
            "seed": self.seed,
            "started_at": self.started_at.isoformat(),
            "mode": self.mode,
            "language": self.language,
            "page": self.page,
            "message": self.message,
            "traceback": self.traceback,
            "reproduce": self.reproduce(),
        }


@dataclass
class SimulatedInterview:
    """One finished simulated interview, as handed to ``on_interview``."""

    index: int
    seed: int
    state: State
    events: list[Event]
    started_at: dt.datetime
    pages: int


@dataclass
class _Tally:
    """Counters shared by all respondents of one simulation (cheap to update)."""

    reached: Counter[str] = field(default_factory=Counter)
    checks: dict[tuple[str, int, str], list[int]] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    dk: int = 0
    refused: int = 0
    skipped: int = 0  # keys left empty and accepted so
    invalid_tried: Counter[str] = field(default_factory=Counter)
    invalid_rejected: Counter[str] = field(default_factory=Counter)
    rejections: Counter[str] = field(default_factory=Counter)  # other reasons a page came back
    warnings_confirmed: int = 0
    answers_changed: int = 0
    backs: int = 0
    jumps: int = 0
    breakoffs: int = 0
    stuck: Counter[str] = field(default_factory=Counter)  # page id -> respondents who gave up on it
    pages: list[int] = field(default_factory=list)
    failures: list[SimulationFailure] = field(default_factory=list)
    engine_seconds: float = 0.0


@dataclass
class SimulationReport:
    """What ``n`` simulated respondents found (see :func:`simulate`)."""

    questionnaire_id: str
    version: str
    n: int
    seed: int
    mode: str
    now: dt.datetime
    questions: list[QuestionStat]
    checks: list[CheckStat]
    outcomes: dict[str, int]
    dk: int
    refused: int
    skipped: int
    invalid_tried: dict[str, int]
    invalid_rejected: dict[str, int]
    rejections: dict[str, int]
    warnings_confirmed: int
    answers_changed: int
    backs: int
    jumps: int
    breakoffs: int
    stuck: dict[str, int]
    pages: list[int]
    failures: list[SimulationFailure]
    seconds: float
    engine_seconds: float

    @property
    def never_reached(self) -> list[str]:
        """Question ids no simulated respondent was shown, in questionnaire order."""
        return [s.id for s in self.questions if s.reached == 0]

    @property
    def checks_never_fired(self) -> list[str]:
        return [f"{c.question}#{c.index}" for c in self.checks if c.fired == 0]

    @property
    def respondents_per_second(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else float("inf")

    @property
    def ok(self) -> bool:
        return not self.failures and not self.never_reached

    def pages_summary(self) -> dict[str, float]:
        pages = self.pages
        if not pages:
            return {"mean": 0.0, "median": 0.0, "min": 0, "max": 0}
        return {
            "mean": round(statistics.fmean(pages), 2),
            "median": statistics.median(pages),
            "min": min(pages),
            "max": max(pages),
        }

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable form, for ``--format json`` and for tools."""
        return {
            "questionnaire": self.questionnaire_id,
            "version": self.version,
            "n": self.n,
            "seed": self.seed,
            "mode": self.mode,
            "now": self.now.isoformat(),
            "ok": self.ok,
            "questions": [
                {
                    "id": s.id,
                    "type": s.type,
                    "reached": s.reached,
                    "percent": _percent(s.reached, self.n),
                }
                for s in self.questions
            ],
            "never_reached": self.never_reached,
            "checks": [
                {
                    "question": c.question,
                    "index": c.index,
                    "severity": c.severity,
                    "fired": c.fired,
                    "interviews": c.interviews,
                }
                for c in self.checks
            ],
            "outcomes": dict(self.outcomes),
            "dk": self.dk,
            "refused": self.refused,
            "skipped": self.skipped,
            "invalid_tried": dict(self.invalid_tried),
            "invalid_rejected": dict(self.invalid_rejected),
            "rejections": dict(self.rejections),
            "warnings_confirmed": self.warnings_confirmed,
            "answers_changed": self.answers_changed,
            "backs": self.backs,
            "jumps": self.jumps,
            "breakoffs": self.breakoffs,
            "stuck": dict(self.stuck),
            "pages": self.pages_summary(),
            "engine_errors": [f.to_json() for f in self.failures],
            "seconds": round(self.seconds, 4),
            "engine_seconds": round(self.engine_seconds, 4),
            "respondents_per_second": round(self.respondents_per_second, 1)
            if self.seconds > 0
            else None,
        }


def _percent(count: int, n: int) -> float:
    return round(100.0 * count / n, 1) if n else 0.0


def respondent_seed(seed: int, index: int) -> int:
    """The seed of respondent ``index`` in a simulation seeded ``seed`` (stable across runs and machines)."""
    digest = hashlib.blake2b(f"{seed}/{index}".encode(), digest_size=6).digest()
    return int.from_bytes(digest, "big")


CaseSource = Mapping[str, Any] | Callable[[random.Random], Mapping[str, Any]] | None


def simulate(
    questionnaire: Questionnaire,
    n: int,
    seed: int,
    mode: str = "web",
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
    tally = _Tally()
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
    return _report(questionnaire, tally, n, seed, mode, start, seconds)


def simulate_respondent(
    engine: Engine,
    seed: int,
    mode: str = "web",
    *,
    now: dt.datetime,
    language: str | None = None,
    behaviour: Behaviour | None = None,
    case: CaseSource = None,
    index: int = 0,
) -> tuple[SimulatedInterview | None, list[SimulationFailure]]:
    """Replay one respondent (e.g. the seed of a reported engine error); returns it and any failure."""
    tally = _Tally()
    interview = _run(
        engine, tally, index, seed, mode, language, now, behaviour or Behaviour(), case
    )
    return interview, tally.failures


VALID_ONLY = Behaviour(
    skip=0.0, missing=0.0, invalid=0.0, back=0.0, jump=0.0, breakoff=0.0, awkward_text=0.0
)


def random_answers(
    step: Step,
    rng: random.Random,
    mode: str = "web",
    *,
    today: dt.date,
    behaviour: Behaviour = VALID_ONLY,
) -> dict[str, Any]:
    """Random answers for every key of ``step``, made from the step alone (valid ones by default).

    For drivers other than :func:`simulate`, such as benchmarks and load tests.
    Valid means within what the step shows; a cross-answer hard check may still refuse them.
    """
    answers, _invalid = _Respondent(rng, mode, behaviour, today).page(step, set())
    return answers


# --------------------------------------------------------------------------------------------------
# One respondent


class _Respondent:
    """Makes up answers for one interview, from what each step shows and nothing else."""

    def __init__(self, rng: random.Random, mode: str, behaviour: Behaviour, today: dt.date) -> None:
        self.rng = rng
        self.mode = mode
        self.b = behaviour
        self.today = today

    # ---- valid answers

    def page(
        self, step: Step, prompted: set[str]
    ) -> tuple[dict[str, Any], tuple[str, str, Any] | None]:
        """Answers for every key of the page, and the invalid input injected (key, kind, value) if any."""
        answers: dict[str, Any] = {}
        for view in step.questions:
            if view.rows:
                for row in view.rows:
                    self._one(view, row.key, answers, prompted, grid=True)
            elif view.key:
                self._one(view, view.key, answers, prompted, grid=False)
        invalid = None
        if answers and self.rng.random() < self.b.invalid:
            invalid = self._invalid(step, answers)
            if invalid is not None:
                answers[invalid[0]] = invalid[2]
        return answers, invalid

    def _one(
        self,
        view: QuestionView,
        key: str,
        answers: dict[str, Any],
        prompted: set[str],
        *,
        grid: bool,
    ) -> None:
        rng = self.rng
        b = self.b
        r = rng.random()
        if view.offer_missing and (view.allow_dk or view.allow_refused):
            was_prompted = bool(prompted) and (
                key in prompted or (grid and view.rows[0].key in prompted)
            )
            if was_prompted:
                if r < b.after_prompt:
                    answers[key] = self._missing(view)
                    return
                if r < b.after_prompt + b.skip_again:
                    return
                r = 1.0  # answer it properly this time
            elif r < b.missing:
                answers[key] = self._missing(view)
                return
            else:
                r -= b.missing
        if r < b.skip:
            return  # leave it empty
        if grid:
            answers[key] = self._code(view)
            return
        kind = view.type
        if kind in ("single", "yesno"):
            code = self._code(view)
            answers[key] = code
            if view.other_key is not None:
                self._other(view, code == _other_code(view), answers)
        elif kind == "multi":
            codes = self._codes(view)
            answers[key] = codes if rng.random() < 0.8 else [str(c) for c in codes]
            if view.other_key is not None:
                self._other(view, _other_code(view) in codes, answers)
        elif kind == "integer":
            value = self._integer(view)
            answers[key] = value if rng.random() < 0.7 else str(value)
        elif kind == "decimal":
            answers[key] = self._decimal(view)
        elif kind in ("text", "long_text"):
            if (
                self.mode != "ivr"
            ):  # a keypad cannot type words: an automated call leaves texts empty
                answers[key] = self._text(view.max_length or 200, long=kind == "long_text")
        elif kind == "date":
            answers[key] = self._date(view)
        elif view.options:  # a plugin's question type with options: pick one
            answers[key] = self._code(view)
        # any other plugin type is left unanswered: we cannot know what it accepts

    def _missing(self, view: QuestionView) -> Any:
        if view.allow_dk and view.allow_refused:
            return DK if self.rng.random() < 0.6 else REFUSED
        return DK if view.allow_dk else REFUSED

    def _choosable(self, view: QuestionView) -> Sequence[Any]:
        if (
            self.mode == "ivr"
        ):  # an automated call offers neither not-read-out nor other-specify options
            found = [o for o in view.options if not o.not_read_out and not o.other_specify]
            return found or view.options
        return view.options

    def _code(self, view: QuestionView) -> int:
        options = self._choosable(view)
        code = options[int(self.rng.random() * len(options))].code
        return code

    def _codes(self, view: QuestionView) -> list[int]:
        rng = self.rng
        options = self._choosable(view)
        exclusive = [o.code for o in options if o.exclusive]
        others = [o.code for o in options if not o.exclusive]
        low = max(view.min_choices or 1, 1)
        if exclusive and (rng.random() < 0.1 or not others) and low <= 1:
            return [rng.choice(exclusive)]
        high = min(view.max_choices or len(others), len(others))
        if high < low:
            return [rng.choice(exclusive)] if exclusive else others[:low]
        k = low + int(rng.random() ** 2 * (high - low + 1))
        return rng.sample(others, min(k, high))

    def _other(self, view: QuestionView, chosen: bool, answers: dict[str, Any]) -> None:
        assert view.other_key is not None
        if chosen:
            answers[view.other_key] = self._text(200, long=False)

    def _bounds(self, view: QuestionView) -> tuple[int, int]:
        low, high = view.min, view.max
        if low is None and high is None:
            low, high = 0, 100
        elif low is None:
            low = high - 100
        elif high is None:
            high = low + 100
        return int(-(-low // 1)), int(high // 1)  # ceil, floor

    def _integer(self, view: QuestionView) -> int:
        low, high = self._bounds(view)
        if self.rng.random() < 0.6:
            high = min(high, low + 4)  # most people give small counts
        return self.rng.randint(low, high)

    def _decimal(self, view: QuestionView) -> Any:
        places = view.places if view.places is not None else 2
        scale = 10**places
        low = view.min if view.min is not None else (view.max - 1000 if view.max is not None else 0)
        high = view.max if view.max is not None else low + 1000
        units = self.rng.randint(int(-(-low * scale // 1)), int(high * scale // 1))
        value = units / scale
        return value if self.rng.random() < 0.6 else f"{value:.{places}f}"

    def _text(self, max_length: int, *, long: bool) -> str:
        rng = self.rng
        if rng.random() < self.b.awkward_text:
            text = rng.choice(_AWKWARD)
        else:
            words = [
                _WORDS[int(rng.random() * len(_WORDS))]
                for _ in range(1 + int(rng.random() * (12 if long else 5)))
            ]
            if long and rng.random() < 0.3:
                words.insert(len(words) // 2, "\n")
            text = " ".join(words)
        text = text[:max_length].strip()
        return text or "x"

    def _date_bounds(self, view: QuestionView) -> tuple[dt.date, dt.date]:
        low = self.today if view.min == "today" else view.min
        high = self.today if view.max == "today" else view.max
        if low is None:
            low = (high or self.today) - dt.timedelta(days=365 * 80)
        if high is None:
            high = low + dt.timedelta(days=365 * 80)
        return low, high

    def _date(self, view: QuestionView) -> Any:
        low, high = self._date_bounds(view)
        value = dt.date.fromordinal(self.rng.randint(low.toordinal(), high.toordinal()))
        r = self.rng.random()
        if r < 0.5:
            return value
        if r < 0.8:
            return value.isoformat()
        return {"day": str(value.day), "month": str(value.month), "year": str(value.year)}

    # ---- invalid answers

    def _invalid(self, step: Step, answers: dict[str, Any]) -> tuple[str, str, Any] | None:
        """One input the engine must reject, for a random question of the page."""
        rng = self.rng
        candidates: list[tuple[QuestionView, str]] = []
        for view in step.questions:
            if view.rows:
                candidates.extend((view, row.key) for row in view.rows)
            elif view.key:
                candidates.append((view, view.key))
        if not candidates:
            return None
        view, key = candidates[int(rng.random() * len(candidates))]
        options: list[tuple[str, Any]] = []
        if not view.allow_dk:
            options.append(("dk_not_allowed", DK))
        if not view.allow_refused:
            options.append(("refused_not_allowed", REFUSED))
        kind = "grid" if view.rows else view.type
        if kind in ("single", "yesno", "grid", "multi"):
            codes = [o.code for o in view.options]
            bad = max(codes) + 1 + int(rng.random() * 50)
            options.append(("not_an_option", [bad] if kind == "multi" else bad))
            options.append(("malformed", "two" if kind != "multi" else ["1x"]))
        if kind == "multi":
            exclusive = [o.code for o in view.options if o.exclusive]
            plain = [o.code for o in view.options if not o.exclusive]
            if exclusive and plain:
                options.append(("exclusive_combined", [rng.choice(plain), rng.choice(exclusive)]))
            if view.max_choices is not None and len(plain) > view.max_choices:
                options.append(("too_many_choices", rng.sample(plain, view.max_choices + 1)))
            if view.min_choices is not None and view.min_choices > 1:
                options.append(("too_few_choices", rng.sample(plain, view.min_choices - 1)))
            other = _other_code(view)
            if other is not None and view.other_key is not None:
                options.append(("other_text_missing", [other]))
        if kind in ("single",) and view.other_key is not None:
            other = _other_code(view)
            if other is not None:
                options.append(("other_text_missing", other))
        if kind in ("integer", "decimal"):
            if view.max is not None:
                options.append(("out_of_range", view.max + 1 + int(rng.random() * 100)))
            if view.min is not None:
                options.append(("out_of_range", str(view.min - 1 - int(rng.random() * 100))))
            options.append(("malformed", rng.choice(("12abc", "1.2.3", "--4", "one", "1e5"))))
        if kind == "integer":
            low, high = self._bounds(view)
            options.append(("not_whole", f"{rng.randint(low, max(low, high - 1))}.5"))
        if kind == "decimal":
            places = view.places if view.places is not None else 2
            low, high = self._bounds(view)
            base = rng.randint(low, max(low, high - 1))
            options.append(("too_many_places", f"{base}.{'1' * (places + 1)}"))
        if kind in ("text", "long_text"):
            limit = view.max_length or (200 if kind == "text" else 2000)
            options.append(("too_long", "y" * (limit + 1 + int(rng.random() * 10))))
        if kind == "date":
            first, last = self._date_bounds(view)
            if view.min is not None:
                options.append(
                    (
                        "date_out_of_range",
                        (first - dt.timedelta(days=1 + int(rng.random() * 900))).isoformat(),
                    )
                )
            if view.max is not None:
                options.append(
                    ("date_out_of_range", last + dt.timedelta(days=1 + int(rng.random() * 900)))
                )
            options.append(
                (
                    "impossible_date",
                    rng.choice(
                        (
                            {"day": "31", "month": "2", "year": "2001"},
                            "2021-13-01",
                            "yesterday",
                            {"day": "1", "month": "1", "year": "85"},
                        )
                    ),
                )
            )
        if not options:
            return None
        name, value = options[int(rng.random() * len(options))]
        if name == "other_text_missing":
            assert view.other_key is not None
            answers.pop(view.other_key, None)
        elif view.other_key is not None:
            answers.pop(view.other_key, None)  # the invalid code is not the other option
        return key, name, value


def _other_code(view: QuestionView) -> int | None:
    for option in view.options:
        if option.other_specify:
            return option.code
    return None


def _draw_case(questionnaire: Questionnaire, rng: random.Random) -> dict[str, Any]:
    """Random preload values by type: what a sample file might hold (one in ten left unset)."""
    case: dict[str, Any] = {}
    for preload in questionnaire.preload:
        if rng.random() < 0.1:
            continue
        kind = preload.type
        if kind == "integer":
            case[preload.id] = rng.choice((0, 1, 1, 2, 2, 2, 3, 3, 4, 5, 7))
        elif kind == "decimal":
            case[preload.id] = round(rng.uniform(0, 100), 2)
        elif kind == "text":
            case[preload.id] = rng.choice(_WORDS).title()
        elif kind == "date":
            case[preload.id] = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randint(0, 365 * 60))
        elif kind == "single" and preload.choices is not None:
            case[preload.id] = rng.choice(preload.choices.options).code
    return case


def _run(
    engine: Engine,
    tally: _Tally,
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
    case_data: Mapping[str, Any] = _draw_case(q, rng)
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
    tally: _Tally,
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
    respondent = _Respondent(rng, mode, behaviour, started_at.date())
    actor = f"interviewer:sim{1 + int(rng.random() * 20):02d}" if mode == "cati" else "respondent"
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
                    _count_checks(result, step, engine, tally, fired_here)
                if result.accepted:
                    if invalid is not None:
                        raise _Accepted(
                            f"the engine accepted an invalid input ({invalid[1]}) for '{invalid[0]}': {invalid[2]!r}",
                            step.page_id,
                        )
                    _count_answers(answers, step, tally)
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
                    _count_answers(answers, step, tally)
                    pages += 1
                    break
                tally.answers_changed += 1
            else:
                # nothing this respondent tried got past the page: give up (a check that cannot pass?)
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


def _count_answers(answers: dict[str, Any], step: Step, tally: _Tally) -> None:
    expected = others = 0
    for view in step.questions:
        expected += len(view.rows) if view.rows else (1 if view.key else 0)
        if view.other_key is not None and view.other_key in answers:
            others += 1
    for value in answers.values():
        if value is DK:
            tally.dk += 1
        elif value is REFUSED:
            tally.refused += 1
    tally.skipped += max(0, expected - (len(answers) - others))


def _count_checks(
    result: SubmitResult,
    step: Step,
    engine: Engine,
    tally: _Tally,
    fired_here: set[tuple[str, int, str]],
) -> None:
    for problem in (*result.errors, *result.warnings):
        if "#" not in problem.id:
            continue
        key, _, number = problem.id.rpartition("#")
        question = _question_of(key, step, engine)
        stat_key = (question, int(number), "error" if problem.kind == "error" else "warning")
        entry = tally.checks.get(stat_key)
        if entry is None:
            entry = tally.checks[stat_key] = [0, 0]
        entry[0] += 1
        fired_here.add(stat_key)


def _question_of(key: str, step: Step, engine: Engine) -> str:
    """The question id behind a variable key on this page."""
    for view in step.questions:
        if view.key == key or any(row.key == key for row in view.rows):
            return view.id
    variables = engine.q.variables
    name = key
    while name:
        var = variables.get(name)
        if var is not None and var.question is not None:
            return var.question.id
        if "_" not in name:
            break
        name = name.rsplit("_", 1)[0]
    return key


# --------------------------------------------------------------------------------------------------
# The report


def _report(
    q: Questionnaire, tally: _Tally, n: int, seed: int, mode: str, now: dt.datetime, seconds: float
) -> SimulationReport:
    questions: list[QuestionStat] = []
    for page in q.walk_pages():
        for question in page.questions:
            questions.append(
                QuestionStat(question.id, question.type, tally.reached.get(question.id, 0))
            )
    checks: list[CheckStat] = []
    known: set[tuple[str, int, str]] = set()
    for stat in questions:
        question = q.questions[stat.id]
        for check in question.checks:
            key: tuple[str, int, str] = (question.id, check.index, check.severity)
            fired, interviews = tally.checks.get(key, (0, 0))
            checks.append(CheckStat(question.id, check.index, check.severity, fired, interviews))
            known.add(key)
    for key, (fired, interviews) in sorted(tally.checks.items()):
        if key not in known:  # should not happen; keep it visible rather than drop it
            checks.append(CheckStat(key[0], key[1], key[2], fired, interviews))
    return SimulationReport(
        questionnaire_id=q.id,
        version=q.version,
        n=n,
        seed=seed,
        mode=mode,
        now=now,
        questions=questions,
        checks=checks,
        outcomes=dict(sorted(tally.outcomes.items())),
        dk=tally.dk,
        refused=tally.refused,
        skipped=tally.skipped,
        invalid_tried=dict(sorted(tally.invalid_tried.items())),
        invalid_rejected=dict(sorted(tally.invalid_rejected.items())),
        rejections=dict(sorted(tally.rejections.items())),
        warnings_confirmed=tally.warnings_confirmed,
        answers_changed=tally.answers_changed,
        backs=tally.backs,
        jumps=tally.jumps,
        breakoffs=tally.breakoffs,
        stuck=dict(sorted(tally.stuck.items())),
        pages=tally.pages,
        failures=tally.failures,
        seconds=seconds,
        engine_seconds=tally.engine_seconds,
    )
