"""The interview service: start, show, answer, go back, switch language and finish interviews.

Every mode (web pages, interviewer screens, telephone webhooks, the panel's
workers) runs interviews through :class:`InterviewService` and never touches
the store's interview tables itself. See :mod:`instrument.interviews.service`.
"""

from __future__ import annotations

from instrument.interviews.context import ModeContext, utc_now
from instrument.interviews.links import LinkTarget
from instrument.interviews.notices import Listener
from instrument.interviews.outcomes import (
    RESPONDENT,
    Answers,
    InterviewInfo,
    LinkOpened,
    LinkProblem,
    Outcome,
    Rejected,
    Replayed,
    Saved,
    Seen,
    Shown,
    Stale,
    Unavailable,
)
from instrument.interviews.service import AnswerReader, InterviewService, status_of
from instrument.interviews.snapshots import Snapshot, SnapshotCache
from instrument.interviews.surveys import Survey, Surveys

__all__ = [
    "RESPONDENT",
    "AnswerReader",
    "Answers",
    "InterviewInfo",
    "InterviewService",
    "LinkOpened",
    "LinkProblem",
    "LinkTarget",
    "Listener",
    "ModeContext",
    "Outcome",
    "Rejected",
    "Replayed",
    "Saved",
    "Seen",
    "Shown",
    "Snapshot",
    "SnapshotCache",
    "Stale",
    "Survey",
    "Surveys",
    "Unavailable",
    "status_of",
    "utc_now",
]
