"""What the store hands out and takes in: frozen dataclasses and errors.

Records are plain values, detached from any database session, so a web
request or an export can keep them as long as it likes. ``state`` and event
``value`` are JSON-compatible Python values; the store never looks inside them
(the engine owns their meaning, see :mod:`instrument.values`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "AccessToken",
    "AnswerEvent",
    "CaseBelongsElsewhere",
    "CaseRecord",
    "CaseWithdrawn",
    "Contact",
    "ExportRecord",
    "InterviewNotFound",
    "InterviewRecord",
    "InterviewWithdrawn",
    "NewEvent",
    "NulCharacterRefused",
    "PersonalChange",
    "PostgresDriverMissing",
    "QuestionnaireVersion",
    "QuestionnaireVersionConflict",
    "SaveResult",
    "StaffUser",
    "StaleRevision",
    "StoreError",
    "WithdrawalReport",
    "last_answered",
]


class StoreError(Exception):
    """Base class for errors the store raises on purpose."""


class StaleRevision(StoreError):
    """The interview changed since the caller loaded it; nothing was written.

    A second browser tab, a retried request without its idempotency key, or a
    racing worker all end here. The caller reloads and shows the current step.
    """

    def __init__(self, interview_id: str, expected: int, actual: int) -> None:
        super().__init__(
            f"interview {interview_id} is at revision {actual}, not {expected}: "
            "it was saved elsewhere in the meantime"
        )
        self.interview_id = interview_id
        self.expected = expected
        self.actual = actual


class InterviewNotFound(StoreError, LookupError):
    """No interview has that id."""


class InterviewWithdrawn(StoreError):
    """The respondent withdrew; the interview accepts no more answers."""


class CaseWithdrawn(StoreError):
    """The case was withdrawn: it is not imported, started or sent a link again."""


class CaseBelongsElsewhere(StoreError, ValueError):
    """A case id already stored for another questionnaire."""


class QuestionnaireVersionConflict(StoreError, ValueError):
    """The same source text was stored before under another questionnaire id or version."""


class NulCharacterRefused(StoreError, ValueError):
    """A text to be stored contains a NUL character (``"\\x00"``); nothing was written.

    PostgreSQL cannot hold NUL in text, and SQLite would keep it only to hand
    it to exports that choke on it, so the store refuses it on every backend
    alike. ``field`` names where it was: ``"username"``, ``"state"`` (with the
    path inside the state, e.g. ``"state answers.q7"``), ``"event 2 value"``...
    A caller that takes text from people (the interview service) strips or
    refuses NULs first and can turn this error into a message if one slips by.
    """

    def __init__(self, field: str) -> None:
        super().__init__(
            f"{field} contains a NUL character (\\x00), which the store does not accept"
        )
        self.field = field


class PostgresDriverMissing(StoreError, ImportError):
    """A PostgreSQL URL was given but psycopg 3, an optional extra, cannot be imported."""


@dataclass(frozen=True, slots=True)
class QuestionnaireVersion:
    """One immutable questionnaire text, identified by the SHA-256 of its source."""

    id: int
    questionnaire_id: str
    version: str
    content_hash: str
    source_text: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class InterviewRecord:
    """An interview's snapshot: the engine state and the revision it is at.

    ``questionnaire_id`` and ``version`` are copied from the questionnaire
    version the interview started on, for exports and lists.
    """

    id: str
    questionnaire_version_id: int
    questionnaire_id: str
    version: str
    case_id: str | None
    mode: str
    language: str
    status: str
    is_test: bool
    state: dict[str, Any]
    revision: int
    started_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None


class ExportRecord(NamedTuple):
    """What an export reads of one interview (:meth:`Store.iter_export_records`).

    ``state`` is ``{}`` when ``export_row`` was written under one of the keys
    the export asked for: it reads the row instead. ``updated_at`` is only
    read when the export selects by it (else None).
    """

    id: str
    questionnaire_version_id: int
    questionnaire_hash: str
    status: str
    is_test: bool
    updated_at: dt.datetime | None
    export_row: str | None
    state: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append when saving an interview.

    ``mode`` and ``at`` default to the save's mode and time. ``variable`` is
    ``None`` for events that concern no question (a page view, a language
    switch).
    """

    variable: str | None
    value: Any = None
    kind: str = "answer"
    actor: str = "respondent"
    mode: str | None = None
    at: dt.datetime | None = None


