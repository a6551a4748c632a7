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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from instrument.fieldwork.calling import CallingRules
from instrument.fieldwork.schedule import first_open
from instrument.interviews import InterviewService
from instrument.plugin_types import OutgoingMessage, Receipt
from instrument.sms.conversation import SmsState
from instrument_phone.sms.conversations import (
    SMS_MODE,
    Conversation,
    SmsInterviews,
    conversation_ids,
    message_twiml,
)

__all__ = ["Started", "start_conversations"]


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
        sids = conversation_ids(number, keys)
        found = next((c for c in (store.ivr_call(s) for s in sids) if c is not None), None)
        talk = Conversation.from_json(found.state if found is not None else None)
        if talk.stopped or (found is not None and found.case_id == case_id):
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
        sid = found.call_sid if found is not None else sids[0]
        if found is None:
            store.open_ivr_call(sid, direction="outbound", now=now())
        seq = (found.seq if found is not None else -1) + 1
        language = queued.get("language")
        interview_id = interviews.interview_for(
            questionnaire_id, case_id, sid, str(language) if language else None
        )
        hello = (interviews.words(interview_id, "invitation"),)
        text, flow = interviews.begin(sid, seq, interview_id, SmsState(), hello)
        if not text:
            skipped += 1
            continue
        talk = replace(talk, flow=flow, code_failures=0)
        store.record_ivr_turn(
            sid,
            seq,
            message_twiml(text),
            state=talk.to_json(),
            now=now(),
            interview_id=interview_id,
            case_id=case_id,
        )
        receipt = send(
            OutgoingMessage(
                channel="sms",
                to=number,
                template="sms_interview",
                language=service.about(interview_id).language,  # type: ignore[union-attr]
                idempotency_key=f"sms:{sid}:{seq}",
                text=text,
            )
        )
        if receipt.status == "failed":
            failed += 1
        else:
            sent += 1
    return Started(sent, failed, skipped, later, opens)
