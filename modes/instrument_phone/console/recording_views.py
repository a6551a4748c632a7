"""The recording-consent screen: read the consent text out, key the answer, record only after a yes.

Where the study records (``telephony: {recording: true, consent_text: ...}``
in its fieldwork file), the first script page of a call placed through
Twilio is replaced by this screen until the respondent's decision is stored
(:func:`consent_first`, asked by the script page). The interviewer reads the
consent text out (styled like every read-out of the script), keys 1 (yes) or 2
(no) and saves with Enter. The call-queue service stores the decision on the
call once and, only for the request that stored a yes, starts the recording
through Twilio's REST API (:class:`TwilioRecorder`); the decision stays stored
if Twilio then fails, and the interviewer is told the call is not recorded.

A call dialled by hand is never asked: nothing could record it. Nor is a
console without Twilio configured, whatever the study says.

When Twilio will not start the recording (after a few quick tries of a
passing failure: :func:`~instrument_phone.telephony.dialer.start_recording_retried`),
the yes stays stored with the recording "failed" and why, and the same
address shows a page that offers to **try recording again** while the call
lasts (also linked from the case screen's history): a plain form whose
button Enter presses. The call queue lets one request at a time start a
recording, and none once the call has one, so a double press asks Twilio
once. The recording's progress comes back on its own signed webhook
(:func:`~instrument_phone.telephony.dialer.recording_path`).

The form is a plain POST with the app's CSRF token (Flask-WTF refuses it
without one before this code runs) and answers with a redirect to the
script; a double click or a second tab is told the decision was keyed
already, and nothing is recorded twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import abort, current_app, redirect, request, url_for

from instrument.callqueue import AlreadyDecided, ConsentQuestion, ConsentStored
from instrument.callqueue.recording import AlreadyStarting, RecordingRetry, RecordingTried
from instrument_phone.telephony.config import TwilioSettings
from instrument_phone.telephony.dialer import (
    RECORDING_RETRY,
    make_client,
    recording_path,
    start_recording_retried,
)

if TYPE_CHECKING:
    from twilio.rest import Client

    from instrument_phone.console.views import Console

__all__ = ["RecordingViews", "TwilioRecorder", "consent_first"]

ANSWERS = {"yes": True, "no": False}
"""The form's values: explicit words, so nothing but "yes" can ever start a recording."""


RETRY = "retry"
"""The form's ``action`` that asks Twilio again to record a consented call."""


class TwilioRecorder:
    """The call queue's :class:`~instrument.callqueue.Recorder`: Twilio's REST API, both channels.

    A passing failure is tried again within the request (:data:`RECORDING_RETRY`), and the
    recording's status callbacks are asked for, to the call's signed recording webhook.
    """

    def __init__(self, client: Client, settings: TwilioSettings) -> None:
        self.client = client
        self.settings = settings

    def start_recording(self, sid: str, *, call_id: int) -> str:
        return start_recording_retried(
            self.client, sid, status_callback=self.settings.public_url + recording_path(call_id)
        )


def consent_question(console: Console, attempt_id: int) -> ConsentQuestion | None:
    """The consent question the attempt's current call needs, or None (no store read when the
    study does not record or the console has no Twilio)."""
    if console.telephony is None:
        return None
    _, questionnaire_id = console.taken_case(attempt_id)
    return console.queue.consent_question(attempt_id, questionnaire_id=questionnaire_id)


def consent_first(console: Console, attempt_id: int) -> Any:
    """A redirect to the consent screen when the call must be asked first, else None."""
    if consent_question(console, attempt_id) is None:
        return None
    return redirect(url_for(".recording", attempt_id=attempt_id), 303)


