"""Starting text interviews: the first question texted to each due case of a questionnaire.

``instrument sms start --questionnaire ID [--limit N]`` calls :func:`start_conversations`.
A case is due when it is not withdrawn, its interview (if any, in any mode)
is not finished, it has a working number (``phone_numbers``, the first by
rank) not on the do-not-call list, and that number's conversation is not
stopped (STOP) nor already running this case. The first text is the mode's
invitation words and the interview's current question; the respondent's
replies then come to the inbound webhook. Sending goes through a callable,
the installed SMS contact channel's ``send`` (its sender, status callback and
refusals), so the mode holds no second Twilio sender.

Texting hours: a text we start is sent only inside the study's calling hours
in the respondent's zone (the fieldwork file's ``calling: hours``; the zone
the case was queued with, else ``calling: default_zone``), the rule the
telephone keeps (:func:`~instrument.fieldwork.schedule.first_open`). A due
case outside them is left for a later run and counted, with when the first
of them opens. Replies are not held back: a text that answers the
respondent's own is sent at once, whatever the hour (docs/sms.md).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from instrument.fieldwork.calling import CallingRules
from instrument.fieldwork.schedule import first_open
from instrument.interviews import InterviewService
from instrument.plugin_types import (
    ChannelSetupError,
    OutgoingMessage,
    Receipt,
    TextInterviewReport,
    TextInterviewStart,
)
from instrument.sms.conversation import SmsState
from instrument.store.ivr_calls import IvrCallRecord
from instrument_phone.sms.conversations import (
    SMS_MODE,
    Conversation,
    SmsInterviews,
    conversation_ids,
    message_twiml,
    number_key,
)

TextedCase = tuple[bool, str | None]
"""What :func:`text_case` did: (texted and accepted by the channel, why not)."""

__all__ = ["Started", "TextedCase", "start_conversations", "start_for_panel", "text_case"]


@dataclass(frozen=True)
class Started:
    """What one run did: texts sent, refused by the provider, cases passed over, and due
    cases left for later because it is outside their texting hours (``opens``: when the
    first of them may be texted; None when none waits or the hours never open)."""

    sent: int
    failed: int
    skipped: int
    later: int = 0
    opens: dt.datetime | None = None


def start_conversations(
    service: InterviewService,
    questionnaire_id: str,
    *,
    send: Callable[[OutgoingMessage], Receipt],
    keys: Sequence[bytes],
    now: Callable[[], dt.datetime],
    limit: int | None = None,
    rules: CallingRules | None = None,
) -> Started:
    """Text the first question to up to ``limit`` due cases (see the module).

    :param keys: the number keys (:func:`~instrument_phone.sms.conversations.number_key`
        of the server's secret, newest first), so replies find the conversation.
    :param rules: the study's calling rules (hours, default zone): the fieldwork file's,
        the defaults when None.
    """
    rules = rules or CallingRules()
    survey = service.surveys[questionnaire_id]
    if SMS_MODE not in survey.questionnaire.modes:
        raise ValueError(f"questionnaire '{questionnaire_id}' does not list the sms mode")
    interviews = SmsInterviews(service, now)
    store = service.store
    sent = failed = skipped = later = 0
    opens: dt.datetime | None = None
    for case_id in store.unfinished_cases(questionnaire_id):
        if limit is not None and sent >= limit:
            break
        numbers = [n for n in store.phone_numbers_of(case_id) if n.working]
        if not numbers or store.is_do_not_call(numbers[0].e164):
            skipped += 1
            continue
        number = numbers[0].e164
        found = _conversation(store, conversation_ids(number, keys))
        passed_over = _passed_over(found, case_id)
        resend = passed_over == ALREADY and _left_unsent(store, found, case_id, now())
        if passed_over is not None and not resend:
            skipped += 1
            continue
        queued = store.queue_row(case_id) or {}
        at = now()
        window = first_open(rules, rules.zone(str(queued.get("zone") or "")), at)
        if window is None or window[0] > at:  # outside the respondent's hours: a later run
            later += 1
            if window is not None:
                opens = window[0] if opens is None else min(opens, window[0])
            continue
        language = queued.get("language")
        texted, why = text_case(
            interviews,
            questionnaire_id,
            case_id,
            number,
            str(language) if language else None,
            send=send,
            keys=keys,
            running_elsewhere=True,  # the command's cases are the study's own: as before
            resend=resend,
        )
        if texted:
            sent += 1
        elif why is not None and why.startswith("the provider"):
            failed += 1
        else:
            skipped += 1
    return Started(sent, failed, skipped, later, opens)


def text_case(
    interviews: SmsInterviews,
    questionnaire_id: str,
    case_id: str,
    number: str,
    language: str | None,
    *,
    send: Callable[[OutgoingMessage], Receipt],
    keys: Sequence[bytes],
    running_elsewhere: bool = False,
    resend: bool = False,
) -> TextedCase:
    """Text ``number`` the invitation words and the case's current question, at most once in
    the normal path.

    The turn is stored, with the conversation now running this case and the text recorded
    ``to_send`` (``sms_interview_attempts``), in one transaction before the text is handed to
    ``send``; the channel's answer is recorded after (``sent`` with the provider's id,
    ``failed``, ``refused`` for good, ``unknown`` when the channel raised). A second call for
    the same case finds the conversation running it and sends nothing. Two starts racing for
    one number's conversation: the one whose turn is not stored sends nothing.

    :param running_elsewhere: False refuses a number whose conversation is running another
        case's unfinished interview (a phone shared by a household: its replies must not
        change hands); True lets this case take the conversation over.
    :param resend: the caller holds the case alone and has waited out any try still going
        (the fieldwork worker's ``sms_interview`` step): a first text of this case that failed
        for a passing reason, or was recorded and never answered (its worker stopped before
        the channel had it), is sent again, the same text under the same key. Taken by
        compare-and-set, so only one caller sends it.
    """
    service, store, now = interviews.service, interviews.service.store, interviews.clock
    sids = conversation_ids(number, keys)
    found = _conversation(store, sids)
    why = _passed_over(found, case_id)
    if why == ALREADY and resend and found is not None:
        return _send_again(interviews, found, case_id, number, send)
    if why is None and found is not None and found.case_id and not running_elsewhere:
        other = found.interview_id
        if other is not None and not getattr(service.about(other), "finished", True):
            why = "the number's texts answer another case's interview now"
    if why is not None:
        return False, why
    talk = Conversation.from_json(found.state if found is not None else None)
    sid = found.call_sid if found is not None else sids[0]
    if found is None:
        store.open_ivr_call(sid, direction="outbound", now=now())
    seq = (found.seq if found is not None else -1) + 1
    interview_id = interviews.interview_for(questionnaire_id, case_id, sid, language)
    hello = (interviews.words(interview_id, "invitation"),)
    text, flow = interviews.begin(sid, seq, interview_id, SmsState(), hello)
    if not text:
        return False, "the interview has nothing to ask by text"
    talk = replace(talk, flow=flow, code_failures=0)
    stored = store.record_first_text(
        sid,
        seq,
        message_twiml(text),
        state=talk.to_json(),
        now=now(),
        interview_id=interview_id,
        case_id=case_id,
    )
    if not stored:
        return False, "another text took the conversation's turn first"
    language = service.about(interview_id).language  # type: ignore[union-attr]
    return _hand_over(store, sid, seq, _first_message(number, language, sid, seq, text), send, now)


ALREADY = "the number is already texting this case"

RUN_LEASE = dt.timedelta(minutes=10)
"""How long a first text recorded ``to_send`` is taken to be another run's, still being handed
over; after it, ``instrument sms start`` takes the text as left by a run that stopped."""


def _left_unsent(store: Any, found: IvrCallRecord | None, case_id: str, at: dt.datetime) -> bool:
    """The case's first text, from an earlier ``instrument sms start``, never reached the
    member: it failed for a passing reason, or its run stopped before the channel had it (still
    ``to_send`` after :data:`RUN_LEASE`). A later run sends it again (:func:`_send_again`)."""
    first = store.first_text(found.call_sid, case_id) if found is not None else None
    if first is None:
        return False
    if first.state == "failed":
        return True
    return first.state == "to_send" and first.updated_at <= at - RUN_LEASE


def _send_again(
    interviews: SmsInterviews,
    found: IvrCallRecord,
    case_id: str,
    number: str,
    send: Callable[[OutgoingMessage], Receipt],
) -> TextedCase:
    """The case's first text in the conversation ``found`` runs, sent again if it is to be."""
    store, now = interviews.service.store, interviews.clock
    first = store.first_text(found.call_sid, case_id)
    if first is None:  # begun by the respondent (an access code, a reply): nothing of ours
        return False, ALREADY
    if first.state == "sent":  # its worker stopped after the channel took it: nothing to do
        return True, None
    if first.state == "refused":
        return False, f"the provider refused the text: {first.error or 'no reason given'}"
    if first.state == "unknown":
        return False, f"whether the text left is not known: {first.error or 'no reason given'}"
    if not store.claim_first_text(first, now=now()):
        return False, "another worker is sending the first text"
    text = _message_text(first.twiml)
    about = interviews.service.about(found.interview_id) if found.interview_id else None
    language = getattr(about, "language", None)
    message = _first_message(number, language, first.call_sid, first.seq, text)
    return _hand_over(store, first.call_sid, first.seq, message, send, now)


def _first_message(
    number: str, language: str | None, sid: str, seq: int, text: str
) -> OutgoingMessage:
    """The first text as the SMS channel takes it, under the turn's own idempotency key."""
    return OutgoingMessage(
        channel="sms",
        to=number,
        template="sms_interview",
        language=language,
        idempotency_key=f"sms:{sid}:{seq}",
        text=text,
    )


def _hand_over(
    store: Any,
    sid: str,
    seq: int,
    message: OutgoingMessage,
    send: Callable[[OutgoingMessage], Receipt],
    now: Callable[[], dt.datetime],
) -> TextedCase:
    """Hand the recorded first text to the channel and record its answer.

    A failed receipt is ``refused`` when permanent (the number itself), else ``failed``: the
    channel's own word, as for every message. A channel that raises leaves ``unknown`` (whether
    it left is not known), one whose settings cannot work (:class:`ChannelSetupError`) leaves
    ``failed`` with the try given back; both raise on. A process stopped meanwhile leaves
    ``to_send``: the text its successor sends again.
    """
    try:
        receipt = send(message)
    except ChannelSetupError as exc:
        store.finish_first_text(sid, seq, state="failed", now=now(), error=str(exc), untried=True)
        raise
    except Exception as exc:
        error = f"the channel raised {type(exc).__name__}"
        store.finish_first_text(sid, seq, state="unknown", now=now(), error=error)
        raise
    state = "sent" if receipt.ok else "refused" if receipt.permanent else "failed"
    store.finish_first_text(
        sid, seq, state=state, now=now(), provider_id=receipt.provider_id, error=receipt.error
    )
    if not receipt.ok:
        return False, f"the provider refused the text: {receipt.error or 'no reason given'}"
    return True, None


def _message_text(twiml: str) -> str:
    """The text of a stored turn's ``<Message>`` (the TwiML :func:`message_twiml` wrote)."""
    from xml.etree import ElementTree

    return ElementTree.fromstring(twiml).findtext("Message") or ""


def start_for_panel(
    start: TextInterviewStart, environ: Mapping[str, str] | None = None
) -> TextInterviewReport:
    """The fieldwork worker's ``sms_interview`` step for one member (``ModeSpec.start_text_interview``).

    The host has chosen the member and the moment (the plan, its quiet hours, the member's
    opt-outs); this texts the case's first question through :func:`text_case`, hashing the
    number under the server's secret (``INSTRUMENT_SECRET_KEY``, as the webhook does) so the
    member's replies find the conversation. A number whose conversation runs another
    case's unfinished interview is not taken over. Called again for the same case (the step's
    next try: the host holds the member and asks only when the step's wait or the lease of a
    try its worker never finished has passed), the first text not known to have left is sent
    again (``resend``), and one the channel took is not.
    """
    env = os.environ if environ is None else environ
    secret = env.get("INSTRUMENT_SECRET_KEY", "")
    if not secret:
        return TextInterviewReport(
            False,
            "INSTRUMENT_SECRET_KEY is not set: replies could not find the conversation",
        )
    interviews = SmsInterviews(start.interviews, start.clock)
    texted, why = text_case(
        interviews,
        start.questionnaire_id,
        start.case_id,
        start.number,
        start.language,
        send=start.send,
        keys=[number_key(secret)],
        resend=True,
    )
    return TextInterviewReport(texted, why)


def _conversation(store: Any, sids: Sequence[str]) -> IvrCallRecord | None:
    """The number's conversation under the newest key that has one."""
    return next((c for c in (store.ivr_call(s) for s in sids) if c is not None), None)


def _passed_over(found: IvrCallRecord | None, case_id: str) -> str | None:
    """Why a number's conversation takes no first text for ``case_id`` now, or None."""
    if found is None:
        return None
    if Conversation.from_json(found.state).stopped:
        return "the number texted STOP"
    if found.case_id == case_id:
        return ALREADY
    return None
