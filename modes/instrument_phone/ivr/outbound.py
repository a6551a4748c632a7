"""Placing automated (IVR) calls to a questionnaire's due cases with Twilio's ``calls.create``.

Which case, when and on which number is the call queue's decision
(:class:`~instrument.callqueue.automated.AutomatedCalls`: calling hours in the
respondent's time, the do-not-call list, attempt limits and retry delays,
never a case an interviewer holds); this module only turns a due case into
Twilio's request and reports what happened:

* ``Url``: the ``ivr`` webhooks' answer URL for the attempt
  (:func:`~instrument_phone.ivr.webhooks.outbound_answer_url`), where the
  interview is asked;
* ``StatusCallback`` (every progress event) and, where detection runs in the
  background, ``AsyncAmdStatusCallback``: this package's signed callbacks
  (:mod:`instrument_phone.ivr.outbound_callbacks`), which code the attempt;
* ``MachineDetection`` by the study's voicemail policy (``telephony:
  automated: on_machine``): ``Enable`` with ``AsyncAmd`` to hang up on a
  machine (a person hears the first question at once), ``DetectMessageEnd``
  to leave a message after the beep (the answer handler is asked once the
  greeting has ended, with ``AnsweredBy``, and plays the study's message);
* ``Timeout``: the study's ring time.

The client is passed in: tests give it a fake ``http_client``, and no socket is opened.

Two callers share :func:`place_due_calls`: ``instrument calls place`` (the shell, one study,
with the report of why every other case waits) and :func:`place_automated_calls`, the ``ivr``
mode's ``ModeSpec.place_automated_calls``, which the fieldwork worker calls each round for the
open waves whose ``automated_call`` step names the mode (the host may not import a mode).
Both read Twilio's settings from the environment with :func:`twilio_from_env` and build the
REST client over :data:`HTTP_CLIENT`.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from instrument.callqueue.automated import AutomatedCalls, DueCall, NotDue, Skipped
from instrument.callqueue.outcomes import CallPlaced
from instrument.fieldwork.automated import AutomatedCallSettings
from instrument.plugin_types import AutomatedCallReport, AutomatedCallRun
from instrument_phone.ivr.webhooks import IVR_MODE, outbound_answer_url
from instrument_phone.telephony.config import (
    TELEPHONY_VARIABLES,
    TelephonyConfigError,
    TwilioSettings,
)
from instrument_phone.telephony.dialer import STATUS_EVENTS, make_client
from instrument_phone.telephony.dialer import hang_up as end_call

if TYPE_CHECKING:
    from twilio.rest import Client

__all__ = [
    "CALLBACKS_PREFIX",
    "HTTP_CLIENT",
    "AutomatedDialer",
    "Placed",
    "RunReport",
    "amd_callback_path",
    "answer_url",
    "call_options",
    "place_automated_calls",
    "place_due_calls",
    "status_callback_path",
    "twilio_from_env",
]

HTTP_CLIENT: Any = None
"""The twilio SDK's HTTP client the automated calls' REST client uses (``instrument calls
place`` and the fieldwork worker's); None: Twilio's own over ``requests``. Tests put the fake
Twilio API here (tests/twilio_fake.py)."""

CALLBACKS_PREFIX = "/calls"
"""Where the automated calls' callbacks are mounted inside the ``ivr`` mode's blueprint."""


def status_callback_path(call_id: int) -> str:
    """The path of an automated call's status callbacks (below the app's root)."""
    return f"/{IVR_MODE}{CALLBACKS_PREFIX}/status/{int(call_id)}"


def amd_callback_path(call_id: int) -> str:
    """The path Twilio posts an automated call's background machine-detection result to."""
    return f"/{IVR_MODE}{CALLBACKS_PREFIX}/amd/{int(call_id)}"


def answer_url(settings: TwilioSettings, attempt_id: int) -> str:
    """Where Twilio asks what to say once the call is answered: the ``ivr`` webhooks' handler."""
    return outbound_answer_url(settings, attempt_id)


def call_options(
    settings: TwilioSettings,
    policy: AutomatedCallSettings,
    *,
    attempt_id: int,
    call_id: int,
    caller_id: str | None = None,
) -> dict[str, Any]:
    """``calls.create``'s arguments but ``to``: every URL from the configured public URL.

    ``caller_id``: the study's own number (``telephony: numbers:``, the first), shown to the
    respondent and the number they call back on; None: the instance's
    (``INSTRUMENT_TWILIO_CALLER_ID``). Method and StatusCallbackMethod are left at Twilio's
    default, POST, the method the webhooks accept.
    """
    options: dict[str, Any] = {
        "from_": caller_id or settings.caller_id,
        "url": answer_url(settings, attempt_id),
        "status_callback": settings.public_url + status_callback_path(call_id),
        "status_callback_event": list(STATUS_EVENTS),
        "timeout": policy.ring_seconds,
        "machine_detection": policy.machine_detection,
    }
    if policy.background_detection:
        options["async_amd"] = "true"
        options["async_amd_status_callback"] = settings.public_url + amd_callback_path(call_id)
        options["async_amd_status_callback_method"] = "POST"
    return options


