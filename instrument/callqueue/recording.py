"""Recording consent: whether the call must be asked about recording, and keeping the answer.

A call is recorded only where the study turns recording on (the fieldwork
file's ``telephony: {recording: true, consent_text: ...}``), only after the
interviewer has read the consent text out and keyed the respondent's "yes",
and only through the provider's REST API once that "yes" is stored: the
bridge's TwiML never records, because it would capture the consent question
and everything said before a "no".

The question is asked once per call, of the call the interviewer is on (the
attempt's latest), when all of these hold (:func:`asks_consent`):

* the study records and has a consent text to read out;
* the call went through a provider (Twilio) and has the provider's id: a call
  dialled by hand has nothing that could record it, so it is never asked;
* the call has not ended, and no decision is stored for it yet;
* the case has not been withdrawn: a withdrawal that deleted the answers
  listed the case's recordings for deletion at the provider
  (:mod:`instrument.store.recording_deletions`), and a recording started
  after it would be listed nowhere. An interviewer still on such a call may
  code it, but it is never recorded (asking is :class:`Refused`).

The decision is stored before the provider is asked to record, and stays
stored if the provider then fails. A second decision for the same call (a
double click, another tab) changes nothing and starts nothing: only the
request that stored a "yes" asks for the recording. This package imports no
telephony library; the provider is reached through :class:`Recorder`, which
tries a passing failure again itself, briefly, within the request.

When the provider still will not record, the call keeps its yes with the
recording "failed" and why (the supervisor's CSV and the case history say
"consented, not recorded"), and while the call lasts the interviewer is
offered to try again (:meth:`Recording.recording_retry`,
:meth:`Recording.retry_recording`): the store lets one request at a time do so
and none once the call has a recording, so a double press asks once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from instrument.callqueue.outcomes import Refused
from instrument.fieldwork.settings import FieldworkSettings, TelephonySettings
from instrument.fieldwork.wording import in_language
from instrument.store import CallRecord, Store
from instrument.store.fieldwork_calls import STATUS_RANK
from instrument.store.fieldwork_recording import STALE_START

__all__ = [
    "AlreadyDecided",
    "AlreadyStarting",
    "ConsentQuestion",
    "ConsentStored",
    "Recorder",
    "Recording",
    "RecordingRetry",
    "RecordingTried",
    "asks_consent",
    "offers_retry",
]

NO_PROVIDER = "no telephony provider to record with"
WITHDRAWN = "this case was withdrawn: its calls are not recorded"


class Recorder(Protocol):
    """Starts recording a provider's call (the phone mode implements it with Twilio's REST API)."""

    def start_recording(self, sid: str, *, call_id: int) -> str:
        """Record the provider's call ``sid`` (our call ``call_id``) from now on; the recording's id.

        Raises when the provider will not, with a message fit for the
        interviewer and the call record; a passing failure is tried again
        before that, briefly (the interviewer is waiting).
        """
        ...


@dataclass(frozen=True, slots=True)
class ConsentQuestion:
    """The call ``call_id`` must be asked about recording: ``text`` is read out first."""

    attempt_id: int
    call_id: int
    text: str
    kind: Literal["consent_question"] = "consent_question"


@dataclass(frozen=True, slots=True)
class ConsentStored:
    """The decision was stored by this request.

    After a yes, ``recording_sid`` is the recording the provider started, or
    None with ``problem`` saying why it did not start (the yes stays stored;
    the call is simply not recorded).
    """

    call_id: int
    consent: bool
    recording_sid: str | None = None
    problem: str | None = None
    kind: Literal["consent_stored"] = "consent_stored"


@dataclass(frozen=True, slots=True)
class AlreadyDecided:
    """The call's decision had been stored before (a double click, a second tab): it stands."""

    call_id: int
    consent: bool
    kind: Literal["already_decided"] = "already_decided"


@dataclass(frozen=True, slots=True)
class RecordingRetry:
    """The call ``call_id`` was consented but is not recorded, and still going: offer to try again.

    ``problem``: why the last try failed, if known.
    """

    attempt_id: int
    call_id: int
    problem: str | None
    kind: Literal["recording_retry"] = "recording_retry"


