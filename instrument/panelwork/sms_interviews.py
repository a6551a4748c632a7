"""The fieldwork worker's SMS interviews: a wave's ``sms_interview`` step texts a member the
first question, and the SMS templates learn whether a member may reply to answer by text.

A wave's ``sms_interview`` step (its day, audience and optional mode) is due for a member
when the contact plan says so (:func:`~instrument.panel.contact_plan.due_actions`): on its
day, outside the quiet hours of the member's zone, only to a number the SMS channel may
still text (not opted out, no STOP), never to a member who finished, withdrew or left the
wave. The worker holds the member's claim and has checked them again
(``panel_stop_reason``); :meth:`SmsInterviewing.carry_out` then:

1. finds the mode that asks the study by text (the step's, else the questionnaire's first
   text-message mode whose plugin starts text interviews: ``ModeSpec.start_text_interview``)
   and the installed SMS channel, saying why not when either is missing;
2. records the try (below), opens the member's number in memory only and hands the mode a
   :class:`~instrument.plugin_types.TextInterviewStart`: the ``sms`` mode starts (or resumes)
   the case's interview and texts the invitation words with its current question
   (``instrument_phone.sms.starting.text_case``, the code ``instrument sms start`` runs).

Each try is recorded before it is made, as every message is: the step's ``panel_messages``
row (kind ``sms_interview``) ``sending``, with the member checked again in the same
transaction (:meth:`~instrument.store.sms_attempts.SmsAttempts.begin_sms_step`). The mode
stores the conversation's turn, running this case, with its text recorded ``to_send``, in one
transaction before the text goes to the channel, and records the channel's answer after.
Then the step's row is set from what happened:

- the text went: ``done``, ``texted``;
- the channel failed it for a reason that may pass (the message path's rule: a failed
  receipt not ``permanent``: Twilio unreachable, rate limited): ``failed``, and the plan
  makes the step due again after the step's ``retry_after``, doubled at each try, up to its
  ``max_attempts`` (the last failure is ``done``, with why and the tries);
- refused for good (an invalid number, not a mobile, a STOP at the provider): ``done`` with
  why, and the number marked bounced, as a message's refusal marks it; never tried again;
- anything else that sends nothing (the number texted STOP, its texts answer another case,
  the channel raised, no secret): ``done`` with why.

A worker that stops during a try leaves the row ``sending``: when :data:`TRY_LEASE` has passed
the plan makes the step due again, and the mode sends the text still ``to_send`` (the member
never got it), or, if the channel had taken it (``sent``), sends nothing and says texted. Only
a stop after the provider took the text and before its answer was recorded sends it twice
(docs/sms.md says why that is the right way round for the first question). A STOP ends the
tries at once: the plan no longer has a number for the step (it is closed with why), and the
mode sends nothing to a stopped conversation.

The member's replies come to the mode's webhook (``/sms/inbound``), which finds the
conversation by the number's hash.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from instrument.interviews import InterviewService, Surveys
from instrument.loader import LoadOptions
from instrument.panel.contact_plan import TRY_LEASE, Action
from instrument.panel.waves import SmsInterview, Step, Wave
from instrument.plugin_types import (
    ChannelSetupError,
    ContactChannel,
    ModeSpec,
    OutgoingMessage,
    Receipt,
    TextInterviewReport,
    TextInterviewStart,
)
from instrument.store import Store
from instrument.store.panel_members import StoredContact
from instrument.store.panel_work import ClaimedMember

from .automated_calls import installed_mode

if TYPE_CHECKING:
    from .worker import RoundReport

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

    def carry_out(
        self,
        worker: str,
        questionnaire_id: str,
        member: ClaimedMember,
        step: Step,
        key: str,
        contact: StoredContact | None,
        opener: Callable[[Any], str],
        report: RoundReport,
    ) -> str:
        """Try the member's step once (see the module): ``done``, or ``stop`` / ``claim lost``
        when the store refused the try (the member stopped, another worker has them).

        :raises ChannelSetupError: the SMS channel's settings cannot work (the try is given
            back; the round stops, as for a message).
        """
        sms = step.sms or SmsInterview()
        ready = self._ready(questionnaire_id, sms)
        if isinstance(ready, dict):
            return self._close(worker, member, step, key, ready, report)
        name, begin, channel = ready
        if contact is None:
            why = "no number the SMS channel may text"
            return self._close(
                worker, member, step, key, {"mode": name, "texted": False, "why": why}, report
            )
        begun = self.store.begin_sms_step(
            worker,
            member,
            step=step.key,
            key=key,
            now=self.clock(),
            max_attempts=sms.max_attempts,
            lease=TRY_LEASE,
        )
        if isinstance(begun, str):
            report.skipped[begun] += 1
            return {"claim lost": "claim lost", "recorded before": "done"}.get(begun, "stop")
        message_id, tries = begun
        detail: dict[str, Any] = {"mode": name, "contact": f"{contact.kind}:{contact.rank}"}
        answers: list[Receipt | Exception] = []

        def send(message: OutgoingMessage) -> Receipt:  # the channel's answer, seen here too
            try:
                receipt = channel.send(message)
            except ChannelSetupError:
                raise
            except Exception as exc:
                answers.append(exc)
                raise
            answers.append(receipt)
            return receipt

        start = TextInterviewStart(
            questionnaire_id=questionnaire_id,
            case_id=member.case_id,
            number=opener(contact.ciphertext),
            language=member.language,
            interviews=self._service(questionnaire_id),
            send=send,
            clock=self.clock,
        )
        try:
            said = begin(start)
        except ChannelSetupError as exc:
            why = f"not sent: {exc}"
            self.store.end_sms_step(
                message_id,
                tries,
                state="failed",
                now=self.clock(),
                detail={**detail, "texted": False, "why": why, "tries": tries - 1},
                error=why,
                untried=True,
            )
            raise
        except Exception as exc:
            if answers and answers[-1] is exc:
                _log.error("channel sms raised while texting case %s", member.case_id, exc_info=exc)
                why = f"the channel raised {type(exc).__name__}"
            else:
                _log.exception("SMS interview of case %s (mode %s) failed", member.case_id, name)
                why = f"mode {name} failed (see the log)"
            said = TextInterviewReport(False, why)
        detail.update(texted=said.texted, tries=tries)
        if said.why is not None:
            detail["why"] = said.why
        receipt = answers[-1] if answers and isinstance(answers[-1], Receipt) else None
        state = "done"
        if receipt is not None and not receipt.ok:
            report.failed += 1
            if receipt.permanent:  # the number itself: no channel uses it again
                self.store.mark_contact(
                    contact.lookup_hash, "bounced", now=self.clock(), actor=f"worker:{worker}"
                )
            elif tries < sms.max_attempts:
                state = "failed"  # the plan tries again after the step's wait
            else:
                detail["why"] = f"{said.why}; tried {tries} times"
        elif said.texted:
            report.sent += 1
        error = receipt.error if receipt is not None else None
        self.store.end_sms_step(
            message_id, tries, state=state, now=self.clock(), detail=detail, error=error
        )
        if state == "done":
            report.actions += 1
        return "done"

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

    def _ready(
        self, questionnaire_id: str, step: SmsInterview
    ) -> (
        tuple[str, Callable[[TextInterviewStart], TextInterviewReport], ContactChannel]
        | dict[str, Any]
    ):
        """The mode that texts the study, its starter and the SMS channel; or the step's
        detail saying why the step cannot be tried here (it is closed with it)."""
        service = self._service(questionnaire_id)
        if isinstance(service, str):
            return {"texted": False, "why": service}
        mode = self._mode(service, questionnaire_id, step)
        if isinstance(mode, str):
            return {"texted": False, "why": mode}
        name, begin = mode
        channel = self.channels.get(SMS_CHANNEL)
        problem = "no SMS contact channel is installed" if channel is None else None
        if channel is not None and channel.check is not None:
            problem = channel.check()
        if problem is not None or channel is None:
            return {"mode": name, "texted": False, "why": problem}
        return name, begin, channel

    def _close(
        self,
        worker: str,
        member: ClaimedMember,
        step: Step,
        key: str,
        detail: dict[str, Any],
        report: RoundReport,
    ) -> str:
        """The step carried out with no try now: recorded ``done`` with why."""
        if self.store.close_sms_step(
            worker, member, step=step.key, key=key, now=self.clock(), detail=detail
        ):
            report.actions += 1
        return "done"

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
    store: Store,
    worker: str,
    questionnaire_id: str,
    wave: Wave,
    member: ClaimedMember,
    action: Action,
    key: str,
    opener: Callable[[Any], str],
    now: dt.datetime,
    report: RoundReport,
) -> str:
    """The worker's ``sms_interview`` action for one claimed member (see the module):
    ``done``, ``stop`` or ``claim lost``."""
    (step,) = [s for s in wave.steps if s.key == action.step]
    if texting is None:
        detail = {"texted": False, "why": "this worker starts no SMS interviews"}
        if store.close_sms_step(worker, member, step=step.key, key=key, now=now, detail=detail):
            report.actions += 1
        return "done"
    contact = next(
        (c for c in member.contacts if f"{c.kind}:{c.rank}" == action.address),
        None,
    )
    return texting.carry_out(worker, questionnaire_id, member, step, key, contact, opener, report)
