"""The SMS interview mode's webhook: a text comes in, the conversation answers with the next one.

Mounted under the mode's prefix (``/sms``) and signed like every Twilio
webhook (``X-Twilio-Signature`` over the configured public URL; 403 before
anything is read otherwise, :func:`~instrument_phone.telephony.webhooks.require_signatures`).

``POST /sms/inbound`` (the study number's "a message comes in" webhook):

* STOP (and STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, ...: the SMS channel's
  rule; and the study's languages' own words, Welsh DIM: :func:`~instrument.sms.keywords.hear`)
  is honoured at once: nothing more is sent (an empty response; Twilio
  confirms its own words, the study confirms a word of a language's own), the
  conversation is marked stopped, and the number is marked opted out for every
  panel member who has it, where the SMS channel's STOP marks it
  (``Store.mark_contact``; needs the panel keys, else only the conversation is
  stopped and the miss is logged). START (DECHRAU) resumes: the question the
  conversation stopped at is sent again.
* A number with no interview running: a panel member replying to the wave's
  SMS invitation is matched to their open case by the number's lookup hash
  (:mod:`~instrument_phone.sms.panel_replies`; a number several members were
  invited at is asked for a code instead). Otherwise the text is read as an
  access code (the one in the invitation, the automated calls' ``ivr_code``); a
  good one starts or resumes the case's interview, in whatever mode it began.
  After :data:`CODE_TRIES` wrong ones the number's codes are not answered.
* Otherwise the reply answers the question asked (``InterviewService.answer``
  with a ``Seen`` keyed by conversation and turn, mode ``sms``), and the next
  question is the answer (TwiML ``<Message>``).

Idempotent by ``MessageSid``: the reply to each message is stored once with
the conversation's new state; a retried or duplicated webhook gets the same
reply and stores nothing. Two different texts at once: the second to store
its turn finds the first's there and is read again after it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from typing import Final, Literal

from flask import Blueprint, Response, abort, current_app, request

from instrument.interviews import InterviewService
from instrument.sms.conversation import SmsSettings, SmsState
from instrument.sms.keywords import hear, inbound_keyword
from instrument.store import Store
from instrument.store.ivr_calls import IvrCallRecord, access_code_key
from instrument.store.panel_texted import TextedCase
from instrument_phone.sms.conversations import (
    CODE_TRIES,
    SMS_MODE,
    Conversation,
    SmsInterviews,
    conversation_ids,
    message_twiml,
    number_key,
)
from instrument_phone.sms.panel_replies import SEVERAL, NumberLookup, choose_case
from instrument_phone.telephony.config import TwilioSettings
from instrument_phone.telephony.sms_webhooks import SMS_ACTOR, installed_reply_reader
from instrument_phone.telephony.webhooks import require_signatures

__all__ = ["create_sms_interview_webhooks"]

_RACE_TRIES = 3
_CODE_LENGTH: Final = 6
"""Digits from which a reply is read as an access code (the shortest a code may have) rather
than matched to a panel member's case by the number."""


