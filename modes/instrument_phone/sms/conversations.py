"""Text-message interviews over the automated calls' store: a conversation is a "call".

A conversation is one ``ivr_calls`` row keyed by its own id, made from the
respondent's number: ``SX`` and an HMAC-SHA256 of the number under a key
derived from the instance secret (:func:`conversation_ids`), so the number is
never stored, only this lookup hash, and the next text from the same number
finds the conversation without decrypting anything. Each inbound text is a
turn (``ivr_turns``): its reply (TwiML ``<Message>``) stored once with the
conversation's new state in one transaction. The state (:class:`Conversation`)
holds the flow's place in the step, the message sids answered (so a retried
webhook gets the same reply and stores nothing twice), whether the number
texted STOP, and the wrong access codes texted.

The same number may later answer another case (another wave): the row then
runs that case's interview. Withdrawal deletes the rows of the case's
interview with the automated calls' (``forget_ivr_calls``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from instrument.interviews import RESPONDENT, InterviewService
from instrument.interviews.stepwise import carry_out_submits
from instrument.sms.conversation import SmsAction, SmsFlow, SmsSettings, SmsState
from instrument.sms.keywords import CodeWords
from instrument.sms.messages import code_words, sms_words
from instrument.stepflow import Submit

__all__ = [
    "CODE_TRIES",
    "RECENT_MESSAGES",
    "SMS_MODE",
    "Conversation",
    "SmsInterviews",
    "conversation_ids",
    "number_key",
]

SMS_MODE = "sms"
"""The mode's name: its URL prefix and the ``mode`` recorded on every answer."""
CODE_TRIES = 5
"""Wrong access codes texted from one number before further codes are not answered."""
RECENT_MESSAGES = 200
"""Message sids a conversation remembers with their turn (a retry comes within minutes)."""

_KEY_LABEL = b"instrument sms number v1"


def number_key(secret: str | bytes) -> bytes:
    """The key numbers are hashed under, derived from the instance's ``SECRET_KEY``."""
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(raw, _KEY_LABEL, hashlib.sha256).digest()


def conversation_ids(number: str, keys: Iterable[bytes]) -> list[str]:
    """The conversation id of ``number`` under each key (newest first): ``SX`` + 40 hex."""
    plain = number.strip().encode("utf-8")
    return ["SX" + hmac.new(key, plain, hashlib.sha256).hexdigest()[:40] for key in keys]