@dataclass
class AutomatedDialer:
    """:class:`~instrument.callqueue.Dialer` for one attempt's automated call through Twilio.

    One per attempt, because the answer URL names the attempt while the
    queue's dialer is handed only the number and the call's id.
    """

    client: Client
    settings: TwilioSettings
    policy: AutomatedCallSettings
    attempt_id: int
    caller_id: str | None = None

    def place(self, to_e164: str, call_id: int) -> str:
        options = call_options(
            self.settings,
            self.policy,
            attempt_id=self.attempt_id,
            call_id=call_id,
            caller_id=self.caller_id,
        )
        call = self.client.calls.create(to=to_e164, **options)
        return str(call.sid)

    def hang_up(self, sid: str) -> None:
        end_call(self.client, sid)


@dataclass(frozen=True)
class Placed:
    """One automated call placed: the case, its attempt and call, the number's rank, Twilio's sid."""

    case_id: str
    attempt_id: int
    call_id: int
    number_rank: int
    sid: str | None
    attempts: int


@dataclass
class RunReport:
    """What one run did: the calls placed, the cases taken but not dialled, and why the rest wait."""

    questionnaire_id: str
    placed: list[Placed] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    waiting: list[NotDue] = field(default_factory=list)
    stopped_by_limit: bool = False


def place_due_calls(
    calls: AutomatedCalls,
    client: Client,
    settings: TwilioSettings,
    questionnaire_id: str,
    *,
    limit: int,
    clock: Callable[[], dt.datetime],
    explain: bool = True,
) -> RunReport:
    """Place up to ``limit`` automated calls to ``questionnaire_id``'s due cases, one at a time.

    Each case is taken, dialled and handed back before the next is taken, the
    clock read afresh for each (a run that lasts past the end of calling hours
    stops finding cases). Cases taken but not dialled count towards the limit
    too, so a run always ends. With ``explain``, the report also says why each
    other case of the dialler's waits (a read of every queued case: the
    command's report, not the worker's rounds).
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    report = RunReport(questionnaire_id)
    telephony = calls.queue.settings_for(questionnaire_id).telephony
    policy = telephony.automated
    caller_id = telephony.numbers[0] if telephony.numbers else None  # the study's own number
    for _ in range(limit):
        now = clock()
        taken = calls.take(questionnaire_id, now=now)
        if taken.kind == "no_case":
            break
        if isinstance(taken, Skipped):
            report.skipped.append(taken)
            continue
        assert isinstance(taken, DueCall)
        dialer = AutomatedDialer(client, settings, policy, taken.attempt_id, caller_id)
        placed = calls.place(taken, dialer, now=now)
        if isinstance(placed, Skipped):
            report.skipped.append(placed)
            continue
        assert isinstance(placed, CallPlaced)
        report.placed.append(
            Placed(
                taken.case_id,
                taken.attempt_id,
                placed.call_id,
                taken.number_rank,
                placed.provider_sid,
                taken.attempts,
            )
        )
    else:
        report.stopped_by_limit = True
    if explain:
        report.waiting = calls.not_due(questionnaire_id, now=clock())
    return report


def twilio_from_env(environ: Mapping[str, str]) -> TwilioSettings:
    """Twilio's settings for automated calls from ``environ``.

    :raises TelephonyConfigError: none is set, or some are set and others not, or one is
        wrong; the message names the variables.
    """
    settings = TwilioSettings.from_env(environ)
    if settings is None:
        raise TelephonyConfigError(
            "automated calls need Twilio, and none of " + ", ".join(TELEPHONY_VARIABLES) + " is set"
        )
    return settings


def place_automated_calls(run: AutomatedCallRun) -> AutomatedCallReport:
    """The ``ivr`` mode's ``place_automated_calls``: :func:`place_due_calls` for the worker.

    Twilio's settings are read first, so a machine without them takes no case and says what
    to set (``unavailable``); ``run.limit`` 0 asks only that.
    """
    try:
        settings = twilio_from_env(os.environ)
    except TelephonyConfigError as exc:
        return AutomatedCallReport(unavailable=str(exc))
    if run.limit == 0:
        return AutomatedCallReport()
    report = place_due_calls(
        run.calls,
        make_client(settings, HTTP_CLIENT),
        settings,
        run.questionnaire_id,
        limit=run.limit,
        clock=run.clock,
        explain=False,
    )
    return AutomatedCallReport(
        placed=tuple(placed.case_id for placed in report.placed),
        not_placed=tuple((skipped.case_id, skipped.reason) for skipped in report.skipped),
    )