def create_sms_interview_webhooks(
    service: InterviewService,
    settings: TwilioSettings,
    clock: Callable[[], dt.datetime],
    *,
    sms: SmsSettings | None = None,
    read_reply: Callable[[], Callable[[str], str | None] | None] = installed_reply_reader,
) -> Blueprint:
    """The ``sms`` blueprint's route (mount at ``/sms``), behind Twilio's signature.

    :param read_reply: gives the installed SMS channel's reply reader (STOP,
        START); without a channel, the core's rule (:func:`inbound_keyword`).
    """
    interviews = SmsInterviews(service, clock, sms or SmsSettings())
    store = service.store
    lookup = NumberLookup(store, clock)
    bp = Blueprint(SMS_MODE, __name__)
    require_signatures(bp, settings)
    readers: list[Callable[[str], str | None]] = []

    def keyword(body: str) -> str | None:
        if not readers:
            readers.append(read_reply() or inbound_keyword)
        return readers[0](body)

    def xml(twiml: str) -> Response:
        return Response(twiml, mimetype="text/xml")

    @bp.post("/inbound")
    def inbound() -> Response:
        form = request.form
        message_sid = form.get("MessageSid", "")
        sender = form.get("From", "").strip()
        if not message_sid.startswith(("SM", "MM")) or len(message_sid) > 64:
            abort(400)
        if not sender.startswith("+") or len(sender) > 20:
            abort(400)
        sids = conversation_ids(sender, _number_keys())
        for _ in range(_RACE_TRIES):
            found = next(
                (c for c in (store.ivr_call(s) for s in sids) if c is not None), None
            ) or store.open_ivr_call(sids[0], direction="inbound", now=clock())
            talk = Conversation.from_json(found.state)
            seq = talk.messages.get(message_sid)
            if seq is not None:  # a retry or a copy: the same reply
                stored = store.ivr_turn(found.call_sid, seq).twiml
                return xml(stored if stored is not None else message_twiml(None))
            seq = found.seq + 1
            text, talk, interview_id, case_id = _turn(
                interviews, lookup, found, talk, seq, form.get("Body", ""), sender, keyword
            )
            twiml = message_twiml(text)
            talk = talk.answered(message_sid, seq)
            kept = store.record_ivr_turn(
                found.call_sid,
                seq,
                twiml,
                state=talk.to_json(),
                now=clock(),
                interview_id=interview_id,
                case_id=case_id,
            )
            if kept is twiml or message_sid in _messages(store, found.call_sid):
                return xml(kept)  # stored now (the very string), or by a copy of this text
            # another text took this turn first: read this one again after it
        return xml(message_twiml(None))

    return bp


def _messages(store: Store, sid: str) -> dict[str, int]:
    call = store.ivr_call(sid)
    return dict(Conversation.from_json(call.state).messages) if call is not None else {}


def _number_keys() -> list[bytes]:
    """The keys numbers may be hashed under: the app's secret, then its fallbacks."""
    secrets = [current_app.secret_key, *(current_app.config.get("SECRET_KEY_FALLBACKS") or ())]
    return [number_key(s) for s in secrets if s]


def _code_keys() -> list[bytes]:
    secrets = [current_app.secret_key, *(current_app.config.get("SECRET_KEY_FALLBACKS") or ())]
    return [access_code_key(s) for s in secrets if s]


def _mark(lookup: NumberLookup, store: Store, sender: str, now: dt.datetime, opt_out: bool) -> None:
    """The number's STOP (or START) where the SMS channel's is recorded: its members' contacts."""
    number = lookup.number_hash(sender, "an SMS STOP or START is not matched to panel members")
    if number is None:
        return
    if opt_out:
        store.mark_contact(number, "opted_out", now=now, actor=SMS_ACTOR)
    else:
        store.allow_sms_again(number, now=now, actor=SMS_ACTOR)


def _turn(
    interviews: SmsInterviews,
    lookup: NumberLookup,
    found: IvrCallRecord,
    talk: Conversation,
    seq: int,
    body: str,
    sender: str,
    keyword: Callable[[str], str | None],
) -> tuple[str | None, Conversation, str | None, str | None]:
    """One inbound text: (the reply, the conversation's new state, interview and case to set)."""
    store = interviews.service.store
    sid = found.call_sid
    interview_id = found.interview_id
    now = interviews.clock()
    words = interviews.code_words(interview_id)
    heard = hear(body, stopped=talk.stopped, carrier=keyword, words=words)
    if heard.kind == "stop":
        _mark(lookup, store, sender, now, opt_out=True)
        confirm = None
        if heard.confirm_in is not None and not talk.stopped:  # Twilio confirms only its words
            confirm = interviews.words(interview_id, "stopped", heard.confirm_in)
        return confirm, replace(talk, stopped=True), None, None
    if heard.kind == "ignore":
        return None, talk, None, None  # stopped: nothing is sent until START
    if heard.kind == "start":
        _mark(lookup, store, sender, now, opt_out=False)
        talk = replace(talk, stopped=False)
        if interview_id is None:
            return interviews.words(None, "welcome_code"), talk, None, None
        back = (interviews.words(interview_id, "welcome_back"),)
        text, flow = interviews.again(sid, seq, interview_id, talk.flow, back)
        return text, replace(talk, flow=flow), None, None
    code = "".join(body.split())
    is_code = code.isdigit() and len(code) >= _CODE_LENGTH
    over = interview_id is None or _finished(interviews, interview_id)
    if over and not is_code:
        since = found.updated_at if interview_id is not None else None
        matched = _member_case(interviews, lookup, sender, since)
        if matched == SEVERAL:
            return interviews.words(None, "several_invited"), talk, None, None
        if matched is not None:
            return _begin_case(interviews, sid, seq, talk, matched)
    if interview_id is None or (over and code.isdigit()):
        return _code(interviews, store, sid, seq, talk, code)
    text, flow = interviews.reply(sid, seq, interview_id, talk.flow, body)
    return text, replace(talk, flow=flow), None, None


