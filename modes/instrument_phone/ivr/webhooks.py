"""The automated calls' webhooks: Twilio asks, the call flow decides, the interview service stores.

Mounted under the ``ivr`` mode's prefix (``/ivr``), every request signed by
Twilio (``X-Twilio-Signature`` over the configured public URL; 403 before
anything runs otherwise, :func:`~instrument_phone.telephony.webhooks.require_signatures`):

* ``POST /ivr/voice``: an inbound call (the Voice URL of the instance's number and
  of every study's own). A call to a study's own number (Twilio's ``To``, listed in
  its fieldwork file's ``telephony: numbers:``) is that study's alone: its
  languages, its access codes; any other number serves every study. Where the
  line's questionnaires have more than one language, the caller first chooses
  one by key, each offered in itself (:mod:`instrument_phone.ivr.line`); then
  keys the access code of their invitation, then ``#``, asked in that language;
  a good code resumes the case's interview where it stopped, in whatever mode it
  began, or starts it, in the chosen language where its questionnaire has it
  (switched by :meth:`InterviewService.switch_language`). Wrong codes:
  :data:`CODE_TRIES` a call, then a polite goodbye; :data:`CALLER_CODE_LIMIT`
  an hour from one caller id (hashed; the caller id is only ever a hint, never
  who the caller is).
* ``POST /ivr/voice/outbound?attempt=<id>``: the answer URL of an automated
  call we placed (:func:`outbound_answer_url`): the attempt's case's interview.
* ``POST /ivr/turn/<call sid>/<n>``: the keys of turn ``n`` (a ``<Gather>``'s
  action), and ``.../<n>/silence`` when it timed out (its ``<Redirect>``).
* ``POST /ivr/recording/<call sid>/<n>``: a recorded answer's status callback
  (``completed``, ``absent``, ``failed``), stored once in ``call_events``.
* ``POST /ivr/status``: the call's status callback; ``completed`` (or any
  final status) marks the call ended. The interview stays as it is: a
  hang-up mid-interview leaves a partial that the next call resumes.

How a study's calls ask is its own: the questionnaire's ``meta.ivr``
(re-prompts, giving up, read-back, speech, voices) and whether free text is
recorded, its fieldwork file's ``telephony.recording``
(:func:`instrument.ivr.settings.ivr_settings`), read once per questionnaire.
Where it records, a free-text question asks consent (1 record, 2 skip), the
decision is kept with the call (its stored state) and flagged in paradata,
and a yes is followed by a capped ``<Record>`` whose answer is a reference to
the recording, never its URL (:mod:`instrument.ivr.recording`). Where speech
is on, a prompt's ``<Gather>`` takes speech too and what was said is matched
to the keys it stands for (:mod:`instrument.ivr.speech`), confirmed first when
the recogniser was unsure.

Idempotent: turn ``n``'s TwiML is stored with the call's new flow state in one
transaction (:mod:`instrument.store.ivr_calls`); a retried or duplicated
request for a turn answered is given the same bytes, and a late one (an older
``n``) the newest answer; nothing runs again. Answers go through
:meth:`InterviewService.answer` with a ``Seen`` keyed by call and turn, so a
request retried after a crash between the answer's save and the turn's is not
stored twice, and the call then asks the step the interview is on. Mode
``ivr`` is recorded on every answer, and the actor is the respondent
(:data:`RESPONDENT`), as on the web: who answered, where the mode says how;
which call it was is in the paradata the answers are saved with (``call``, the
CallSid) and in the call's own record. Nothing personal is stored: no number,
and the flow's state holds only codes and digits keyed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from flask import Blueprint, Response, abort, current_app, request

from instrument import catalogue
from instrument.engine import Step
from instrument.fieldwork.automated import MACHINE_RESULTS, AutomatedCallSettings
from instrument.fieldwork.settings import settings_for
from instrument.fieldwork.wording import in_language
from instrument.interviews import RESPONDENT, InterviewService
from instrument.interviews.recorded_answers import forget_lost_recording
from instrument.interviews.stepwise import carry_out_submits
from instrument.ivr.flow import Action, Ask, CallFlow, FlowState
from instrument.ivr.keypad import NO_KEY, REPEAT_KEY, YES_KEY
from instrument.ivr.prompts import IvrSettings, Prompt, Say, ivr_words
from instrument.ivr.reading import NOT_UNDERSTOOD, read_back_prompt
from instrument.ivr.recording import (
    LOST_STATUSES,
    RecordingFact,
    answer_reference,
    recording_facts,
)
from instrument.ivr.settings import ivr_settings
from instrument.ivr.speech import (
    confirm_prompt,
    hear,
    speech_hints,
    speech_words,
    takes_speech,
    yes_or_no,
)
from instrument.model import Questionnaire
from instrument.plugin_types import ModeSetupError
from instrument.ratelimit import RateLimiter
from instrument.stepflow import Submit, decode_value
from instrument.store.ivr_calls import IvrCallRecord, OutboundCase, access_code_key
from instrument_phone.ivr.line import LineLanguage, line_languages, matching, menu_said
from instrument_phone.ivr.twiml import (
    PromptUrls,
    Voice,
    Voices,
    end_twiml,
    goodbye_twiml,
    hangup_twiml,
    info_twiml,
    keys_twiml,
    prompt_twiml,
)
from instrument_phone.telephony.config import TwilioSettings
from instrument_phone.telephony.webhooks import (
    CALL_STATUSES,
    recording_callback,
    require_signatures,
)

__all__ = [
    "CALLER_CODE_LIMIT",
    "CODE_TRIES",
    "IVR_MODE",
    "LANGUAGE_TRIES",
    "IvrWebhooks",
    "create_ivr_webhooks",
    "outbound_answer_url",
    "recording_path",
    "turn_path",
]

IVR_MODE = "ivr"
"""The mode's name: its URL prefix and the ``mode`` recorded on every answer."""

