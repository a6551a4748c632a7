"""The store API: every read and write of survey data goes through :class:`Store`.

:class:`Store` is one class with one part per concern, each in its own module:
questionnaire versions (:mod:`~instrument.store.versions`), interviews read and
started (:mod:`~instrument.store.interviews`), saved with compare-and-set
(:mod:`~instrument.store.saves`) or imported in bulk
(:mod:`~instrument.store.imports`), read for exports
(:mod:`~instrument.store.exports`), the event log
(:mod:`~instrument.store.event_log`), staff accounts and sessions
(:mod:`~instrument.store.staff`, :mod:`~instrument.store.staff_sessions`),
personal-link tokens (:mod:`~instrument.store.tokens`), contacts
(:mod:`~instrument.store.contacts`), answers that identify a person
(:mod:`~instrument.store.personal`), cases (:mod:`~instrument.store.cases`) and
withdrawal (:mod:`~instrument.store.withdrawal`), and telephone fieldwork
(``instrument.store.fieldwork_*``: numbers, queue, calls, outcomes, audit), and
panel members with their encrypted contact details and consents
(:mod:`~instrument.store.panel_members`) and their withdrawal
(:mod:`~instrument.store.panel_withdrawal`), their messages' delivery reports
(:mod:`~instrument.store.panel_delivery`) and spam complaints
(:mod:`~instrument.store.panel_complaints`), and panel waves with the fieldwork worker's
claims and message records (:mod:`~instrument.store.panel_waves`,
:mod:`~instrument.store.panel_work`), the open cases a number was texted about
(:mod:`~instrument.store.panel_texted`), and automated calls with their turns and access
codes (:mod:`~instrument.store.ivr_calls`), and the recordings a withdrawal lists
for deletion at the provider (:mod:`~instrument.store.recording_deletions`).
What they share (the engine, transactions, the clock) is
:mod:`~instrument.store.plumbing`.

Each method is one short transaction on its own connection, so a Store is
safe to share between the threads of a web worker. Writes that can race
(saving the same interview from two tabs, two workers) compare and set in
one statement: an ``UPDATE ... WHERE revision = expected`` that locks the row
on PostgreSQL, inside ``BEGIN IMMEDIATE`` on SQLite (see
:mod:`instrument.store.engine`).
"""

from __future__ import annotations

from sqlalchemy.engine import URL

from instrument.store import migrate
from instrument.store.case_import import CaseImports
from instrument.store.cases import Cases
from instrument.store.contacts import Contacts
from instrument.store.engine import create_store_engine, resolve_url
from instrument.store.event_log import EventLog
from instrument.store.exports import Exports
from instrument.store.fieldwork_audit import FieldworkAudit
from instrument.store.fieldwork_calls import CallRecords
from instrument.store.fieldwork_live import LiveCallReads
from instrument.store.fieldwork_numbers import PhoneNumbers
from instrument.store.fieldwork_outcomes import Outcomes
from instrument.store.fieldwork_queue import Queue
from instrument.store.fieldwork_recording import CallRecording
from instrument.store.fieldwork_reports import FieldworkReports
from instrument.store.fieldwork_screen import CaseScreenReads
from instrument.store.imports import InterviewImports
from instrument.store.ivr_calls import IvrCalls
from instrument.store.panel_complaints import PanelComplaints
from instrument.store.panel_delivery import PanelDelivery
from instrument.store.panel_members import PanelMembers
from instrument.store.panel_reports import PanelReports
from instrument.store.panel_texted import PanelTexted
from instrument.store.panel_wave_rows import PanelWaveRows
from instrument.store.panel_waves import PanelWaves
from instrument.store.panel_withdrawal import PanelWithdrawals
from instrument.store.panel_work import PanelWork
from instrument.store.personal import PersonalAnswers
from instrument.store.recording_deletions import RecordingDeletions
from instrument.store.saves import InterviewSaves
from instrument.store.sms_attempts import SmsAttempts
from instrument.store.staff import StaffAccounts
from instrument.store.staff_audit import StaffAudit
from instrument.store.staff_sessions import StaffSessions
from instrument.store.tokens import Tokens
from instrument.store.versions import QuestionnaireVersions
from instrument.store.withdrawal import Withdrawals

__all__ = ["Store", "open_store"]


class Store(
    QuestionnaireVersions,
    InterviewSaves,
    InterviewImports,
    Exports,
    EventLog,
    StaffAccounts,
    StaffSessions,
    StaffAudit,
    Tokens,
    Contacts,
    PersonalAnswers,
    Cases,
    Withdrawals,
    PhoneNumbers,
    Queue,
    CallRecords,
    CallRecording,
    Outcomes,
    FieldworkAudit,
    FieldworkReports,
    CaseImports,
    CaseScreenReads,
    LiveCallReads,
    PanelMembers,
    PanelWithdrawals,
    PanelDelivery,
    PanelComplaints,
    PanelWaves,
    PanelWork,
    PanelReports,
    PanelWaveRows,
    PanelTexted,
    IvrCalls,
    SmsAttempts,
    RecordingDeletions,
):
    """Typed access to questionnaires, interviews, events, staff, tokens, contacts and cases."""


def open_store(url: str | URL | None = None, *, upgrade: bool = True) -> Store:
    """Open the store at ``url`` (else ``$INSTRUMENT_DATABASE_URL``, else ./instrument.db).

    The schema is created or migrated to the newest revision on first use
    (``upgrade=False`` skips that, for tools that only inspect a database).
    """
    engine = create_store_engine(resolve_url(url))
    if upgrade and migrate.current_revision(engine) != migrate.head_revision():
        migrate.upgrade(engine)
    return Store(engine)
