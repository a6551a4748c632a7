"""The fieldwork worker's SMS interviews: a wave's ``sms_interview`` step texts a member the
first question, and the SMS templates learn whether a member may reply to answer by text.

A wave's ``sms_interview`` step (its day, audience and optional mode) is due for a member
when the contact plan says so (:func:`~instrument.panel.contact_plan.due_actions`): on its
day, outside the quiet hours of the member's zone, only to a number the SMS channel may
still text (not opted out, no STOP), never to a member who finished, withdrew or left the
wave. The worker holds the member's claim and has checked them again
(``panel_stop_reason``); :meth:`SmsInterviewing.start` then:

1. finds the mode that asks the study by text (the step's, else the questionnaire's first
   text-message mode whose plugin starts text interviews: ``ModeSpec.start_text_interview``)
   and the installed SMS channel, saying why not when either is missing;
2. opens the member's number in memory only and hands the mode a
   :class:`~instrument.plugin_types.TextInterviewStart`: the ``sms`` mode starts (or resumes)
   the case's interview and texts the invitation words with its current question
   (``instrument_phone.sms.starting.text_case``, the code ``instrument sms start`` runs).

Never twice: the mode stores the conversation's turn, running this case, before the text
goes to the channel, and refuses a case its number's conversation already runs; the
worker then records the step as done (``record_action``, a unique key per member and step)
with what happened as its detail. A crash between the text and the record finds the
conversation running the case on the next claim and sends nothing again.

The member's replies come to the mode's webhook (``/sms/inbound``), which finds the
conversation by the number's hash.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Any

from instrument.interviews import InterviewService, Surveys
from instrument.loader import LoadOptions
from instrument.panel.contact_plan import Action
from instrument.panel.waves import SmsInterview, Wave
from instrument.plugin_types import (
    ChannelSetupError,
    ContactChannel,
    ModeSpec,
    TextInterviewReport,
    TextInterviewStart,
)
from instrument.store import Store
from instrument.store.panel_members import StoredContact
from instrument.store.panel_work import ClaimedMember

from .automated_calls import installed_mode

__all__ = ["SmsInterviewing", "text_member"]

_log = logging.getLogger(__name__)

SMS_CHANNEL = "sms"


class SmsInterviewing:
    """One worker's SMS interviews: the studies' interview services, read once per worker.

    :param modes: the installed modes by name (the plugin host's); empty: none starts texts.
    :param channels: the installed contact channels (the SMS one sends the texts).
    :param options: what the plugin host adds to questionnaires, to load the stored ones.
    """

    def __init__(
        self,
        store: Store,
        modes: Mapping[str, ModeSpec],
        channels: Mapping[str, ContactChannel],
        *,
        clock: Callable[[], dt.datetime],
        options: LoadOptions | None = None,
    ) -> None:
        self.store = store
        self.modes = dict(modes)
        self.channels = dict(channels)
        self.clock = clock
        self.options = options
        self._services: dict[str, InterviewService | str] = {}

    def start(
        self,
        questionnaire_id: str,
        step: SmsInterview,
        case_id: str,
        contact: StoredContact | None,
        opener: Callable[[Any], str],
        language: str | None,
    ) -> dict[str, Any]:
        """Text the member's case its first question; the action's detail (never a number)."""
        service = self._service(questionnaire_id)
        if isinstance(service, str):
            return {"texted": False, "why": service}
        mode = self._mode(service, questionnaire_id, step)
        if isinstance(mode, str):
            return {"texted": False, "why": mode}
        name, begin = mode
        detail: dict[str, Any] = {"mode": name}
        channel = self.channels.get(SMS_CHANNEL)
        problem = "no SMS contact channel is installed" if channel is None else None
        if channel is not None and channel.check is not None:
            problem = channel.check()
        if problem is not None or channel is None:
            return {**detail, "texted": False, "why": problem}
        if contact is None:
            return {**detail, "texted": False, "why": "no number the SMS channel may text"}
        start = TextInterviewStart(
            questionnaire_id=questionnaire_id,
            case_id=case_id,
            number=opener(contact.ciphertext),
            language=language,
            interviews=service,
            send=channel.send,
            clock=self.clock,
        )
        try:
            report = begin(start)
        except ChannelSetupError:
            raise  # the channel's settings: the round stops, as for a message
        except Exception:
            _log.exception("SMS interview of case %s (mode %s) failed", case_id, name)
            return {**detail, "texted": False, "why": f"mode {name} failed (see the log)"}
        detail.update(texted=report.texted, contact=f"{contact.kind}:{contact.rank}")
        if report.why is not None:
            detail["why"] = report.why
        return detail

    def replies_by_text(self, questionnaire_id: str) -> bool:
        """Whether a member replying to the wave's texts answers by text: the stored
        questionnaire lists a mode asked by text message that this host has installed."""
        service = self._service(questionnaire_id)
        if isinstance(service, str):
            return False
        questionnaire = service.surveys[questionnaire_id].questionnaire
        policies = questionnaire.mode_policies
        return any(policies[m].text_messages and m in self.modes for m in questionnaire.modes)

    # ------------------------------------------------------------------ studies and modes

    def _service(self, questionnaire_id: str) -> InterviewService | str:
        """The interview service of the stored questionnaire, or why there is none."""
        found = self._services.get(questionnaire_id)
        if found is None:
            try:
                surveys = Surveys.stored(self.store, questionnaire_id, options=self.options)
            except (LookupError, RuntimeError) as exc:
                found = str(exc.args[0]) if exc.args else type(exc).__name__
            else:
                found = InterviewService(self.store, surveys)
            self._services[questionnaire_id] = found
        return found

    def _mode(
        self, service: InterviewService, questionnaire_id: str, step: SmsInterview
    ) -> tuple[str, Callable[[TextInterviewStart], TextInterviewReport]] | str:
        """The mode that texts the study and its starter, or why there is none."""
        questionnaire = service.surveys[questionnaire_id].questionnaire
        policies = questionnaire.mode_policies
        texting = [m for m in questionnaire.modes if policies[m].text_messages]
        named = step.mode
        if named is None:
            starting = [m for m in texting if self._starter(m) is not None]
            if not starting:
                return (
                    "no installed mode starts text interviews for it (its text-message modes: "
                    f"{', '.join(texting) or 'none'})"
                )
            named = starting[0]
        if named not in texting:
            return f"mode {named} is not one the questionnaire is asked in by text"
        spec = installed_mode(self.modes, named)
        if isinstance(spec, str):
            return spec
        begin = spec.start_text_interview
        if begin is None:
            return f"mode {named} starts no text interviews"
        return named, begin

    def _starter(self, mode: str) -> Callable[[TextInterviewStart], TextInterviewReport] | None:
        spec = self.modes.get(mode)
        return None if spec is None else spec.start_text_interview


def text_member(
    texting: SmsInterviewing | None,
    questionnaire_id: str,
    wave: Wave,
    member: ClaimedMember,
    action: Action,
    opener: Callable[[Any], str],
) -> dict[str, Any]:
    """The worker's ``sms_interview`` action for one claimed member: the action's detail."""
    if texting is None:
        return {"texted": False, "why": "this worker starts no SMS interviews"}
    (step,) = [s for s in wave.steps if s.key == action.step]
    contact = next(
        (c for c in member.contacts if f"{c.kind}:{c.rank}" == action.address),
        None,
    )
    return texting.start(
        questionnaire_id,
        step.sms or SmsInterview(),
        member.case_id,
        contact,
        opener,
        member.language,
    )