@dataclass(frozen=True, slots=True)
class RecordingTried:
    """This request asked the provider again: ``recording_sid`` if it started, else ``problem``."""

    call_id: int
    recording_sid: str | None = None
    problem: str | None = None
    kind: Literal["recording_tried"] = "recording_tried"


@dataclass(frozen=True, slots=True)
class AlreadyStarting:
    """Nothing was asked: another request is starting the recording, or it has started."""

    call_id: int
    recording_sid: str | None
    kind: Literal["already_starting"] = "already_starting"


def offers_retry(call: CallRecord | None, *, now: dt.datetime) -> bool:
    """Whether ``call`` is consented, not recorded, and still going (so trying again may help).

    Not recorded: no recording known, and none being started (a start left
    by a request that never finished, older than ``STALE_START``, counts as
    none). Still going: placed through a provider, not ended, not final.
    """
    if call is None or call.recording is not True or call.recording_sid is not None:
        return False
    if call.provider == "manual" or call.provider_sid is None or call.ended_at is not None:
        return False
    if STATUS_RANK.get(call.status, -1) >= STATUS_RANK["completed"]:
        return False
    if call.recording_status == "starting":
        changed = call.recording_changed_at
        return changed is not None and changed < now - STALE_START
    return True


def asks_consent(telephony: TelephonySettings, call: CallRecord | None) -> bool:
    """Whether ``call`` must be asked about recording before its script (the rules above)."""
    return (
        telephony.recording
        and bool(telephony.consent_text)
        and call is not None
        and call.provider != "manual"
        and call.provider_sid is not None
        and call.ended_at is None
        and call.recording is None
    )


