"""The call-queue service: telephone cases for interviewers and supervisors.

:class:`CallQueue` joins the pure fieldwork rules (:mod:`instrument.fieldwork`),
the store's queue, call and outcome tables and the interview service: "next
case", the case screen, the case's one interview, dialling, coding the end of
a call, and the supervisor's operations, overview, rates and call records.
Same layer as :mod:`instrument.interviews`; no web framework or telephony
library (a provider is a :class:`Dialer`).
"""

from __future__ import annotations

from instrument.callqueue.outcomes import (
    AlreadyCoded,
    AppointmentRequest,
    CallPlaced,
    Claimed,
    Coded,
    Dialer,
    InterviewerStats,
    NoCase,
    Overview,
    Refused,
)
from instrument.callqueue.recording import (
    AlreadyDecided,
    ConsentQuestion,
    ConsentStored,
    Recorder,
)
from instrument.callqueue.service import CallQueue
from instrument.callqueue.supervisor import (
    CALL_RECORD_COLUMNS,
    TAKERS,
    AuditEntry,
    AuditPage,
    CaseChanged,
    CaseList,
    CaseSummary,
)
from instrument.callqueue.views import (
    AppointmentView,
    AttemptView,
    CallView,
    CaseView,
    NumberView,
)

__all__ = [
    "CALL_RECORD_COLUMNS",
    "TAKERS",
    "AlreadyCoded",
    "AlreadyDecided",
    "AppointmentRequest",
    "AppointmentView",
    "AttemptView",
    "AuditEntry",
    "AuditPage",
    "CallPlaced",
    "CallQueue",
    "CallView",
    "CaseChanged",
    "CaseList",
    "CaseSummary",
    "CaseView",
    "Claimed",
    "Coded",
    "ConsentQuestion",
    "ConsentStored",
    "Dialer",
    "InterviewerStats",
    "NoCase",
    "NumberView",
    "Overview",
    "Recorder",
    "Refused",
]
