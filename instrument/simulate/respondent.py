"""A simulated respondent: answers made up from what a step shows, and nothing else.

The respondent sees a step as a mode would render it (the option codes shown,
the bounds, the maximum length, the exclusive and other-specify flags,
whether don't know is offered) and never the questionnaire's routing, so a
question it never sees is a question no real respondent could see either.
:class:`Behaviour` sets how often it skips, says don't know, types something
awkward or slips in an invalid input (made by :mod:`.invalid`).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from instrument.engine import QuestionView, Step
from instrument.model import Questionnaire
from instrument.modes import WEB, ModePolicy
from instrument.values import DK, REFUSED

from .hints import NO_HINTS, Hints, text_matching
from .invalid import bounds, date_bounds, invalid_input, other_code

__all__ = [
    "NO_BREAKOFF",
    "VALID_ONLY",
    "Behaviour",
    "Respondent",
    "draw_case",
    "random_answers",
]

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
    hinted: float = 0.5
    """The chance a number, date or text is one the questionnaire compares it with (see hints.py)."""
    matching: float = 0.9
    """The chance a text tested with a regular expression is drawn to match it."""
    trap: float = 0.1
    """The chance a text is drawn to match a pattern that fires a check (an email address in a comment)."""


NO_BREAKOFF = Behaviour(breakoff=0.0)


VALID_ONLY = Behaviour(
    skip=0.0, missing=0.0, invalid=0.0, back=0.0, jump=0.0, breakoff=0.0, awkward_text=0.0
)


def random_answers(
    step: Step,
    rng: random.Random,
    policy: ModePolicy = WEB,
    *,
    today: dt.date,
    behaviour: Behaviour = VALID_ONLY,
    hints: Hints = NO_HINTS,
) -> dict[str, Any]:
    """Random answers for every key of ``step``, made from the step (valid ones by default).

    For drivers other than :func:`simulate`, such as benchmarks and load tests.
    Valid means within what the step shows; a cross-answer hard check may still refuse them.
    ``hints`` (:func:`~instrument.simulate.hints.questionnaire_hints`) adds the values the
    questionnaire's expressions compare answers with.
    """
    answers, _invalid = Respondent(rng, policy, behaviour, today, hints).page(step, set())
    return answers


class Respondent:
    """Makes up answers for one interview, from what each step shows and nothing else."""

    def __init__(
        self,
        rng: random.Random,
        policy: ModePolicy,
        behaviour: Behaviour,
        today: dt.date,
        hints: Hints = NO_HINTS,
    ) -> None:
        self.rng = rng
        self.keypad = policy.keypad  # a telephone keypad: no words, only the options read out
        self.b = behaviour
        self.today = today
        self.hints = hints

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
            invalid = invalid_input(self.rng, self.today, step, answers)
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
            if not view.options:  # a choice filter offered none: nothing to pick, leave it
                return
            code = self._code(view)
            answers[key] = code
            if view.other_key is not None:
                self._other(view, code == other_code(view), answers)
        elif kind == "multi":
            codes = self._codes(view)
            answers[key] = codes if rng.random() < 0.8 else [str(c) for c in codes]
            if view.other_key is not None:
                self._other(view, other_code(view) in codes, answers)
        elif kind == "integer":
            value = self._integer(view)
            answers[key] = value if rng.random() < 0.7 else str(value)
        elif kind == "decimal":
            answers[key] = self._decimal(view)
        elif kind in ("text", "long_text"):
            if not self.keypad:  # a keypad cannot type words: texts are left empty
                long = kind == "long_text"
                answers[key] = self._hinted_text(view, long) or self._text(
                    view.max_length or 200, long=long
                )
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
        if self.keypad:  # a keypad call offers neither not-read-out nor other-specify options
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

    def _integer(self, view: QuestionView) -> int:
        low, high = bounds(view)
        near = self._near_threshold(view, 1, low, high)
        if near is not None:
            return int(near)
        if self.rng.random() < 0.6:
            high = min(high, low + 4)  # most people give small counts
        return self.rng.randint(low, high)

    def _decimal(self, view: QuestionView) -> Any:
        places = view.places if view.places is not None else 2
        scale = 10**places
        low = view.min if view.min is not None else (view.max - 1000 if view.max is not None else 0)
        high = view.max if view.max is not None else low + 1000
        near = self._near_threshold(view, 1 / scale, low, high)
        if near is not None:
            value = round(near, places)
        else:
            units = self.rng.randint(int(-(-low * scale // 1)), int(high * scale // 1))
            value = units / scale
        return value if self.rng.random() < 0.6 else f"{value:.{places}f}"

    def _near_threshold(
        self, view: QuestionView, step: float, low: float, high: float
    ) -> float | None:
        """Sometimes a number just below, at or just above one the questionnaire compares with."""
        thresholds = self.hints.numbers.get(view.id)
        if not thresholds or self.rng.random() >= self.b.hinted:
            return None
        rng = self.rng
        threshold = thresholds[int(rng.random() * len(thresholds))]
        if step == 1 and threshold != int(threshold):  # 2.5 for a whole number: 2 or 3
            value = float(int(threshold) + (1 if rng.random() < 0.5 else 0))
        else:
            value = threshold + step * rng.choice((-1, 0, 1))
        return value if low <= value <= high else None

    def _hinted_text(self, view: QuestionView, long: bool) -> str | None:
        """A text the questionnaire tests for: matching its pattern, or a literal it compares with."""
        rng = self.rng
        limit = view.max_length or (2000 if long else 200)
        hints = self.hints
        for patterns, chance in (
            (hints.patterns.get(view.id), self.b.matching),
            (hints.traps.get(view.id), self.b.trap),
        ):
            if patterns and rng.random() < chance:
                text = text_matching(patterns[int(rng.random() * len(patterns))], rng, limit)
                if text is not None and (long or "\n" not in text):
                    return text
        literals = self.hints.texts.get(view.id)
        if literals and rng.random() < self.b.hinted:
            text = literals[int(rng.random() * len(literals))]
            return text if 0 < len(text) <= limit else None
        return None

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

    def _date(self, view: QuestionView) -> Any:
        low, high = date_bounds(view, self.today)
        value = dt.date.fromordinal(self.rng.randint(low.toordinal(), high.toordinal()))
        thresholds = self.hints.dates.get(view.id)
        if thresholds and self.rng.random() < self.b.hinted:
            threshold = thresholds[int(self.rng.random() * len(thresholds))]
            near = threshold + dt.timedelta(days=self.rng.choice((-1, 0, 1)))
            value = near if low <= near <= high else value
        r = self.rng.random()
        if r < 0.5:
            return value
        if r < 0.8:
            return value.isoformat()
        return {"day": str(value.day), "month": str(value.month), "year": str(value.year)}


def draw_case(questionnaire: Questionnaire, rng: random.Random) -> dict[str, Any]:
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
