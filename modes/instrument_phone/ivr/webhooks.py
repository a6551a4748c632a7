"""The automated calls' webhooks: Twilio asks, the call flow decides, the interview service stores.

Mounted under the ``ivr`` mode's prefix (``/ivr``), every request signed by
Twilio (``X-Twilio-Signature`` over the configured public URL; 403 before
anything runs otherwise, :func:`~instrument_phone.telephony.webhooks.require_signatures`):

* ``POST /ivr/voice``: an inbound call (the study number's Voice URL). The
  caller keys the access code of their invitation, then ``#``; a good code
  resumes the case's interview where it stopped, in whatever mode it began,
  or starts it. Wrong codes: :data:`CODE_TRIES` a call, then a polite
  goodbye; :data:`CALLER_CODE_LIMIT` an hour from one caller id (hashed; the
  caller id is only ever a hint, never who the caller is).
* ``POST /ivr/voice/outbound?attempt=<id>``: the answer URL of an automated
  call we placed (:func:`outbound_answer_url`): the attempt's case's interview.
* ``POST /ivr/turn/<call sid>/<n>``: the keys of turn ``n`` (a ``<Gather>``'s
  action), and ``.../<n>/silence`` when it timed out (its ``<Redirect>``).
* ``POST /ivr/status``: the call's status callback; ``completed`` (or any
  final status) marks the call ended. The interview stays as it is: a
  hang-up mid-interview leaves a partial that the next call resumes.

Idempotent: turn ``n``'s TwiML is stored with the call's new flow state in one
transaction (:mod:`instrument.store.ivr_calls`); a retried or duplicated
request for a turn answered is given the same bytes, and a late one (an older
``n``) the newest answer; nothing runs again. Answers go through
:meth:`InterviewService.answer` with a ``Seen`` keyed by call and turn, so a
request retried after a crash between the answer's save and the turn's is not
stored twice, and the call then asks the step the interview is on. Mode
``ivr`` is recorded on every answer. Nothing personal is stored: no number,
and the flow's state holds only codes and digits keyed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, abort, current_app, request
from twilio.twiml.voice_response import Gather, VoiceResponse

from instrument import catalogue
from instrument.engine import Problem
from instrument.interviews import InterviewService
from instrument.interviews.outcomes import Answers, Seen
from instrument.ivr.flow import Action, CallFlow, FlowState
from instrument.ivr.prompts import IvrSettings, ivr_words
from instrument.ratelimit import RateLimiter
from instrument.store.ivr_calls import IvrCallRecord, access_code_key
from instrument_phone.ivr.twiml import (
    DEFAULT_TIMEOUT,
    PromptUrls,
    Voices,
    end_twiml,
    goodbye_twiml,
    info_twiml,
    prompt_twiml,
)
from instrument_phone.telephony.config import TwilioSettings
from instrument_phone.telephony.webhooks import CALL_STATUSES, require_signatures

__all__ = [
    "CALLER_CODE_LIMIT",
    "CODE_TRIES",
    "IVR_MODE",
    "IvrWebhooks",
    "create_ivr_webhooks",
    "outbound_answer_url",
    "turn_path",
]

IVR_MODE = "ivr"
"""The mode's name: its URL prefix and the ``mode`` recorded on every answer."""

CODE_TRIES = 3
"""Wrong (or silent) access codes on one call before it ends politely."""

CALLER_CODE_LIMIT = 10
"""Wrong access codes an hour from one caller id, in one process, before its calls end at once."""

FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})

_MAX_SUBMITS = 8
"""Submits one request may make (steps asking nothing follow one another); more is a loop."""


def outbound_answer_url(settings: TwilioSettings, attempt_id: str | int) -> str:
    """The answer URL of an automated call placed for ``attempt_id`` (``calls.create(url=...)``)."""
    return f"{settings.public_url}/{IVR_MODE}/voice/outbound?attempt={int(attempt_id)}"


