"""What a simulation found: reach per question, checks fired, outcomes, engine errors.

:class:`Tally` holds the counters every respondent of a run updates as it
goes (:func:`count_answers` and :func:`count_checks` per page, cheap to
update); :func:`make_report` turns them into a :class:`SimulationReport` in
questionnaire order, which the command prints as text or JSON.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from instrument.engine import Engine, Step, SubmitResult
from instrument.model import Questionnaire
from instrument.values import DK, REFUSED

__all__ = [
    "CheckStat",
    "QuestionStat",
    "SimulationFailure",
    "SimulationReport",
    "Tally",
    "count_answers",
    "count_checks",
    "make_report",
]


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
class Tally:
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
    passed: Counter[str] = field(default_factory=Counter)  # page id -> times someone got past it
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
    passed: dict[str, int] = field(default_factory=dict)
    """For each page someone gave up on: how many times a respondent got past it."""
    stuck_checks: dict[str, list[CheckStat]] = field(default_factory=dict)
    """For each page someone gave up on: the hard checks of its questions."""

    def never_passed(self, page: str) -> bool:
        """Whether nobody got past a page someone gave up on: a hard check that cannot pass?"""
        return self.passed.get(page, 0) == 0

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
            "stuck_pages": [
                {
                    "page": page,
                    "gave_up": gave_up,
                    "passed": self.passed.get(page, 0),
                    "hard_checks_fired": {
                        f"{c.question}#{c.index}": c.fired for c in self.stuck_checks.get(page, ())
                    },
                }
                for page, gave_up in self.stuck.items()
            ],
            "pages": self.pages_summary(),
            "engine_errors": [f.to_json() for f in self.failures],
            "seconds": round(self.seconds, 4),
            "engine_seconds": round(self.engine_seconds, 4),
            "respondents_per_second": round(self.respondents_per_second, 1)
            if self.seconds > 0
            else None,
        }


def count_answers(answers: dict[str, Any], step: Step, tally: Tally) -> None:
    """Count the don't knows, refusals and keys left empty on an accepted page."""
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


def count_checks(
    result: SubmitResult,
    step: Step,
    engine: Engine,
    tally: Tally,
    fired_here: set[tuple[str, int, str]],
) -> None:
    """Count the checks that fired on a submission (once per interview in ``fired_here``)."""
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


def _percent(count: int, n: int) -> float:
    return round(100.0 * count / n, 1) if n else 0.0


def make_report(
    q: Questionnaire, tally: Tally, n: int, seed: int, mode: str, now: dt.datetime, seconds: float
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
    stuck_checks: dict[str, list[CheckStat]] = {}
    for page_id in tally.stuck:
        on_page = {question.id for question in q.pages[page_id].questions}
        stuck_checks[page_id] = [
            c for c in checks if c.question in on_page and c.severity == "error"
        ]
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
        passed={page: tally.passed.get(page, 0) for page in sorted(tally.stuck)},
        stuck_checks=stuck_checks,
    )
