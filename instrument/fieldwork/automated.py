"""Automated (IVR) calls placed to due cases: the study's voicemail policy, and what a call's end codes.

An automated call has no interviewer to code its outcome, so the telephony's
last word decides it: Twilio's final ``CallStatus`` and, when it was asked
for, what answering-machine detection heard (``AnsweredBy``), read beside the
case's interview (keys pressed are answers stored, so they prove a person was
there whatever the detection said). :func:`automated_outcome` is that rule, as
a pure function of those facts; the call queue codes the attempt with its
answer, so the outcome's retry delay, final flag and rate class apply as they
do to an interviewer's code.

The study says in its fieldwork file (``telephony: automated:``) how long a
phone rings and what to do on reaching a machine: hang up at once (detection
decides quickly and in the background, so a person hears the first question
at once) or wait for the beep and leave a short message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from instrument.fieldwork.wording import Wording, texts_of

__all__ = [
    "AMD_RESULTS",
    "DEFAULT_AUTOMATED_RING_SECONDS",
    "MACHINE_RESULTS",
    "MAX_RING_SECONDS",
    "MAX_VOICEMAIL_CHARACTERS",
    "MIN_RING_SECONDS",
    "ON_MACHINE",
    "AutomatedCallSettings",
    "OnMachine",
    "automated_outcome",
]

OnMachine = Literal["hang_up", "leave_message"]
ON_MACHINE: Final = ("hang_up", "leave_message")
"""What an automated call does when a machine answers (the study's voicemail policy)."""

MIN_RING_SECONDS: Final = 15
"""Ofcom's persistent-misuse policy: a phone rings for at least 15 seconds before a call
gives up, so nobody runs to a phone that stops as they reach it."""
MAX_RING_SECONDS: Final = 600
"""Twilio's own limit on ``Timeout``."""
DEFAULT_AUTOMATED_RING_SECONDS: Final = 30
"""As the interviewer's bridge: shorter than Twilio's 60 s, which most answering machines beat."""
MAX_VOICEMAIL_CHARACTERS: Final = 500
"""A voicemail message is short: about half a minute read aloud."""

MACHINE_RESULTS: Final = frozenset(
    {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other"}
)
"""Twilio's ``AnsweredBy`` values that mean an answering machine."""
AMD_RESULTS: Final = frozenset({"human", "fax", "unknown", *MACHINE_RESULTS})
"""Every ``AnsweredBy`` value Twilio sends."""

_BY_FINAL_STATUS: Final = {
    "busy": "busy",
    "no-answer": "no_answer",
    # A carrier's passing fault, or a call we cancelled before it rang: never a dead number,
    # which would end a case on one bad minute (as the interviewer's picker suggests).
    "failed": "technical_problem",
    "canceled": "technical_problem",
}


@dataclass(frozen=True)
class AutomatedCallSettings:
    """How a study's automated calls ring and treat a machine (``telephony: automated:``).

    :param on_machine: ``hang_up`` (Twilio's ``MachineDetection=Enable``, decided
        in the background) or ``leave_message`` (``DetectMessageEnd``: the call's
        answer handler is asked once the greeting's beep has passed, and plays
        ``voicemail_message``).
    :param voicemail_message: what is left on a machine, one text or one per language
        (:mod:`~instrument.fieldwork.wording`); needed for ``leave_message``.
    :param ring_seconds: how long the phone rings before the call gives up.
    """

    on_machine: OnMachine = "hang_up"
    voicemail_message: Wording | None = None
    ring_seconds: int = DEFAULT_AUTOMATED_RING_SECONDS

    def __post_init__(self) -> None:
        if self.on_machine not in ON_MACHINE:
            raise ValueError(
                f"on_machine is one of {', '.join(ON_MACHINE)}, not {self.on_machine!r}"
            )
        texts = texts_of(self.voicemail_message)
        if self.on_machine == "leave_message" and not any(t.strip() for t in texts):
            raise ValueError("leave_message needs voicemail_message: the words left on the machine")
        if not MIN_RING_SECONDS <= self.ring_seconds <= MAX_RING_SECONDS:
            raise ValueError(
                f"ring_seconds must be from {MIN_RING_SECONDS} to {MAX_RING_SECONDS}, "
                f"not {self.ring_seconds}"
            )
        longest = max((len(t) for t in texts), default=0)
        if longest > MAX_VOICEMAIL_CHARACTERS:
            raise ValueError(
                f"voicemail_message is {longest} characters; keep it under "
                f"{MAX_VOICEMAIL_CHARACTERS} (about half a minute spoken)"
            )

    @property
    def machine_detection(self) -> str:
        """Twilio's ``MachineDetection`` for the policy."""
        return "DetectMessageEnd" if self.on_machine == "leave_message" else "Enable"

    @property
    def background_detection(self) -> bool:
        """Whether detection runs in the background (``AsyncAmd``) while the call goes on.

        Apt for hanging up: a person hears the first question at once, and a
        machine is hung up on when the result comes. Not for a message, which
        must wait for the beep before anything is said.
        """
        return self.on_machine == "hang_up"


def automated_outcome(
    call_status: str | None,
    answered_by: str | None,
    *,
    interview_started: bool,
    interview_finished: bool,
) -> str | None:
    """The outcome an automated call's end codes its attempt with; None while it is not over.

    * busy, no answer: as named; failed or cancelled: a technical problem (tried again later).
    * completed: a finished interview is a complete, whatever detection said; a
      fax (its number is dead) or a machine as detected (``answering_machine``,
      household unknown: a greeting confirms no one); otherwise someone or
      something took the call. An interview started (on this call or before)
      is a partial, to be resumed. A person who hung up before answering
      anything is a refusal by whoever answered (AAPOR 2.111, household level:
      it may not have been the respondent), rested and converted as any soft
      refusal. Detection that could not tell, or none, with nothing keyed, is
      counted a no answer: nothing shows that a person was there.
    """
    if call_status in _BY_FINAL_STATUS:
        return _BY_FINAL_STATUS[call_status]
    if call_status != "completed":
        return None
    if interview_finished:
        return "complete"
    if answered_by == "fax":
        return "fax"
    if answered_by in MACHINE_RESULTS:
        return "answering_machine"
    if interview_started:
        return "partial"
    if answered_by == "human":
        return "refusal_household"
    return "no_answer"