def turn_path(call_sid: str, seq: int, *, silence: bool = False) -> str:
    """The path turn ``seq`` of call ``call_sid`` is posted to (its silence: ``/silence``)."""
    return f"/{IVR_MODE}/turn/{call_sid}/{seq}" + ("/silence" if silence else "")


def _words(key: str) -> str:
    """The call's own words before the interview (and its language) is known: English."""
    return catalogue.text("en", "ivr", key)


def _caller_hash(caller: str) -> str:
    """A rate-limit key for a caller id that is not the number (kept in memory only)."""
    return hashlib.sha256(b"ivr caller:" + caller.encode("utf-8")).hexdigest()[:32]


@dataclass
class IvrWebhooks:
    """What the webhooks work with: the interview service, the settings, the clock, the limits."""

    service: InterviewService
    settings: TwilioSettings
    clock: Callable[[], dt.datetime]
    ivr: IvrSettings
    voices: Voices
    callers: RateLimiter

    @property
    def store(self) -> Any:
        return self.service.store

    # ------------------------------------------------------------------ TwiML

    def urls(self, call_sid: str, seq: int) -> PromptUrls:
        base = self.settings.public_url
        return PromptUrls(
            action=base + turn_path(call_sid, seq),
            silence=base + turn_path(call_sid, seq, silence=True),
        )

    def code_twiml(self, call_sid: str, seq: int, words: Sequence[str]) -> str:
        """Ask for the access code: digits, then ``#``."""
        voice = self.voices.of("en")
        urls = self.urls(call_sid, seq)
        response = VoiceResponse()
        gather = Gather(
            input="dtmf",
            finish_on_key="#",
            timeout=DEFAULT_TIMEOUT,
            action=urls.action,
            method="POST",
        )
        for sentence in words:
            gather.say(sentence, voice=voice.voice, language=voice.language)
        response.append(gather)
        response.redirect(urls.silence, method="POST")
        return str(response.to_xml(xml_declaration=True))

    def twiml(self, action: Action, call_sid: str, seq: int) -> str:
        if action.kind == "ask":
            return prompt_twiml(
                action.plan,
                action.index,
                urls=self.urls(call_sid, seq),
                voices=self.voices,
                again=action.again,
                before=action.before,
                prompt=action.prompt,
            )
        if action.kind == "inform":
            return info_twiml(action.plan, urls=self.urls(call_sid, seq), voices=self.voices)
        if action.kind == "finish":
            return end_twiml(action.plan, voices=self.voices)
        if action.kind == "goodbye":
            return goodbye_twiml(action.words, action.language, voices=self.voices)
        raise ValueError(f"a {action.kind} has no TwiML")

    def goodbye(self, key: str) -> str:
        return goodbye_twiml((_words(key),), "en", voices=self.voices)

    # ------------------------------------------------------------------ the interview

    def flow_for(self, questionnaire_id: str, language: str) -> CallFlow:
        survey = self.service.surveys[questionnaire_id]
        return CallFlow(ivr_words(survey.questionnaire, language), self.ivr)

    def begin(self, call_sid: str, seq: int, interview_id: str) -> tuple[str, FlowState, bool]:
        """The first words of the interview on this call: (TwiML, flow state, ended)."""
        now = self.clock()
        shown = self.service.show(interview_id, mode=IVR_MODE, actor=_actor(call_sid), now=now)
        if shown.kind != "shown":
            return self.goodbye("not_available"), FlowState(), True
        if shown.interview.finished:
            return self.goodbye("already_complete"), FlowState(), True
        info = shown.interview
        flow = self.flow_for(info.questionnaire_id, info.language)
        state, action = flow.show(FlowState(), shown.step, revision=info.revision)
        return self.run(flow, call_sid, seq, interview_id, state, action)

    def run(
        self,
        flow: CallFlow,
        call_sid: str,
        seq: int,
        interview_id: str,
        state: FlowState,
        action: Action,
    ) -> tuple[str, FlowState, bool]:
        """Carry out the flow's submits through the interview service until it asks or ends."""
        for number in range(_MAX_SUBMITS):
            if action.kind != "submit":
                ended = action.kind in ("finish", "goodbye")
                return self.twiml(action, call_sid, seq + 1), state, ended
            submit = action
            seen = Seen(
                revision=state.revision, token=state.token or "", key=_key(call_sid, seq, number)
            )

            def read(_step: Any, submit: Any = submit) -> Answers:
                return Answers(submit.answers, confirmed=True if submit.confirm else ())

            client = (
                {"ivr_flags": ";".join(f"{k}:{f}" for k, f in submit.flags)} if submit.flags else {}
            )
            outcome = self.service.answer(
                interview_id,
                seen,
                read,
                mode=IVR_MODE,
                actor=_actor(call_sid),
                now=self.clock(),
                client={"channel": IVR_MODE, **client},
                show_next=True,
            )
            if outcome.kind == "saved" and outcome.step is not None:
                state, action = flow.show(state, outcome.step, revision=outcome.interview.revision)
            elif outcome.kind == "rejected":
                problems: list[Problem] = [*outcome.errors, *outcome.warnings, *outcome.prompts]
                state, action = flow.rejected(
                    state, outcome.step, problems, revision=outcome.interview.revision
                )
            elif outcome.kind == "unavailable":
                return self.goodbye("not_available"), state, True
            else:  # replayed or stale: ask the step the interview is on now
                shown = self.service.show(
                    interview_id, mode=IVR_MODE, actor=_actor(call_sid), now=self.clock()
                )
                if shown.kind != "shown":
                    return self.goodbye("not_available"), state, True
                state, action = flow.show(state, shown.step, revision=shown.interview.revision)
        # steps that ask nothing kept following one another: end the call, keep the partial
        return (
            goodbye_twiml((flow.say("goodbye_no_answer"),), "en", voices=self.voices),
            state,
            True,
        )

    def turn(
        self, call: IvrCallRecord, seq: int, digits: str | None
    ) -> tuple[str, FlowState, bool]:
        """Turn ``seq`` of a call whose interview is known: the keys into the flow."""
        assert call.interview_id is not None
        now = self.clock()
        actor = _actor(call.call_sid)
        state = FlowState.from_json(call.state)
        shown = self.service.show(call.interview_id, mode=IVR_MODE, actor=actor, now=now)
        if shown.kind != "shown":
            return self.goodbye("not_available"), state, True
        info = shown.interview
        flow = self.flow_for(info.questionnaire_id, info.language)
        if info.finished and state.phase != "ended":
            return self.goodbye("already_complete"), state, True
        if info.revision != state.revision:
            # The interview moved since this call's state was stored: a retry after a crash
            # between the answer's save and the turn's, or an answer from another device.
            # Nothing is submitted from the old keys; the call asks the step it is on now.
            state, action = flow.show(state, shown.step, revision=info.revision)
        else:
            state, action = flow.keys(state, shown.step, digits)
        return self.run(flow, call.call_sid, seq, call.interview_id, state, action)