def _member_case(
    interviews: SmsInterviews, lookup: NumberLookup, sender: str, since: dt.datetime | None
) -> TextedCase | Literal["several"] | None:
    """The open wave case a panel member texting from ``sender`` is answering, if one is."""
    number = lookup.number_hash(sender, "an SMS reply is not matched to a panel member's case")
    if number is None:
        return None
    surveys = interviews.service.surveys

    def lists_sms(questionnaire_id: str) -> bool:
        survey = surveys.get(questionnaire_id)
        return survey is not None and SMS_MODE in survey.questionnaire.modes

    texted = interviews.service.store.texted_open_cases(number)
    return choose_case(texted, lists_sms=lists_sms, since=since)


def _begin_case(
    interviews: SmsInterviews, sid: str, seq: int, talk: Conversation, case: TextedCase
) -> tuple[str | None, Conversation, str | None, str | None]:
    """The member's case by text: its interview started or resumed, the invitation's words first."""
    interview_id = interviews.interview_for(case.questionnaire_id, case.case_id, sid, case.language)
    hello = (interviews.words(interview_id, "invitation"),)
    text, flow = interviews.begin(sid, seq, interview_id, SmsState(), hello)
    return text, replace(talk, flow=flow, code_failures=0), interview_id, case.case_id


def _finished(interviews: SmsInterviews, interview_id: str) -> bool:
    info = interviews.service.about(interview_id)
    return bool(getattr(info, "finished", True))


def _code(
    interviews: SmsInterviews, store: Store, sid: str, seq: int, talk: Conversation, code: str
) -> tuple[str | None, Conversation, str | None, str | None]:
    """A text from a number with no interview running: an access code, or not."""
    service, now = interviews.service, interviews.clock()
    if talk.code_failures >= CODE_TRIES:
        return None, talk, None, None  # guessing: not answered any more
    token = store.find_access_code(code, keys=_code_keys()) if code.isdigit() else None
    usable = (
        token is not None
        and not token.is_expired(now)
        and token.case_id is not None
        and token.questionnaire_id in service.surveys
        and SMS_MODE in service.surveys[token.questionnaire_id].questionnaire.modes
    )
    if not usable:
        if not code.isdigit():
            return interviews.words(None, "welcome_code"), talk, None, None
        failures = talk.code_failures + 1
        key = "too_many_codes" if failures >= CODE_TRIES else "wrong_code"
        return interviews.words(None, key), replace(talk, code_failures=failures), None, None
    assert token is not None and token.case_id is not None
    interview_id = token.interview_id or interviews.interview_for(
        token.questionnaire_id, token.case_id, sid
    )
    if token.interview_id is None:
        interview_id = store.attach_token(token.id, interview_id, now=now)
    text, flow = interviews.begin(sid, seq, interview_id, SmsState())
    talk = replace(talk, flow=flow, code_failures=0)
    return text, talk, interview_id, token.case_id
