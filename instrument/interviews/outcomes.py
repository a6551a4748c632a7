"""What a mode hands the interview service, and the typed outcomes it gets back.

A mode says where the person was when they acted (:class:`Seen`: the
revision and page visit it showed them, and a key unique to this action) and
gets back exactly one outcome. It never has to reason about revisions itself:

* :class:`Shown`: here is the step to show;
* :class:`Saved`: the action was written; here is the step to show next;
* :class:`Replayed`: this very action had been saved before (a double click, a
  resent form, a retried webhook); nothing was written again;
* :class:`Stale`: the person acted on a page that is no longer current (a
  second tab, another device, an interviewer and a web respondent at once);
  nothing was written;
* :class:`Rejected`: the answers were not accepted (errors, warnings to
  confirm, or the skip prompt, which is remembered and so saved);
* :class:`Unavailable`: there is no such interview, or it was withdrawn.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from instrument.engine import Problem, Step

__all__ = [
    "RESPONDENT",
    "Answers",
    "InterviewInfo",
    "LinkOpened",
    "LinkProblem",
    "Outcome",
    "Rejected",
    "Replayed",
    "Saved",
    "Seen",
    "Shown",
    "Stale",
    "Unavailable",
]


RESPONDENT = "respondent"
"""The actor of what a respondent does themself, whatever the mode (web, automated call, text):
who acted, while the mode on each answer says how. An interviewer's actions name the interviewer."""


class InterviewInfo(NamedTuple):
    """An interview as a mode may see it: no answers, nothing personal.

    A named tuple rather than a frozen dataclass: two are made on every page
    turn, and a tuple is made at a third of the cost.
    """

    id: str
    questionnaire_id: str
    revision: int
    status: str
    mode: str
    language: str
    finished: bool
    case_id: str | None
    is_test: bool


class Seen(NamedTuple):
    """Where the person was when they acted (build it by keyword).

    :param revision: the interview revision the page was shown at.
    :param token: the page visit shown (:attr:`Step.token`).
    :param key: unique to this action (a form's nonce, a webhook's id): a
        second request with the same key is recognised as the same action.
    :param shown_at: when the page was shown, for paradata (None: unknown).
    """

    revision: int
    token: str
    key: str | None = None
    shown_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Answers:
    """What a mode read from the person for the step shown.

    :param values: answers by variable key (as in ``QuestionView.keys``).
    :param problems: what the mode found before the engine saw anything (a
        date with a 31st of February in three boxes); they are shown like the
        engine's, and nothing is submitted.
    :param confirmed: the soft warnings the person chose to accept (their
        ids), or True for all of them.
    """

    values: Mapping[str, Any]
    problems: Sequence[Problem] = ()
    confirmed: Collection[str] | bool = ()


@dataclass(frozen=True, slots=True)
class Shown:
    interview: InterviewInfo
    step: Step
    kind: Literal["shown"] = "shown"


@dataclass(frozen=True, slots=True)
class Saved:
    """Written. ``step``: the step to show next, when the caller asked for it (``show_next``)."""

    interview: InterviewInfo
    step: Step | None = None
    kind: Literal["saved"] = "saved"


@dataclass(frozen=True, slots=True)
class Replayed:
    interview: InterviewInfo
    kind: Literal["replayed"] = "replayed"


@dataclass(frozen=True, slots=True)
class Stale:
    interview: InterviewInfo
    kind: Literal["stale"] = "stale"


@dataclass(frozen=True, slots=True)
class Rejected:
    """Answers not accepted. ``saved``: the engine's memory of a skip prompt was saved."""

    interview: InterviewInfo
    step: Step
    errors: Sequence[Problem] = ()
    warnings: Sequence[Problem] = ()
    prompts: Sequence[Problem] = ()
    saved: bool = False
    kind: Literal["rejected"] = "rejected"


@dataclass(frozen=True, slots=True)
class Unavailable:
    """No interview to work on: ``unknown`` id, ``withdrawn``, or not in this questionnaire."""

    interview_id: str
    reason: Literal["unknown", "withdrawn"]
    kind: Literal["unavailable"] = "unavailable"


Outcome = Shown | Saved | Replayed | Stale | Rejected | Unavailable


@dataclass(frozen=True, slots=True)
class LinkOpened:
    """A personal link led to this interview (started now, or resumed)."""

    interview_id: str
    questionnaire_id: str
    started: bool
    kind: Literal["opened"] = "opened"


@dataclass(frozen=True, slots=True)
class LinkProblem:
    """A personal link that cannot be used: ``invalid`` (unknown, wrong mode) or ``expired``."""

    reason: Literal["invalid", "expired"]
    details: Mapping[str, Any] = field(default_factory=dict)
    kind: Literal["link_problem"] = "link_problem"
