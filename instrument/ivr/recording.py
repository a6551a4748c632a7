"""Free text answered by a recording: what is stored for it, and the caller's consent.

Where the study records (its fieldwork file's ``telephony.recording``), a
free-text question is asked as a consent prompt (1 record, 2 skip) and then a
capped recording (:mod:`instrument.ivr.prompts`). What the interview stores as
the answer is never the audio nor the provider's URL of it: it is
:func:`answer_reference`, ``recording:`` and the provider's id of the
recording (Twilio's ``RecordingSid``, ``RE`` and 32 hexadecimal digits), which
staff can look up in the provider's console with the account's own
credentials and nobody can fetch without them. Exports carry that reference in
the question's column; a transcription made later replaces it.

The caller's decision is a fact about the call, kept with it, and a paradata
flag on the question: :data:`RECORDED` (consent given, a recording made) or
:data:`DECLINED` (consent refused: the question is not answered, -9, as free
text is where a study does not record at all).

A reference must point at a recording. When the provider reports that the
recording came to nothing (:data:`LOST_STATUSES`: ``absent``, no audio, or
``failed``), the answer holding it is taken back (:func:`keys_holding`: the
question becomes not answered, flagged :data:`LOST`). When a withdrawal
deletes answers, the recordings they name (:func:`recording_sids_in`, which
finds references anywhere in stored JSON) are deleted at
:data:`REFERENCE_PROVIDER`. A question whose ``max_length`` is shorter than
:data:`REFERENCE_LENGTH` cannot hold a reference (:func:`holds_reference`):
the call skips it rather than record what it could not keep, and
``instrument check`` says so at its line (:mod:`instrument.ivr.advice`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the plan imports this module's length rule
    from instrument.ivr.prompts import StepPlan

__all__ = [
    "DECLINED",
    "LOST",
    "LOST_STATUSES",
    "RECORDED",
    "REFERENCE_LENGTH",
    "REFERENCE_PREFIX",
    "REFERENCE_PROVIDER",
    "RecordingFact",
    "answer_reference",
    "holds_reference",
    "keys_holding",
    "recording_facts",
    "recording_sid_of",
    "recording_sids_in",
]

REFERENCE_PREFIX = "recording:"
RECORDED = "ivr_recorded"
"""Paradata flag: the free text was answered by a recording, after the caller's consent."""
DECLINED = "ivr_recording_declined"
"""Paradata flag: the caller would not be recorded; the question is left not answered."""
LOST = "ivr_recording_lost"
"""Paradata flag: the caller was recorded but the provider kept no recording (absent or failed),
so the answer that pointed at it was taken back: the question is not answered."""
LOST_STATUSES = frozenset({"absent", "failed"})
"""A recording's statuses (Twilio's ``RecordingStatus``) that say it holds nothing to listen to."""
REFERENCE_PROVIDER = "twilio"
"""The provider whose recordings the references name (``RecordingSid``), as the store names it."""
_SID = re.compile(r"RE[0-9a-fA-F]{32}\Z")
REFERENCE_LENGTH = len(REFERENCE_PREFIX) + 34
"""Characters in a reference (``recording:`` and a 34-character sid): the shortest ``max_length``
of a free-text question that can be answered by a recording."""


def answer_reference(recording_sid: str) -> str:
    """What the interview stores for a recorded answer; ``""`` for an id that is not one."""
    return REFERENCE_PREFIX + recording_sid if _SID.match(recording_sid) else ""


def recording_sid_of(answer: Any) -> str | None:
    """The recording's id in a stored answer, or None when the answer is no reference."""
    if isinstance(answer, str) and answer.startswith(REFERENCE_PREFIX):
        sid = answer.removeprefix(REFERENCE_PREFIX)
        return sid if _SID.match(sid) else None
    return None


def holds_reference(max_length: int | None) -> bool:
    """Whether a free-text question of this ``max_length`` (None: no limit) can hold a
    reference; one that cannot is not recorded (the call skips it, as where the study does
    not record), and ``instrument check`` says so at the question's line."""
    return max_length is None or max_length >= REFERENCE_LENGTH


def keys_holding(answers: Mapping[str, Any], recording_sid: str) -> tuple[str, ...]:
    """The variable keys whose answer is the reference to ``recording_sid``, in key order."""
    return tuple(sorted(k for k, v in answers.items() if recording_sid_of(v) == recording_sid))


def recording_sids_in(data: Any) -> set[str]:
    """Every recording a stored JSON value names, however deep (an answer, a call's state)."""
    found: set[str] = set()
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            sid = recording_sid_of(item)
            if sid is not None:
                found.add(sid)
        elif isinstance(item, Mapping):
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
    return found


@dataclass(frozen=True)
class RecordingFact:
    """One free-text question's consent decision and, after a yes, its recording's reference."""

    key: str
    consent: bool
    reference: str | None = None

    @property
    def flag(self) -> str:
        return DECLINED if not self.consent else RECORDED


def recording_facts(plan: StepPlan, values: Mapping[int, Any]) -> list[RecordingFact]:
    """What the caller decided on each consent prompt of ``plan`` (values by prompt index, as
    the call flow keeps them), with the recording that followed a yes, if made yet."""
    facts: list[RecordingFact] = []
    for index, prompt in enumerate(plan.prompts):
        if prompt.kind != "consent" or values.get(index) not in (True, False):
            continue
        consent = values[index] is True
        reference = None
        if consent:
            recorded = next(
                (
                    values.get(i)
                    for i, p in enumerate(plan.prompts)
                    if p.kind == "record" and p.key == prompt.key
                ),
                None,
            )
            reference = recorded if recording_sid_of(recorded) else None
        facts.append(RecordingFact(prompt.key, consent, reference))
    return facts