@dataclass(frozen=True)
class Conversation:
    """What the store keeps for a conversation besides its interview and case."""

    flow: SmsState = field(default_factory=SmsState)
    messages: Mapping[str, int] = field(default_factory=dict)
    stopped: bool = False
    code_failures: int = 0

    def to_json(self) -> dict[str, Any]:
        recent = list(self.messages.items())[-RECENT_MESSAGES:]
        return {
            "flow": self.flow.to_json(),
            "messages": dict(recent),
            "stopped": self.stopped,
            "code_failures": self.code_failures,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Conversation:
        if not data:
            return cls()
        return cls(
            flow=SmsState.from_json(data.get("flow")),
            messages={str(k): int(v) for k, v in (data.get("messages") or {}).items()},
            stopped=bool(data.get("stopped")),
            code_failures=int(data.get("code_failures") or 0),
        )

    def answered(self, message_sid: str, seq: int) -> Conversation:
        return replace(self, messages={**self.messages, message_sid: seq})


@dataclass
class SmsInterviews:
    """Runs text interviews through the interview service: the first question, each reply."""

    service: InterviewService
    clock: Callable[[], dt.datetime]
    settings: SmsSettings = field(default_factory=SmsSettings)

    def flow_for(self, questionnaire_id: str, language: str) -> SmsFlow:
        survey = self.service.surveys[questionnaire_id]
        return SmsFlow(sms_words(survey.questionnaire, language), self.settings)

    def words(self, interview_id: str | None, key: str, language: str | None = None) -> str:
        """One of the mode's words, in ``language`` or else the interview's (English before
        one is known), the interview's questionnaire's own texts over ours."""
        from instrument import catalogue

        if interview_id is not None:
            info = self.service.about(interview_id)
            if getattr(info, "kind", "") != "unavailable":
                survey = self.service.surveys[info.questionnaire_id]  # type: ignore[union-attr]
                chosen = language or info.language  # type: ignore[union-attr]
                return sms_words(survey.questionnaire, chosen)(key)
        return catalogue.text(language or "en", "sms", key)

    def code_words(self, interview_id: str | None) -> dict[str, CodeWords]:
        """The STOP, START and HELP words of each language a reply may be in: the interview's
        questionnaire's (its language first); before an interview, those of every served
        questionnaire that lists ``sms``."""
        if interview_id is not None:
            info = self.service.about(interview_id)
            if getattr(info, "kind", "") != "unavailable":
                survey = self.service.surveys[info.questionnaire_id]  # type: ignore[union-attr]
                return code_words(survey.questionnaire, info.language)  # type: ignore[union-attr]
        merged: dict[str, CodeWords] = {}
        for survey in self.service.surveys.values():
            if SMS_MODE in survey.questionnaire.modes:
                for language, words in code_words(survey.questionnaire).items():
                    merged[language] = merged.get(language, CodeWords()) | words
        return merged

    def _shown(self, sid: str, interview_id: str) -> tuple[Any, SmsFlow | None, str | None]:
        """The interview's current step and flow, or (None, None, the words to end with)."""
        shown = self.service.show(interview_id, mode=SMS_MODE, actor=RESPONDENT, now=self.clock())
        if shown.kind != "shown":
            return None, None, self.words(None, "not_available")
        if shown.interview.finished:
            return None, None, self.words(interview_id, "already_complete")
        info = shown.interview
        return shown, self.flow_for(info.questionnaire_id, info.language), None

    def begin(
        self, sid: str, seq: int, interview_id: str, state: SmsState, before: tuple[str, ...] = ()
    ) -> tuple[str | None, SmsState]:
        """The interview's current question (resumed where it stopped, in whatever mode)."""
        shown, flow, ended = self._shown(sid, interview_id)
        if flow is None:
            return ended, state
        carried = replace(state, carry=(*before, *state.carry))
        state, action = flow.show(carried, shown.step, revision=shown.interview.revision)
        return self.run(flow, sid, seq, interview_id, state, action)

    def again(
        self, sid: str, seq: int, interview_id: str, state: SmsState, before: tuple[str, ...]
    ) -> tuple[str | None, SmsState]:
        """The question being asked, whole (after START), or the interview's current one."""
        shown, flow, ended = self._shown(sid, interview_id)
        if flow is None:
            return ended, state
        if shown.interview.revision != state.revision or state.token != shown.step.token:
            return self.begin(sid, seq, interview_id, state, before)
        return flow.again(state, shown.step, before).text, state

    def reply(
        self, sid: str, seq: int, interview_id: str, state: SmsState, body: str
    ) -> tuple[str | None, SmsState]:
        """A reply to the question asked: read, submitted when the step is complete."""
        shown, flow, ended = self._shown(sid, interview_id)
        if flow is None:
            return ended, state
        if shown.interview.revision != state.revision or state.token != shown.step.token:
            # Moved on since (an answer on the web, a retry after a crash): the step it is on now.
            back = (self.words(interview_id, "welcome_back"),)
            return self.begin(sid, seq, interview_id, replace(state, carry=()), back)
        state, action = flow.reply(state, shown.step, body)
        return self.run(flow, sid, seq, interview_id, state, action)

    def run(
        self,
        flow: SmsFlow,
        sid: str,
        seq: int,
        interview_id: str,
        state: SmsState,
        action: SmsAction,
    ) -> tuple[str | None, SmsState]:
        """Carry out the flow's submits until it sends a question or the interview ends."""

        def client(_state: SmsState, submit: Submit) -> dict[str, str]:
            flags = ";".join(f"{k}:{f}" for k, f in submit.flags)
            return {"sms_flags": flags} if flags else {}

        stepped = carry_out_submits(
            self.service,
            flow,
            interview_id,
            state,
            action,
            mode=SMS_MODE,
            actor=RESPONDENT,
            clock=self.clock,
            key=lambda number: _key(sid, seq, number),
            client=client,
        )
        if stepped.unavailable:
            return self.words(None, "not_available"), stepped.state
        if stepped.action is None:  # steps that ask nothing kept following one another
            return None, stepped.state
        return stepped.action.text or None, stepped.state

    def interview_for(
        self, questionnaire_id: str, case_id: str, sid: str, language: str | None = None
    ) -> str:
        """The case's interview, whatever mode it began in; started by this conversation if none
        (in ``language`` when the questionnaire has it, else its default)."""
        languages = self.service.surveys[questionnaire_id].questionnaire.languages
        saved = self.service.start(
            questionnaire_id,
            mode=SMS_MODE,
            actor=RESPONDENT,
            now=self.clock(),
            language=language if language in languages else None,
            case_id=case_id,
            one_per_case=True,
        )
        return saved.interview.id


def message_twiml(text: str | None) -> str:
    """The webhook's answer: ``<Message>`` with ``text``, or an empty response (say nothing)."""
    from twilio.twiml.messaging_response import MessagingResponse

    response = MessagingResponse()
    if text:
        response.message(text)
    return str(response.to_xml(xml_declaration=True))


def _key(sid: str, seq: int, number: int) -> str:
    return f"sms:{sid}:{seq}:{number}"