CODE_TRIES = 3
"""Wrong (or silent) access codes on one call before it ends politely."""

CALLER_CODE_LIMIT = 10
"""Wrong access codes an hour from one caller id, in one process, before its calls end at once."""

LANGUAGE_TRIES = 3
"""Times the line's choice of language is offered (silence or a key that chooses none asks
again); then the call goes on in the first language offered, as a line does for a caller who
keys nothing. Not a wrong code: the codes' limits count codes only."""


RECORDING_CALLBACK = "ivr:recording-callback"
"""Who takes back an answer whose recording the provider reports came to nothing."""

FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


def outbound_answer_url(settings: TwilioSettings, attempt_id: str | int) -> str:
    """The answer URL of an automated call placed for ``attempt_id`` (``calls.create(url=...)``)."""
    return f"{settings.public_url}/{IVR_MODE}/voice/outbound?attempt={int(attempt_id)}"


def turn_path(call_sid: str, seq: int, *, silence: bool = False) -> str:
    """The path turn ``seq`` of call ``call_sid`` is posted to (its silence: ``/silence``)."""
    return f"/{IVR_MODE}/turn/{call_sid}/{seq}" + ("/silence" if silence else "")


def recording_path(call_sid: str, seq: int) -> str:
    """The path a recording made at turn ``seq`` reports its status to."""
    return f"/{IVR_MODE}/recording/{call_sid}/{seq}"


