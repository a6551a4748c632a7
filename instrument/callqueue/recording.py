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
* the call has not ended, and no decision is stored for it yet.

The decision is stored before the provider is asked to record, and stays
stored if the provider then fails. A second decision for the same call (a
double click, another tab) changes nothing and starts nothing: only the
request that stored a "yes" asks for the recording. This package imports no
telephony library; the provider is reached through :class:`Recorder`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from instrument.callqueue.outcomes import Refused
from instrument.fieldwork.settings import FieldworkSettings, TelephonySettings
from instrument.store import CallRecord, Store

__all__ = [
    "AlreadyDecided",
    "ConsentQuestion",
    "ConsentStored",
    "Recorder",
    "Recording",
    "asks_consent",
]


class Recorder(Protocol):
    """Starts recording a provider's call (the phone mode implements it with Twilio's REST API)."""

    def start_recording(self, sid: str) -> str:
        """Record the provider's call ``sid`` from now on; the provider's id of the recording."""
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
        if not asks_consent(telephony, call):
            return None
        return ConsentQuestion(attempt_id, call.id, str(telephony.consent_text))

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
        if recorder is None or call.provider_sid is None:
            return ConsentStored(call_id, True, problem="no telephony provider to record with")
        try:
            recording_sid = recorder.start_recording(call.provider_sid)
        except Exception as exc:  # the provider's error, whatever its library calls it
            return ConsentStored(call_id, True, problem=str(exc) or type(exc).__name__)
        self.store.set_recording_sid(call_id, recording_sid)
        return ConsentStored(call_id, True, recording_sid=recording_sid)
