"""The interview variables every export begins with, and how their codes read.

``case_id``, ``qversion``, ``language``, ``mode``, ``mode_first``,
``mode_switch``, ``started``, ``ended``, ``duration``, ``outcome`` and
``interviewer`` come from the interview, not from a question; their codes
(:data:`MODE_LABELS`, :data:`OUTCOME_LABELS`) are the same in every export, so
the README and the syntax files can explain them once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from instrument.model import Questionnaire

from .codebook import VariableInfo

__all__ = ["ADMIN", "MODE_LABELS", "OUTCOME_LABELS", "admin_infos", "interviewers_from_events"]

MODE_LABELS = {
    1: "Web (self-completion)",
    2: "Telephone with an interviewer (CATI)",
    3: "Automated telephone call (IVR)",
}
OUTCOME_LABELS = {1: "Complete", 2: "Partial (break-off or unfinished)", 3: "Screened out"}


ADMIN = [
    "case_id",
    "qversion",
    "language",
    "mode",
    "mode_first",
    "mode_switch",
    "started",
    "ended",
    "duration",
    "outcome",
    "interviewer",
]


def admin_infos(
    q: Questionnaire, frame: dict[str, int], languages: list[str], versions: list[str]
) -> list[VariableInfo]:
    rp, un = str(frame["routed_past"]), str(frame["unanswered"])
    return [
        VariableInfo(
            "case_id",
            "Case identifier (pseudonymous; not the fieldwork id)",
            "admin",
            "str",
            width=17,
            universe="Everyone",
        ),
        VariableInfo(
            "qversion",
            "Questionnaire version the interview started on",
            "admin",
            "str",
            value_labels={v: v for v in versions},
            universe="Everyone",
        ),
        VariableInfo(
            "language",
            "Language of the interview",
            "admin",
            "int",
            value_labels={i + 1: lang for i, lang in enumerate(languages)},
            universe="Everyone",
        ),
        VariableInfo(
            "mode",
            "Mode of completion (last mode used)",
            "admin",
            "int",
            value_labels=dict(MODE_LABELS),
            universe="Everyone",
        ),
        VariableInfo(
            "mode_first",
            "Mode the interview started in",
            "admin",
            "int",
            value_labels=dict(MODE_LABELS),
            universe="Everyone",
        ),
        VariableInfo(
            "mode_switch",
            "Interview switched mode",
            "admin",
            "int",
            value_labels={0: "Single mode", 1: "Switched mode"},
            universe="Everyone",
        ),
        VariableInfo(
            "started",
            "Interview start (UTC)",
            "admin",
            "datetime",
            level="scale",
            universe="Everyone",
        ),
        VariableInfo(
            "ended",
            "Interview end (UTC); empty if unfinished",
            "admin",
            "datetime",
            level="scale",
            universe="Everyone",
        ),
        VariableInfo(
            "duration",
            "Interview length in seconds (start to end); empty if unfinished",
            "admin",
            "float",
            level="scale",
            places=0,
            universe="Everyone",
        ),
        VariableInfo(
            "outcome",
            "Outcome of the interview",
            "admin",
            "int",
            value_labels=dict(OUTCOME_LABELS),
            universe="Everyone",
        ),
        VariableInfo(
            "interviewer",
            "Interviewer (pseudonymous) who last keyed answers",
            "admin",
            "str",
            width=13,
            missing={
                rp: "Inapplicable: no telephone interviewer",
                un: "Missing: telephone interview without a recorded interviewer",
            },
            universe="Interviews done at least partly by telephone with an interviewer",
        ),
    ]


def interviewers_from_events(events: Iterable[Any]) -> dict[str, str]:
    """The last interviewer who keyed an answer, per interview, from store events."""
    found: dict[str, str] = {}
    for event in events:
        actor = getattr(event, "actor", "") or ""
        if actor.startswith("interviewer:"):
            found[event.interview_id] = actor.split(":", 1)[1]
    return found