def _actor(call_sid: str) -> str:
    return f"ivr:{call_sid}"


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

    :param ivr: how the calls ask (re-prompts, read-back); recording is not served yet.
    :param callers: the limit on wrong codes per caller id (default
        :data:`CALLER_CODE_LIMIT` an hour).
    """
    hooks = IvrWebhooks(
        service,
        settings,
        clock,
        ivr or IvrSettings(),
        voices or Voices(),
        callers or RateLimiter(CALLER_CODE_LIMIT, 3600.0),
    )
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
        twiml = hooks.code_twiml(sid, 1, [_words("welcome_code")])
        return xml(store.record_ivr_turn(sid, 0, twiml, state=None, now=clock()))

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
        if found is None or found[1] not in service.surveys:
            twiml = hooks.goodbye("not_available")
            store.open_ivr_call(sid, direction="outbound", now=now, attempt_id=int(attempt))
            return xml(store.record_ivr_turn(sid, 0, twiml, state=None, now=now, ended=True))
        case_id, questionnaire_id = found
        interview_id = _interview_for(service, questionnaire_id, case_id, sid, now)
        store.open_ivr_call(
            sid,
            direction="outbound",
            now=now,
            interview_id=interview_id,
            case_id=case_id,
            attempt_id=int(attempt),
        )
        twiml, state, ended = hooks.begin(sid, 0, interview_id)
        return xml(
            store.record_ivr_turn(sid, 0, twiml, state=state.to_json(), now=now, ended=ended)
        )

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
        digits = None if silence else request.form.get("Digits")
        now = clock()
        if call.interview_id is None:
            return xml(_code_turn(hooks, call, seq, digits, request.form.get("From", "")))
        twiml, state, ended = hooks.turn(call, seq, digits)
        return xml(
            store.record_ivr_turn(sid, seq, twiml, state=state.to_json(), now=now, ended=ended)
        )

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


def _interview_for(
    service: InterviewService, questionnaire_id: str, case_id: str, call_sid: str, now: dt.datetime
) -> str:
    """The case's interview, whatever mode it began in; started by this call if it has none."""
    saved = service.start(
        questionnaire_id,
        mode=IVR_MODE,
        actor=_actor(call_sid),
        now=now,
        case_id=case_id,
        one_per_case=True,
    )
    return saved.interview.id


