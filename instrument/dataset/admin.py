"""The interview variables every export begins with, and how their codes read.

``case_id``, ``qversion``, ``language``, ``mode``, ``mode_first``,
``mode_switch``, ``started``, ``ended``, ``duration``, ``outcome`` and
``interviewer`` come from the interview, not from a question. The outcome
codes (:data:`OUTCOME_LABELS`) are the same in every export; a mode's code
and label come from its policy (:mod:`instrument.modes`: the standard modes
are always 1 web, 2 telephone interviewer, 3 automated call).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from instrument.model import Questionnaire
from instrument.modes import ModePolicy

from .codebook import VariableInfo

__all__ = [
    "ADMIN",
    "OUTCOME_LABELS",
    "admin_infos",
    "interviewers_from_events",
    "mode_labels",
    "mode_policies",
]
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


def mode_policies(versions: Iterable[Questionnaire]) -> dict[str, ModePolicy]:
    """The modes of every version exported, in the order they are first declared."""
    found: dict[str, ModePolicy] = {}
    for version in versions:
        for name, policy in version.mode_policies.items():
            found.setdefault(name, policy)
    return found


def mode_labels(policies: Mapping[str, ModePolicy]) -> dict[int, str]:
    """``{dataset code: label}`` of the modes, by code."""
    return {
        p.dataset_code: p.label for p in sorted(policies.values(), key=lambda p: p.dataset_code)
    }


def admin_infos(
    q: Questionnaire,
    frame: dict[str, int],
    languages: list[str],
    versions: list[str],
    policies: Mapping[str, ModePolicy] | None = None,
) -> list[VariableInfo]:
    """The interview variables; ``policies``: the modes of every version exported (default: ``q``'s)."""
    rp, un = str(frame["routed_past"]), str(frame["unanswered"])
    labels = mode_labels(q.mode_policies if policies is None else policies)
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
            value_labels=dict(labels),
            universe="Everyone",
        ),
        VariableInfo(
            "mode_first",
            "Mode the interview started in",
            "admin",
            "int",
            value_labels=dict(labels),
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
                rp: "Inapplicable: no interviewer",
                un: "Missing: interviewer-administered, but no interviewer recorded",
            },
            universe="Interviews done at least partly by an interviewer",
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