class RecordingViews:
    """GET shows the consent screen; POST stores the decision (and records after a yes)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def recorder(self) -> TwilioRecorder | None:
        """Twilio's REST client for the configured account (tests: the fake REST API)."""
        telephony = self.console.telephony
        if not isinstance(telephony, TwilioSettings):
            return None
        http = current_app.config.get("TWILIO_HTTP_CLIENT")
        client = make_client(telephony, http, timeout=RECORDING_RETRY.per_try)
        return TwilioRecorder(client, telephony)

    def retry_offer(self, attempt_id: int) -> RecordingRetry | None:
        """The "try recording again" the attempt's current call needs, or None (no read without
        Twilio: nothing was ever recorded then)."""
        if self.console.telephony is None:
            return None
        return self.console.queue.recording_retry(attempt_id, now=self.console.now())

    def page(self, attempt_id: int) -> Any:
        if not self.console.still_held(attempt_id):
            return self.console.gone(attempt_id)
        question = consent_question(self.console, attempt_id)
        if question is not None:
            return self._render(attempt_id, question)
        offer = self.retry_offer(attempt_id)
        if offer is not None:
            return self._render_retry(attempt_id, offer)
        return redirect(url_for(".script", attempt_id=attempt_id), 303)

    def submit(self, attempt_id: int) -> Any:
        if not self.console.still_held(attempt_id):
            return self.console.gone(attempt_id)
        try:
            call_id = int(request.form.get("call", ""))
        except ValueError:
            abort(400)
        if request.form.get("action") == RETRY:
            return self._retry(attempt_id, call_id)
        answer = request.form.get("consent", "")
        if answer not in ANSWERS:
            question = consent_question(self.console, attempt_id)
            if question is None or question.call_id != call_id:
                return redirect(url_for(".script", attempt_id=attempt_id), 303)
            return self._render(
                attempt_id, question, problem=self.console.say()("recording_choose")
            ), 422
        outcome = self.console.queue.record_consent(
            attempt_id, call_id, ANSWERS[answer], recorder=self.recorder(),
            now=self.console.now(),
        )  # fmt: skip
        if isinstance(outcome, ConsentStored):
            if not outcome.consent:
                self.console.tell("recording_declined")
            elif outcome.recording_sid is not None:
                self.console.tell("recording_started")
            else:
                self.console.tell("recording_failed", reason=outcome.problem or "")
                return redirect(url_for(".recording", attempt_id=attempt_id), 303)  # try again?
        elif isinstance(outcome, AlreadyDecided):
            self.console.tell("recording_decided")
        else:
            self.console.tell("recording_not_asked")
        return redirect(url_for(".script", attempt_id=attempt_id), 303)

    def _retry(self, attempt_id: int, call_id: int) -> Any:
        """Ask Twilio again to record a consented call; one request of a double press asks."""
        outcome = self.console.queue.retry_recording(
            attempt_id, call_id, recorder=self.recorder(), now=self.console.now()
        )
        if isinstance(outcome, RecordingTried):
            if outcome.recording_sid is None:
                self.console.tell("recording_failed_again", reason=outcome.problem or "")
                return redirect(url_for(".recording", attempt_id=attempt_id), 303)
            self.console.tell("recording_started")
        elif isinstance(outcome, AlreadyStarting):
            self.console.tell("recording_already_starting")
        else:
            self.console.tell("recording_not_retried", reason="; ".join(outcome.messages))
        return redirect(url_for(".script", attempt_id=attempt_id), 303)

    def _render_retry(self, attempt_id: int, offer: RecordingRetry) -> str:
        say = self.console.say()
        case_id, _ = self.console.taken_case(attempt_id)
        return self.console.render(
            "phone/recording_retry.html", page_title=say("recording_retry_title"),
            case_id=case_id, attempt_id=attempt_id, offer=offer, action=RETRY,
        )  # fmt: skip

    def _render(
        self, attempt_id: int, question: ConsentQuestion, problem: str | None = None
    ) -> str:
        say = self.console.say()
        case_id, _ = self.console.taken_case(attempt_id)
        title = say("recording_title")
        return self.console.render(
            "phone/recording.html", page_title=f"{say('error_prefix')}: {title}" if problem else title,
            case_id=case_id, attempt_id=attempt_id, question=question, problem=problem,
            chosen=request.form.get("consent", ""),
        )  # fmt: skip