def _code_keys() -> list[bytes]:
    """The keys access codes may be hashed under: the app's secret, then its fallbacks."""
    secrets = [current_app.secret_key, *(current_app.config.get("SECRET_KEY_FALLBACKS") or ())]
    return [access_code_key(s) for s in secrets if s]


def _code_turn(
    hooks: IvrWebhooks, call: IvrCallRecord, seq: int, digits: str | None, caller: str
) -> str:
    """A turn before the interview is known: the access code keyed (or not)."""
    store, service, now = hooks.store, hooks.service, hooks.clock()
    sid = call.call_sid
    code = (digits or "").strip().rstrip("#")
    caller_key = _caller_hash(caller) if caller else None
    if caller_key is not None and hooks.callers.blocked(caller_key):
        twiml = hooks.goodbye("too_many_codes")
        return store.record_ivr_turn(sid, seq, twiml, state=None, now=now, ended=True)
    token = store.find_access_code(code, keys=_code_keys()) if code else None
    usable = (
        token is not None
        and not token.is_expired(now)
        and token.case_id is not None
        and token.questionnaire_id in service.surveys
        and IVR_MODE in service.surveys[token.questionnaire_id].questionnaire.modes
    )
    if not usable:
        failures = call.code_failures + 1
        if caller_key is not None and code:
            hooks.callers.hit(caller_key)
        if failures >= CODE_TRIES:
            twiml = hooks.goodbye("too_many_codes")
            return store.record_ivr_turn(
                sid, seq, twiml, state=None, now=now, code_failures=failures, ended=True
            )
        twiml = hooks.code_twiml(sid, seq + 1, [_words("wrong_code")])
        return store.record_ivr_turn(sid, seq, twiml, state=None, now=now, code_failures=failures)
    assert token is not None and token.case_id is not None
    interview_id = token.interview_id or _interview_for(
        service, token.questionnaire_id, token.case_id, sid, now
    )
    if token.interview_id is None:
        interview_id = store.attach_token(token.id, interview_id, now=now)
    twiml, state, ended = hooks.begin(sid, seq, interview_id)
    return store.record_ivr_turn(
        sid,
        seq,
        twiml,
        state=state.to_json(),
        now=now,
        interview_id=interview_id,
        case_id=token.case_id,
        ended=ended,
    )