class Recording:
    """:meth:`consent_question` and :meth:`record_consent` (mixed into :class:`~instrument.callqueue.CallQueue`)."""

    store: Store
    settings_for: Callable[[str], FieldworkSettings]

    if TYPE_CHECKING:  # provided by Scheduling

        def _questionnaire_of(self, case_id: str) -> str: ...

    def consent_question(
        self, attempt_id: int, *, questionnaire_id: str | None = None
    ) -> ConsentQuestion | None:
        """The consent question the attempt's current call needs before its script, or None.

        ``questionnaire_id`` (the console knows it) lets a study that does not
        record answer without reading the store at all.
        """
        if (
            questionnaire_id is not None
            and not self.settings_for(questionnaire_id).telephony.recording
        ):
            return None
        call = self.store.latest_call(attempt_id)
        if call is None:
            return None
        telephony = self.settings_for(self._questionnaire_of(call.case_id)).telephony
        if not asks_consent(telephony, call) or telephony.consent_text is None:
            return None
        if self._withdrawn(call.case_id):
            return None
        # Read to the respondent in the language they speak, where the study wrote the consent
        # in it: their interview's now (they may have switched it, on the web or by phone),
        # else the one the case is fielded in (the queue keeps it with the case).
        language = self.store.case_language(call.case_id)
        text = in_language(telephony.consent_text, language)
        return ConsentQuestion(attempt_id, call.id, text)

    def _withdrawn(self, case_id: str) -> bool:
        case = self.store.get_case(case_id)
        return case is not None and case.withdrawn_at is not None

    def record_consent(
        self,
        attempt_id: int,
        call_id: int,
        consent: bool,
        *,
        recorder: Recorder | None,
        now: dt.datetime,
    ) -> ConsentStored | AlreadyDecided | Refused:
        """Store the respondent's decision on recording call ``call_id``; after a yes, record.

        Refused, with nothing stored, for a call that is not this open
        attempt's current call or that is not asked (see :func:`asks_consent`).
        Only the request that stores a yes asks ``recorder`` to record; a
        failure of the provider is reported in :attr:`ConsentStored.problem`.
        """
        call = self.store.get_call(call_id)
        if call is None or call.attempt_id != attempt_id:
            return Refused((f"call {call_id} is not a call of attempt {attempt_id}",))
        if call.recording is not None:
            return AlreadyDecided(call_id, call.recording)
        if self._withdrawn(call.case_id):
            return Refused((WITHDRAWN,))
        attempt = self.store.attempt(attempt_id)
        if attempt is None or attempt.ended_at is not None:
            return Refused(("this call's outcome is coded already; take the next case",))
        question = self.consent_question(attempt_id)
        if question is None or question.call_id != call_id:
            return Refused(("this call is not asked about recording",))
        decision = self.store.set_call_recording(call_id, consent, now=now)
        if not decision.stored:
            return AlreadyDecided(call_id, decision.consent)
        if not consent:
            return ConsentStored(call_id, False)
        recording_sid, problem = self._start(call, recorder, now)
        return ConsentStored(call_id, True, recording_sid=recording_sid, problem=problem)

    def recording_retry(self, attempt_id: int, *, now: dt.datetime) -> RecordingRetry | None:
        """The retry to offer for the attempt's current call (:func:`offers_retry`), or None."""
        call = self.store.latest_call(attempt_id)
        if call is None or not offers_retry(call, now=now) or self._withdrawn(call.case_id):
            return None
        return RecordingRetry(attempt_id, call.id, call.recording_error)

    def retry_recording(
        self,
        attempt_id: int,
        call_id: int,
        *,
        recorder: Recorder | None,
        now: dt.datetime,
    ) -> RecordingTried | AlreadyStarting | Refused:
        """Ask the provider again to record call ``call_id``, consented but not recorded.

        Refused, with nothing sent, for a call not this open attempt's, not
        consented, or ended. :class:`AlreadyStarting`, with nothing sent, when
        the call has its recording or another request is starting it (a
        double press): the store lets one request at a time claim the start.
        """
        call = self.store.get_call(call_id)
        if call is None or call.attempt_id != attempt_id:
            return Refused((f"call {call_id} is not a call of attempt {attempt_id}",))
        attempt = self.store.attempt(attempt_id)
        if attempt is None or attempt.ended_at is not None:
            return Refused(("this call's outcome is coded already; take the next case",))
        if call.recording is not True:
            return Refused(("the respondent did not agree to this call being recorded",))
        if self._withdrawn(call.case_id):
            return Refused((WITHDRAWN,))
        if call.recording_sid is not None:
            return AlreadyStarting(call_id, call.recording_sid)
        if not offers_retry(call, now=now) and call.recording_status != "starting":
            return Refused(("the call has ended: there is nothing left to record",))
        if recorder is None:
            return Refused((NO_PROVIDER,))
        if not self.store.claim_recording_start(call_id, now=now):
            found = self.store.get_call(call_id)
            return AlreadyStarting(call_id, None if found is None else found.recording_sid)
        recording_sid, problem = self._start(call, recorder, now)
        return RecordingTried(call_id, recording_sid, problem)

    def _start(
        self, call: CallRecord, recorder: Recorder | None, now: dt.datetime
    ) -> tuple[str | None, str | None]:
        """Ask ``recorder`` to record ``call`` (its start claimed): (the recording's id, None)
        or (None, why not), the outcome kept on the call."""
        if recorder is None or call.provider_sid is None:
            self.store.recording_failed(call.id, NO_PROVIDER, now=now)
            return None, NO_PROVIDER
        try:
            recording_sid = recorder.start_recording(call.provider_sid, call_id=call.id)
        except Exception as exc:  # the provider's error, whatever its library calls it
            problem = str(exc) or type(exc).__name__
            if self.store.recording_failed(call.id, problem, now=now):
                return None, problem
            found = self.store.get_call(call.id)  # a callback named the recording meanwhile
            if found is not None and found.recording_sid is not None:
                return found.recording_sid, None
            return None, problem
        if not self.store.set_recording_sid(call.id, recording_sid, now=now):
            return None, f"the call has another recording than {recording_sid}"
        return recording_sid, None