def _caller_hash(caller: str) -> str:
    """A rate-limit key for a caller id that is not the number (kept in memory only)."""
    return hashlib.sha256(b"ivr caller:" + caller.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class StudyCalls:
    """How one questionnaire's calls ask (its settings) and in which voices."""

    settings: IvrSettings
    voices: Voices
    automated: AutomatedCallSettings = AutomatedCallSettings()
    numbers: tuple[str, ...] = ()


MESSAGE_ENDS = frozenset({"machine_end_beep", "machine_end_silence", "machine_end_other"})
"""``AnsweredBy`` once a machine's greeting has ended: a message left now is recorded whole."""

NOTES = "ivr_call"
"""The key of the webhooks' own notes in a call's stored state, beside the flow's."""

LINE = "ivr_line"
"""The key of an inbound call's state before its interview is known: the language chosen
(None while the menu is being offered) and how often the menu went unanswered."""

IVR_RECORDING = "ivr_recording"
"""The ``leg`` (and event-key part) of a recorded answer's callbacks in ``call_events``."""


@dataclass
class CallNotes:
    """What the webhooks keep with a call beside the flow's state, in the same stored JSON.

    :param pending: a spoken answer waiting for "Did you say ...?": the step's token, the
        prompt's index, the keys it stands for and its words.
    :param recording: per free-text question (its variable key), the caller's consent
        decision, the turn it was stored at and, after a yes, the recording's reference:
        stored once, the first decision standing.
    :param language: the language the call speaks (the interview's), for its goodbye should
        the interview be gone by the next turn.
    """

    pending: dict[str, Any] | None = None
    recording: dict[str, dict[str, Any]] = field(default_factory=dict)
    language: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> CallNotes:
        notes = (data or {}).get(NOTES) or {}
        return cls(notes.get("pending"), dict(notes.get("recording") or {}), notes.get("language"))

    def stored(self, state: FlowState) -> dict[str, Any]:
        """The call's state to store: the flow's, and these notes."""
        notes = {"pending": self.pending, "recording": self.recording, "language": self.language}
        return {**state.to_json(), NOTES: notes}

    def note_recording(self, facts: Sequence[RecordingFact], seq: int) -> None:
        for fact in facts:
            kept = self.recording.setdefault(
                fact.key, {"consent": fact.consent, "turn": seq, "reference": None}
            )
            if kept["consent"] and fact.reference and not kept["reference"]:
                kept["reference"] = fact.reference


Studies = tuple[str, ...] | None
"""The studies an inbound call is for: the one whose own number was called, or None (the
instance's number, or one no study lists): every study served in the mode."""

Versions = tuple[tuple[str, str], ...]
"""The questionnaires served, each with its content hash: what a cached answer was worked out for."""

Turn = tuple[str, dict[str, Any] | None, bool]
"""A turn's answer: its TwiML, the call's state to store with it, and whether the call ended."""


@dataclass
class IvrWebhooks:
    """What the webhooks work with: the interview service, the settings, the clock, the limits.

    ``ivr`` and ``voices`` given: every study's calls ask so (tests); otherwise each
    questionnaire's own (:meth:`study`). ``voices`` also says the words before a call's
    interview is known.
    """

    service: InterviewService
    settings: TwilioSettings
    clock: Callable[[], dt.datetime]
    ivr: IvrSettings | None
    voices: Voices
    callers: RateLimiter
    own_voices: bool = True
    studies: dict[str, tuple[str, StudyCalls]] = field(default_factory=dict)
    offered: dict[Studies, tuple[Versions, tuple[LineLanguage, ...]]] = field(default_factory=dict)
    numbered: tuple[Versions, dict[str, str]] | None = None

    @property
    def store(self) -> Any:
        return self.service.store

    def study(self, questionnaire_id: str) -> StudyCalls:
        """How a questionnaire's calls ask: its ``meta.ivr`` and its fieldwork file's
        recording, read once per version of it.

        :raises ModeSetupError: its fieldwork file has errors.
        """
        questionnaire = self.service.surveys[questionnaire_id].questionnaire
        cached = self.studies.get(questionnaire_id)
        if cached is not None and cached[0] == questionnaire.content_hash:
            return cached[1]
        settings, automated = self.ivr, AutomatedCallSettings()
        fieldwork, problems = settings_for(questionnaire.source_path)
        if problems.has_errors():
            errors = "\n".join(str(d) for d in problems.errors)
            raise ModeSetupError(
                f"the fieldwork settings of {questionnaire.id} have errors:\n{errors}"
            )
        if settings is None:
            settings = ivr_settings(questionnaire, recording=fieldwork.telephony.recording)
            automated = fieldwork.telephony.automated
        voices = Voices.of_questionnaire(questionnaire) if self.own_voices else self.voices
        found = StudyCalls(settings, voices, automated, fieldwork.telephony.numbers)
        self.studies[questionnaire_id] = (questionnaire.content_hash, found)
        return found

    # ------------------------------------------------------------------ the line's languages

    def served(self) -> list[tuple[str, Questionnaire]]:
        """The questionnaires served in the mode, in the order they are served."""
        return [
            (qid, survey.questionnaire)
            for qid, survey in self.service.surveys.items()
            if IVR_MODE in survey.questionnaire.modes
        ]

    def numbers(self) -> dict[str, str]:
        """The studies' own numbers (``telephony: numbers:``), each to its questionnaire,
        worked out again only when the questionnaires served change.

        :raises ModeSetupError: two served studies list the same number (a call to it could
            not tell them apart; ``instrument check`` over both files says where).
        """
        served = self.served()
        versions = tuple((qid, q.content_hash) for qid, q in served)
        if self.numbered is None or self.numbered[0] != versions:
            found: dict[str, str] = {}
            for qid, _ in served:
                for number in self.study(qid).numbers:
                    other = found.setdefault(number, qid)
                    if other != qid:
                        raise ModeSetupError(
                            f"{number} is the number of both {other} and {qid} (telephony: "
                            "numbers: in their fieldwork files); give each study its own"
                        )
            self.numbered = (versions, found)
        return self.numbered[1]

    def called(self, to: str) -> Studies:
        """The studies an inbound call to ``to`` (Twilio's ``To``) is for: the one whose number
        it is, or None, every served study, for the instance's number or any unlisted one."""
        study = self.numbers().get(to.strip())
        return None if study is None else (study,)

    def line(self, studies: Studies = None) -> tuple[LineLanguage, ...]:
        """The languages an inbound call offers (:func:`line_languages`): the ``studies``' (a
        study's own number), or every served study's; worked out again only when the
        questionnaires served in the mode change."""
        served = [(qid, q) for qid, q in self.served() if studies is None or qid in studies]
        versions = tuple((qid, q.content_hash) for qid, q in served)
        cached = self.offered.get(studies)
        if cached is None or cached[0] != versions:
            found = line_languages((q, self.study(qid).voices) for qid, q in served)
            cached = self.offered[studies] = (versions, found)
        return cached[1]

    def first_language(self, studies: Studies = None) -> str:
        """The line's first language: the call's before a caller chooses (English without any)."""
        line = self.line(studies)
        return line[0].language if line else catalogue.DEFAULT_LANGUAGE

    def spoken(self, language: str, studies: Studies = None) -> tuple[Say, Voice]:
        """The call's own words and the voice in ``language``: the line's where it offers the
        language (``cy-GB`` finds its ``cy``), else the catalogue's and the instance's voice."""
        line = self.line(studies)
        offered = matching(language, [offer.language for offer in line])
        for offer in line:
            if offer.language == offered:
                return offer.say, offer.voice
        return partial(catalogue.text, language, "ivr"), self.voices.of(language)

    # ------------------------------------------------------------------ TwiML

    def urls(self, call_sid: str, seq: int, *, recording: bool = False) -> PromptUrls:
        base = self.settings.public_url
        return PromptUrls(
            action=base + turn_path(call_sid, seq),
            silence=base + turn_path(call_sid, seq, silence=True),
            recording_status=base + recording_path(call_sid, seq) if recording else None,
        )

    def code_twiml(
        self,
        call_sid: str,
        seq: int,
        language: str,
        keys: Sequence[str],
        studies: Studies = None,
    ) -> str:
        """Ask for the access code in ``language``: the words of ``keys``, digits, then ``#``."""
        say, voice = self.spoken(language, studies)
        words = [say(key) for key in keys]
        return keys_twiml([(words, voice)], urls=self.urls(call_sid, seq), one_key=False)

    def menu_twiml(
        self, call_sid: str, seq: int, *, again: bool = False, studies: Studies = None
    ) -> str:
        """The line's choice of language: each offered in itself and its own voice, one key
        (the greeting first, unless it is offered ``again``)."""
        said = menu_said(self.line(studies), again=again)
        return keys_twiml(said, urls=self.urls(call_sid, seq), one_key=True)

    def twiml(
        self, action: Action, call_sid: str, seq: int, flow: CallFlow, study: StudyCalls
    ) -> str:
        voices = study.voices
        if action.kind == "ask":
            asked = action.asked
            speech = None
            if study.settings.speech is not None and takes_speech(asked):
                speech = speech_hints(asked, speech_words(flow.say))
            return prompt_twiml(
                action.plan,
                action.index,
                urls=self.urls(call_sid, seq, recording=asked.entry == "recording"),
                voices=voices,
                again=action.again,
                before=action.before,
                prompt=action.prompt,
                speech=speech,
            )
        if action.kind == "inform":
            return info_twiml(action.plan, urls=self.urls(call_sid, seq), voices=voices)
        if action.kind == "finish":
            return end_twiml(action.plan, voices=voices)
        if action.kind == "goodbye":
            return goodbye_twiml(action.words, action.language, voices=voices)
        raise ValueError(f"a {action.kind} has no TwiML")

    def goodbye(self, key: str, language: str | None = None, studies: Studies = None) -> str:
        """End the call politely with the words of ``key`` in ``language`` (the line's first)."""
        language = language or self.first_language(studies)
        say, voice = self.spoken(language, studies)
        return goodbye_twiml((say(key),), language, voices=Voices({language: voice}))

    def for_machine(self, case: OutboundCase, answered_by: str) -> str:
        """What an automated call says to an answering machine: the study's voicemail message
        after the beep where its policy is ``leave_message``, else nothing; then it hangs up."""
        study = self.study(case.questionnaire_id)
        policy = study.automated
        if (
            policy.on_machine == "leave_message"
            and policy.voicemail_message
            and answered_by in MESSAGE_ENDS
        ):
            questionnaire = self.service.surveys[case.questionnaire_id].questionnaire
            language = (
                case.language
                if case.language in questionnaire.languages
                else questionnaire.default_language
            )
            message = in_language(policy.voicemail_message, language)
            return goodbye_twiml((message,), language, voices=study.voices)
        return hangup_twiml()

    # ------------------------------------------------------------------ the interview

    def flow_for(self, questionnaire_id: str, language: str) -> tuple[CallFlow, StudyCalls]:
        survey = self.service.surveys[questionnaire_id]
        study = self.study(questionnaire_id)
        return CallFlow(ivr_words(survey.questionnaire, language), study.settings), study

    def begin(
        self, call_sid: str, seq: int, interview_id: str, language: str | None = None
    ) -> Turn:
        """The first words of the interview on this call: (TwiML, state to store, ended).

        :param language: the language the caller chose on the line (None: an outbound call,
            the case's): the interview carries on in it where its questionnaire has it,
            switched by the interview service (a no-op when it is in it already, so a retry
            after a crash switches nothing twice).
        """
        now = self.clock()
        shown = self.service.show(interview_id, mode=IVR_MODE, actor=RESPONDENT, now=now)
        if shown.kind != "shown":
            return self.goodbye("not_available", language), FlowState().to_json(), True
        if shown.interview.finished:
            return self.goodbye("already_complete", language), FlowState().to_json(), True
        questionnaire = self.service.surveys[shown.interview.questionnaire_id].questionnaire
        wanted = matching(language, questionnaire.languages) if language else None
        if wanted is not None and wanted != shown.interview.language:
            self.service.switch_language(
                interview_id, wanted, mode=IVR_MODE, actor=RESPONDENT, now=now
            )
            shown = self.service.show(interview_id, mode=IVR_MODE, actor=RESPONDENT, now=now)
            if shown.kind != "shown":
                return self.goodbye("not_available", language), FlowState().to_json(), True
        info = shown.interview
        flow, study = self.flow_for(info.questionnaire_id, info.language)
        state, action = flow.show(FlowState(), shown.step, revision=info.revision)
        notes = CallNotes(language=info.language)
        return self.run(flow, study, call_sid, seq, interview_id, state, action, notes)

    def run(
        self,
        flow: CallFlow,
        study: StudyCalls,
        call_sid: str,
        seq: int,
        interview_id: str,
        state: FlowState,
        action: Action,
        notes: CallNotes,
    ) -> Turn:
        """Carry out the flow's submits through the interview service until it asks or ends."""

        def client(state: FlowState, submit: Submit) -> dict[str, str]:
            facts = recording_facts(submit.plan, state.keyed())
            notes.note_recording(facts, seq)  # a consent decision is kept as soon as keyed
            flags = (*submit.flags, *((fact.key, fact.flag) for fact in facts))
            found = {"call": call_sid}  # which call answered, beside who (the respondent)
            if flags:
                found["ivr_flags"] = ";".join(f"{k}:{f}" for k, f in flags)
            return found

        stepped = carry_out_submits(
            self.service,
            flow,
            interview_id,
            state,
            action,
            mode=IVR_MODE,
            actor=RESPONDENT,
            clock=self.clock,
            key=lambda number: _key(call_sid, seq, number),
            client=client,
        )
        state, action = stepped.state, stepped.action
        if stepped.unavailable:
            return self.goodbye("not_available", notes.language), notes.stored(state), True
        if action is None:  # steps that ask nothing kept following one another: end, a partial
            words = (flow.say("goodbye_no_answer"),)
            language = notes.language or self.first_language()
            return goodbye_twiml(words, language, voices=study.voices), notes.stored(state), True
        if action.kind == "ask":
            notes.note_recording(recording_facts(action.plan, state.keyed()), seq)
        twiml = self.twiml(action, call_sid, seq + 1, flow, study)
        return twiml, notes.stored(state), action.kind in ("finish", "goodbye")

    def turn(
        self,
        call: IvrCallRecord,
        seq: int,
        form: Mapping[str, str],
        silence: bool,
        revision: int | None = None,
    ) -> Turn:
        """Turn ``seq`` of a call whose interview is known: what the caller did, into the flow.

        ``revision``: the interview's stored revision, read with the call (one statement), so
        the service need not read it again to trust the interview it keeps.
        """
        assert call.interview_id is not None
        now = self.clock()
        state = FlowState.from_json(call.state)
        notes = CallNotes.from_json(call.state)
        pending, notes.pending = notes.pending, None  # a confirmation is answered once
        shown = self.service.show(
            call.interview_id, mode=IVR_MODE, actor=RESPONDENT, now=now, revision=revision
        )
        if shown.kind != "shown":
            return self.goodbye("not_available", notes.language), notes.stored(state), True
        info = shown.interview
        notes.language = info.language
        flow, study = self.flow_for(info.questionnaire_id, info.language)
        if info.finished and state.phase != "ended":
            return self.goodbye("already_complete", info.language), notes.stored(state), True
        if info.revision != state.revision:
            # The interview moved since this call's state was stored: a retry after a crash
            # between the answer's save and the turn's, or an answer from another device.
            # Nothing is submitted from the old keys; the call asks the step it is on now.
            state, action = flow.show(state, shown.step, revision=info.revision)
        else:
            entry = _Entry.of(form, silence)
            state, action = self.event(flow, study, state, shown.step, entry, pending, notes)
        return self.run(flow, study, call.call_sid, seq, call.interview_id, state, action, notes)

    def event(
        self,
        flow: CallFlow,
        study: StudyCalls,
        state: FlowState,
        step: Step,
        entry: _Entry,
        pending: Mapping[str, Any] | None,
        notes: CallNotes,
    ) -> tuple[FlowState, Action]:
        """What the caller did (keys, words, a recording, nothing) as one event of the flow."""
        if entry.recording_sid is not None:  # a <Record> ended: its answer is a reference
            # Its status callback may have come first and said it holds nothing: no reference.
            lost = self.store.lost_recording(entry.recording_sid) is not None
            kept = entry.recorded_seconds and not lost
            reference = answer_reference(entry.recording_sid) if kept else ""
            return flow.recorded(state, step, reference)
        asking = state.phase == "ask" and state.token == step.token and state.index is not None
        words = speech_words(flow.say)
        if (
            pending is not None
            and asking
            and (pending["token"], pending["index"])
            == (
                state.token,
                state.index,
            )
        ):  # the answer to "Did you say ...?": 1 keeps the words' answer, 2 asks again
            keys = (entry.digits or "").strip()
            if entry.speech is not None:
                keys = yes_or_no(entry.speech, words) or NOT_UNDERSTOOD
            if keys == YES_KEY:
                return flow.keys(state, step, str(pending["keys"]))
            if keys in (NO_KEY, REPEAT_KEY):
                return flow.keys(state, step, REPEAT_KEY)
            return flow.keys(state, step, NOT_UNDERSTOOD if keys else None)
        speech = study.settings.speech
        if entry.speech is not None and speech is not None and asking:
            prompt = self.asked(flow, state, step)
            heard = hear(prompt, entry.speech, entry.confidence, words, speech)
            if heard.status == "confirm":
                assert state.index is not None
                notes.pending = {
                    "token": state.token,
                    "index": state.index,
                    "keys": heard.keys,
                    "said": heard.said,
                }
                check = confirm_prompt(prompt, heard, flow.say)
                return state, Ask(flow.plan(state, step), state.index, prompt=check)
            return flow.keys(state, step, heard.keys)
        return flow.keys(state, step, entry.digits)

    @staticmethod
    def asked(flow: CallFlow, state: FlowState, step: Step) -> Prompt:
        """The prompt the call is asking now (a number's read-back in its place)."""
        assert state.index is not None
        prompt = flow.plan(state, step).prompts[state.index]
        if state.read_back is not None:
            return read_back_prompt(prompt, decode_value(state.read_back), flow.say)
        return prompt


@dataclass(frozen=True)
class _Entry:
    """What one turn's request says the caller did."""

    digits: str | None
    speech: str | None
    confidence: float
    recording_sid: str | None
    recorded_seconds: int

    @classmethod
    def of(cls, form: Mapping[str, str], silence: bool) -> _Entry:
        if silence:
            return cls(None, None, 0.0, None, 0)
        speech = form.get("SpeechResult") or None
        try:
            confidence = min(max(float(form.get("Confidence", "0")), 0.0), 1.0)
        except ValueError:
            confidence = 0.0
        duration = form.get("RecordingDuration", "")
        seconds = int(duration) if duration.isascii() and duration.isdigit() else 0
        return cls(
            form.get("Digits"),
            speech[:500] if speech else None,
            confidence,
            form.get("RecordingSid"),
            min(seconds, 86400),
        )


def _key(call_sid: str, seq: int, number: int) -> str:
    return f"ivr:{call_sid}:{seq}:{number}"


def _sid(value: str) -> str:
    if not (value.startswith("CA") and 2 < len(value) <= 64 and value.isalnum()):
        abort(400)
    return value


def create_ivr_webhooks(
    service: InterviewService,
    settings: TwilioSettings,
    clock: Callable[[], dt.datetime],
    *,
    ivr: IvrSettings | None = None,
    voices: Voices | None = None,
    callers: RateLimiter | None = None,
) -> Blueprint:
    """The ``ivr`` blueprint's routes (mount at ``/ivr``), all behind Twilio's signature.

    :param ivr: how every study's calls ask; None (the server's way): each questionnaire's
        ``meta.ivr`` and its fieldwork file's ``telephony.recording``.
    :param voices: every study's voices; None: each questionnaire's ``meta.ivr.voices`` over
        the built-in ones.
    :param callers: the limit on wrong codes per caller id (default
        :data:`CALLER_CODE_LIMIT` an hour).
    :raises ModeSetupError: a served questionnaire's fieldwork file has errors (the server
        stops with them at start-up rather than asking calls by rules nobody meant).
    """
    hooks = IvrWebhooks(
        service,
        settings,
        clock,
        ivr,
        voices or Voices(),
        callers or RateLimiter(CALLER_CODE_LIMIT, 3600.0),
        own_voices=voices is None,
    )
    for questionnaire_id, survey in service.surveys.items():
        if IVR_MODE in survey.questionnaire.modes:
            hooks.study(questionnaire_id)
    hooks.numbers()  # two served studies with one number stop the server here
    store = service.store
    bp = Blueprint(IVR_MODE, __name__)
    require_signatures(bp, settings)

    def xml(twiml: str) -> Response:
        return Response(twiml, mimetype="text/xml")

    def answered(call_sid: str, seq: int) -> Response | None:
        """A turn answered before (a retry, a copy) gets the same bytes."""
        found = store.ivr_turn(call_sid, seq)
        return xml(found.twiml) if found.twiml is not None else None

    @bp.post("/voice")
    def inbound() -> Response:
        sid = _sid(request.form.get("CallSid", ""))
        again = answered(sid, 0)
        if again is not None:
            return again
        store.open_ivr_call(sid, direction="inbound", now=clock())
        studies = hooks.called(request.form.get("To", ""))  # a study's own number: its alone
        if len(hooks.line(studies)) > 1:  # a choice of language first, each offered in itself
            twiml = hooks.menu_twiml(sid, 1, studies=studies)
            line = _line_state(None, studies=studies)
        else:
            language = hooks.first_language(studies)
            twiml = hooks.code_twiml(sid, 1, language, ("welcome", "enter_code"), studies)
            line = _line_state(language, studies=studies)
        return xml(store.record_ivr_turn(sid, 0, twiml, state=line, now=clock()))

    @bp.post("/voice/outbound")
    def outbound() -> Response:
        sid = _sid(request.form.get("CallSid", ""))
        attempt = request.args.get("attempt", "")
        if not attempt.isdigit() or len(attempt) > 18:
            abort(400)
        again = answered(sid, 0)
        if again is not None:
            return again
        now = clock()
        found = store.outbound_case(int(attempt))
        if found is None or found.questionnaire_id not in service.surveys:
            twiml = hooks.goodbye("not_available")
            store.open_ivr_call(sid, direction="outbound", now=now, attempt_id=int(attempt))
            return xml(store.record_ivr_turn(sid, 0, twiml, state=None, now=now, ended=True))
        if request.form.get("AnsweredBy", "") in MACHINE_RESULTS | {"fax"}:
            # Detection that waited for the greeting's end (the leave_message policy) tells the
            # answer URL itself; no interview is started for a machine.
            twiml = hooks.for_machine(found, request.form["AnsweredBy"])
            store.open_ivr_call(
                sid, direction="outbound", now=now, case_id=found.case_id, attempt_id=int(attempt)
            )
            return xml(store.record_ivr_turn(sid, 0, twiml, state=None, now=now, ended=True))
        interview_id = _interview_for(service, found, now)
        store.open_ivr_call(
            sid,
            direction="outbound",
            now=now,
            interview_id=interview_id,
            case_id=found.case_id,
            attempt_id=int(attempt),
        )
        twiml, state, ended = hooks.begin(sid, 0, interview_id)
        return xml(store.record_ivr_turn(sid, 0, twiml, state=state, now=now, ended=ended))

    @bp.post("/turn/<call_sid>/<int:seq>", defaults={"silence": False})
    @bp.post("/turn/<call_sid>/<int:seq>/silence", defaults={"silence": True})
    def turn(call_sid: str, seq: int, silence: bool) -> Response:
        sid = _sid(call_sid)
        if request.form.get("CallSid", sid) != sid:
            abort(400)
        found = store.ivr_turn(sid, seq)
        if found.twiml is not None:
            return xml(found.twiml)
        call = found.call
        if call is None:  # forgotten (a withdrawal) or never ours
            return xml(hooks.goodbye("not_available"))
        if seq != call.seq + 1:  # late, or ahead of anything we sent: the newest answer
            latest = store.ivr_turn(sid, call.seq).twiml
            return xml(latest if latest is not None else hooks.goodbye("not_available"))
        now = clock()
        if call.interview_id is None:
            digits = None if silence else request.form.get("Digits")
            line = (call.state or {}).get(LINE) or {}
            studies = tuple(line["studies"]) if line.get("studies") else None
            if "language" in line and line["language"] is None:
                misses = int(line.get("misses", 0))
                return xml(_language_turn(hooks, call, seq, digits, misses, studies))
            language = line.get("language") or hooks.first_language(studies)
            caller = request.form.get("From", "")
            return xml(_code_turn(hooks, call, seq, digits, caller, language, studies))
        twiml, state, ended = hooks.turn(call, seq, request.form, silence, found.revision)
        return xml(store.record_ivr_turn(sid, seq, twiml, state=state, now=now, ended=ended))

    @bp.post("/recording/<call_sid>/<int:seq>")
    def recording(call_sid: str, seq: int) -> Any:
        """A recorded answer's status callback: stored once (a retry is the same event)."""
        sid = _sid(call_sid)
        callback = recording_callback(0, request.form)
        if callback is None or callback.call_sid != sid:
            abort(400)
        store.record_call_event(
            callback.recording_sid,
            event_key=f"{callback.recording_sid}:{IVR_RECORDING}:{callback.status}",
            status=callback.status,
            at=callback.at,
            payload={**callback.payload, "leg": IVR_RECORDING, "turn": str(seq)},
            now=clock(),
        )
        if callback.status in LOST_STATUSES:  # no audio: the answer must not point at nothing
            call = store.ivr_call(sid)
            if call is not None and call.interview_id is not None:
                forget_lost_recording(
                    service,
                    call.interview_id,
                    callback.recording_sid,
                    status=callback.status,
                    mode=IVR_MODE,
                    actor=RECORDING_CALLBACK,
                    now=clock(),
                )
        return "", 204

    @bp.post("/status")
    def status() -> Any:
        sid = _sid(request.form.get("CallSid", ""))
        call_status = request.form.get("CallStatus", "")
        if call_status not in CALL_STATUSES:
            abort(400)
        if call_status in FINAL_STATUSES:
            store.end_ivr_call(sid, now=clock())
        return "", 204

    return bp


def _interview_for(service: InterviewService, case: OutboundCase, now: dt.datetime) -> str:
    """The case's interview, whatever mode it began in; started by this call if it has none,
    in ``case.language`` where its questionnaire has it: for a call we placed, the language
    the case is fielded in (a case queued in Welsh is called in Welsh); for an inbound call,
    the one its caller chose on the line. Otherwise the questionnaire's default."""
    survey = service.surveys.get(case.questionnaire_id)
    languages = survey.questionnaire.languages if survey is not None else ()
    saved = service.start(
        case.questionnaire_id,
        mode=IVR_MODE,
        actor=RESPONDENT,
        now=now,
        case_id=case.case_id,
        one_per_case=True,
        language=matching(case.language, languages) if case.language else None,
    )
    return saved.interview.id


def _code_keys() -> list[bytes]:
    """The keys access codes may be hashed under: the app's secret, then its fallbacks."""
    secrets = [current_app.secret_key, *(current_app.config.get("SECRET_KEY_FALLBACKS") or ())]
    return [access_code_key(s) for s in secrets if s]


def _line_state(
    language: str | None, misses: int = 0, *, studies: Studies = None
) -> dict[str, Any]:
    """An inbound call's state before its interview is known (:data:`LINE`); ``studies``: the
    study whose own number was called (kept with the call: its turns are that study's)."""
    line: dict[str, Any] = {"language": language, "misses": misses}
    if studies:
        line["studies"] = list(studies)
    return {LINE: line}


def _language_turn(
    hooks: IvrWebhooks,
    call: IvrCallRecord,
    seq: int,
    digits: str | None,
    misses: int,
    studies: Studies,
) -> str:
    """A turn of the line's choice of language: a key that chooses one asks for the access
    code in it; silence or another key offers the choice again, :data:`LANGUAGE_TRIES` times
    in all, then the call goes on in the first language. Stored with its turn, once: a retried
    choice is answered with the same TwiML and changes nothing."""
    line, now, sid = hooks.line(studies), hooks.clock(), call.call_sid
    key = (digits or "").strip()
    chosen = next((offer.language for offer in line if key and offer.key == key), None)
    if chosen is None and misses + 1 < LANGUAGE_TRIES and len(line) > 1:
        twiml = hooks.menu_twiml(sid, seq + 1, again=True, studies=studies)
        state = _line_state(None, misses + 1, studies=studies)
        return hooks.store.record_ivr_turn(sid, seq, twiml, state=state, now=now)
    language = chosen or hooks.first_language(studies)
    twiml = hooks.code_twiml(sid, seq + 1, language, ("enter_code",), studies)
    state = _line_state(language, studies=studies)
    return hooks.store.record_ivr_turn(sid, seq, twiml, state=state, now=now)


def _code_turn(
    hooks: IvrWebhooks,
    call: IvrCallRecord,
    seq: int,
    digits: str | None,
    caller: str,
    language: str,
    studies: Studies,
) -> str:
    """A turn before the interview is known: the access code keyed (or not), the call's words
    in the ``language`` the caller chose (kept with the call until the code is good). On a
    study's own number only that study's codes are taken: another study's is a wrong code."""
    store, service, now = hooks.store, hooks.service, hooks.clock()
    sid = call.call_sid
    line = _line_state(language, studies=studies)
    code = (digits or "").strip().rstrip("#")
    caller_key = _caller_hash(caller) if caller else None
    if caller_key is not None and hooks.callers.blocked(caller_key):
        twiml = hooks.goodbye("too_many_codes", language, studies)
        return store.record_ivr_turn(sid, seq, twiml, state=line, now=now, ended=True)
    token = store.find_access_code(code, keys=_code_keys()) if code else None
    usable = (
        token is not None
        and not token.is_expired(now)
        and token.case_id is not None
        and token.questionnaire_id in service.surveys
        and IVR_MODE in service.surveys[token.questionnaire_id].questionnaire.modes
        and (studies is None or token.questionnaire_id in studies)
    )
    if not usable:
        failures = call.code_failures + 1
        if caller_key is not None and code:
            hooks.callers.hit(caller_key)
        if failures >= CODE_TRIES:
            twiml = hooks.goodbye("too_many_codes", language, studies)
            return store.record_ivr_turn(
                sid, seq, twiml, state=line, now=now, code_failures=failures, ended=True
            )
        twiml = hooks.code_twiml(sid, seq + 1, language, ("wrong_code",), studies)
        return store.record_ivr_turn(sid, seq, twiml, state=line, now=now, code_failures=failures)
    assert token is not None and token.case_id is not None
    interview_id = token.interview_id or _interview_for(
        service, OutboundCase(token.case_id, token.questionnaire_id, language), now
    )
    if token.interview_id is None:
        interview_id = store.attach_token(token.id, interview_id, now=now)
    twiml, state, ended = hooks.begin(sid, seq, interview_id, language)
    return store.record_ivr_turn(
        sid,
        seq,
        twiml,
        state=state,
        now=now,
        interview_id=interview_id,
        case_id=token.case_id,
        ended=ended,
    )
