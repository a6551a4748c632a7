"""The store: every interview, answer and account, in SQLite or PostgreSQL.

Open it with :func:`open_store`; everything else is a method of
:class:`Store`. See docs/store.md for the tables, where personal data live,
and the concurrency rules.
"""

from __future__ import annotations

from instrument.store.engine import ENV_VAR, resolve_url
from instrument.store.events import engine_events
from instrument.store.fieldwork_records import (
    AppointmentRecord,
    AttemptRecord,
    CallRecord,
    Claim,
    CodeResult,
    NumberNotCallable,
    PhoneNumber,
    StaleHold,
)
from instrument.store.panel_members import MemberImportRefused, MemberRecord
from instrument.store.panel_waves import WaveAlreadyOpened, WaveRecord, WaveStatus
from instrument.store.panel_work import ClaimedMember
from instrument.store.records import (
    AccessToken,
    AnswerEvent,
    CaseBelongsElsewhere,
    CaseRecord,
    CaseWithdrawn,
    Contact,
    ExportRecord,
    ImportedInterview,
    InterviewNotFound,
    InterviewRecord,
    InterviewWithdrawn,
    NewEvent,
    NulCharacterRefused,
    PersonalChange,
    PostgresDriverMissing,
    QuestionnaireVersion,
    QuestionnaireVersionConflict,
    SaveResult,
    StaffUser,
    StaleRevision,
    StoreError,
    WithdrawalReport,
)
from instrument.store.schema import (
    FINISHED_STATUSES,
    INTERVIEW_STATUSES,
    STAFF_ROLES,
    status_for_outcome,
)
from instrument.store.staff_audit import StaffAuditEntry, StaffAuditPage
from instrument.store.store import Store, open_store

__all__ = [
    "ENV_VAR",
    "FINISHED_STATUSES",
    "INTERVIEW_STATUSES",
    "STAFF_ROLES",
    "AccessToken",
    "AnswerEvent",
    "AppointmentRecord",
    "AttemptRecord",
    "CallRecord",
    "Claim",
    "CodeResult",
    "NumberNotCallable",
    "PhoneNumber",
    "StaleHold",
    "CaseBelongsElsewhere",
    "ClaimedMember",
    "CaseRecord",
    "CaseWithdrawn",
    "Contact",
    "ExportRecord",
    "ImportedInterview",
    "MemberImportRefused",
    "MemberRecord",
    "engine_events",
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
    "StaffAuditEntry",
    "StaffAuditPage",
    "StaffUser",
    "StaleRevision",
    "Store",
    "StoreError",
    "WaveAlreadyOpened",
    "WaveRecord",
    "WaveStatus",
    "WithdrawalReport",
    "open_store",
    "resolve_url",
    "status_for_outcome",
]