def last_answered(events: Sequence[NewEvent]) -> str | None:
    """The variable of the last ``answer`` among ``events`` (None: no answer among them).

    Saves write it to ``interviews.last_answered`` (None keeps the row's): where the
    interview stands in the answer log, which the wave dashboard's break-offs count by
    without looking each stopped interview up in the log (migration 0024_dashboard_reads).
    """
    return next((e.variable for e in reversed(events) if e.kind == "answer"), None)


@dataclass(frozen=True, slots=True)
class AnswerEvent:
    """One stored entry of the append-only event log."""

    id: int
    interview_id: str
    seq: int
    kind: str
    variable: str | None
    value: Any
    mode: str
    actor: str
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class SaveResult:
    """What a save did.

    ``replayed`` is true when the idempotency key had been used before: the
    result is the earlier save's, and nothing was written this time.
    ``first_seq`` is the seq of the first event written (``None`` if none).
    ``record`` is the interview as this save left it, with the ``state``
    the caller passed (not a copy); ``None`` for a replay, which wrote nothing.
    """

    interview_id: str
    revision: int
    replayed: bool
    first_seq: int | None
    event_count: int
    record: InterviewRecord | None = None


@dataclass(frozen=True, slots=True)
class StaffUser:
    """A member of the research team who can log into the staff area."""

    id: int
    username: str
    role: str
    created_at: dt.datetime
    disabled: bool
    time_zone: str | None = None
    """The IANA zone the console shows them times in (None: each study's default zone)."""


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A stored personal-link token; the token itself is never stored, only its hash."""

    id: int
    token_hash: str
    interview_id: str | None
    case_id: str | None
    questionnaire_id: str
    purpose: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    used_at: dt.datetime | None

    def is_expired(self, now: dt.datetime) -> bool:
        """True once ``expires_at`` has passed (a token without one never expires)."""
        return self.expires_at is not None and now >= self.expires_at


@dataclass(frozen=True, slots=True)
class Contact:
    """Personal contact details of a case, stored apart from all answers."""

    case_id: str
    name: str | None
    email: str | None
    phone: str | None
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class CaseRecord:
    """A case a personal link belongs to: its pseudonymous id and its preload values.

    ``preload`` holds the values of the questionnaire's ``preload:`` variables
    (plain JSON, by variable name). No personal data: names, emails and phone
    numbers are in :class:`Contact`.
    """

    id: str
    questionnaire_id: str
    preload: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    withdrawn_at: dt.datetime | None = None  # a withdrawn case keeps no preload values


@dataclass(frozen=True, slots=True)
class WithdrawalReport:
    """What :meth:`Store.withdraw` removed, for the evidence trail."""

    case_id: str | None
    interview_ids: tuple[str, ...] = field(default_factory=tuple)
    events_deleted: int = 0
    contacts_deleted: int = 0
    tokens_revoked: int = 0
    preload_values_deleted: int = 0
    personal_answers_deleted: int = 0
    # Telephone fieldwork (instrument.store.fieldwork_numbers.forget_fieldwork).
    phone_numbers_deleted: int = 0
    appointments_deleted: int = 0
    queue_rows_deleted: int = 0
    attempt_notes_cleared: int = 0
    # Recordings listed for deletion at the provider (instrument.store.recording_deletions).
    recordings_listed: int = 0


@dataclass(frozen=True, slots=True)
class PersonalChange:
    """How an interview's identifying answers changed since they were last stored.

    Given to :meth:`Store.save_interview`, which writes it in the same atomic
    save as the state, so the two never disagree: ``put`` (variable key -> JSON
    value) is written, inserted or replaced, and the keys in ``drop`` (answers
    cleared by going back) are deleted. A save without one leaves them as they are.
    """

    put: Mapping[str, Any] = field(default_factory=dict)
    drop: tuple[str, ...] = ()

    @classmethod
    def between(
        cls, stored: Mapping[str, Any], current: Mapping[str, Any]
    ) -> PersonalChange | None:
        """What turns ``stored`` into ``current``; None when they are equal (nothing to write)."""
        if stored == current:
            return None
        put = {k: v for k, v in current.items() if k not in stored or stored[k] != v}
        return cls(put, tuple(k for k in stored if k not in current))


@dataclass(frozen=True, slots=True)
class ImportedInterview:
    """A whole interview to store in one go (see :meth:`Store.import_interviews`)."""

    state: dict[str, Any]
    status: str
    mode: str
    language: str
    events: Sequence[NewEvent] = ()
    is_test: bool = False
    case_id: str | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    interview_id: str | None = None
    export_row: str | None = None
    personal: Mapping[str, Any] = field(default_factory=dict)
    """Its identifying answers (variable key -> JSON value), stored in ``personal_answers``."""
