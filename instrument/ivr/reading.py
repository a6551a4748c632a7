"""Turning what a caller keyed into the engine's answers, and what to do when nothing fits.

Twilio posts the keys of a ``<Gather>`` as ``Digits`` (nothing on silence:
the call is redirected back without it). :func:`read_keys` reads them for one
:class:`~instrument.ivr.prompts.Prompt`: an answer value as the engine takes it,
a request to repeat (``*``), or an invalid or silent entry with the words to
say before asking again. Whether a number is in range or a date exists is the
engine's business: the digits go to it as they are, and its message is what
the next plan speaks (``plan_step(problems=...)``).

:func:`after_failure` applies the re-prompt rule (ask again up to
``IvrSettings.reprompts`` times, then leave the question not answered and go
on, or end the call politely). :func:`next_prompt` and :func:`answers_for`
walk a step's prompts and gather their answers into what ``Engine.submit``
takes (unfolded multiple choices folded back into one list of codes).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from instrument.ivr.keypad import NO_KEY, REPEAT_KEY, YES_KEY
from instrument.ivr.prompts import IvrSettings, Prompt, Say, StepPlan
from instrument.values import DK, REFUSED

__all__ = [
    "NOT_ANSWERED",
    "NOT_UNDERSTOOD",
    "Reading",
    "after_failure",
    "answers_for",
    "confirmation",
    "next_prompt",
    "read_back_prompt",
    "read_keys",
]

NOT_ANSWERED = ""
"""What the engine takes for a question left empty: it stores the not-answered code."""
NOT_UNDERSTOOD = "?"
"""Entered for words that matched no answer (:mod:`instrument.ivr.speech`): no key makes it, and
it is read as an invalid entry with its own words ("Sorry, I did not understand that")."""

_DIGITS = re.compile(r"[0-9]+\Z")
_DECIMAL = re.compile(r"([0-9]+)\*([0-9]+)\Z")
_DATE = re.compile(r"([0-9]{2})([0-9]{2})([0-9]{4})\Z")


@dataclass(frozen=True)
class Reading:
    """What one entry meant.

    ``answer``: ``value`` is the engine's input (a code, ``True``/``False`` for a
    yes/no prompt, digits as text, a date's parts, DK or REFUSED); ``repeat``:
    say the whole prompt again (does not count as a failure); ``invalid`` and
    ``silent``: ``message`` is said before the prompt is asked again.
    """

    status: Literal["answer", "repeat", "invalid", "silent"]
    value: Any = None
    message: str | None = None

    @property
    def failed(self) -> bool:
        return self.status in ("invalid", "silent")


def read_keys(prompt: Prompt, digits: str | None, say: Say) -> Reading:
    """Read ``digits`` (Twilio's ``Digits``; ``None`` or empty on silence) for ``prompt``."""
    keyed = (digits or "").strip().rstrip("#")
    if not keyed:
        return Reading("silent", message=say("silent"))
    if keyed == REPEAT_KEY:
        return Reading("repeat")
    if keyed == NOT_UNDERSTOOD:
        return Reading("invalid", message=say("not_understood"))
    if prompt.dk_key is not None and keyed == prompt.dk_key:
        return Reading("answer", DK)
    if prompt.refused_key is not None and keyed == prompt.refused_key:
        return Reading("answer", REFUSED)
    if prompt.kind == "number":
        return _number(prompt, keyed, say)
    if prompt.kind == "date":
        parts = _DATE.fullmatch(keyed)
        if parts is None:
            return Reading("invalid", message=say("not_a_date"))
        day, month, year = parts.groups()
        return Reading("answer", {"day": day, "month": month, "year": year})
    if prompt.kind in ("option", "consent", "check"):
        if keyed in (YES_KEY, NO_KEY):
            return Reading("answer", keyed == YES_KEY)
        return Reading("invalid", message=say("not_a_key"))
    for choice in prompt.keys:
        if choice.key == keyed:
            return Reading("answer", choice.code)
    return Reading("invalid", message=say("not_a_key"))


def _number(prompt: Prompt, keyed: str, say: Say) -> Reading:
    if _DIGITS.fullmatch(keyed):
        return Reading("answer", keyed)
    decimal = _DECIMAL.fullmatch(keyed)
    if decimal is not None and not prompt.integer:
        return Reading("answer", f"{decimal.group(1)}.{decimal.group(2)}")
    return Reading("invalid", message=say("not_a_number"))


def read_back_prompt(prompt: Prompt, value: str, say: Say) -> Prompt:
    """The confirmation asked after a number the settings read back (1 right, 2 key again)."""
    return confirmation(prompt, say("read_back", value=value))


def confirmation(prompt: Prompt, words: str) -> Prompt:
    """A yes/no question asked in ``prompt``'s place (1 yes, 2 no): a number read back, or a
    spoken answer the recogniser was unsure of (:func:`instrument.ivr.speech.confirm_prompt`)."""
    return Prompt(
        kind="check",
        key=prompt.key,
        question=prompt.question,
        says=(words,),
        repeat_says=(words,),
        keys=prompt.keys,
    )


def after_failure(failures: int, settings: IvrSettings) -> Literal["again", "skip", "end"]:
    """After the ``failures``-th silent or invalid entry in a row on one prompt: ask again,
    or give up as the settings say (skip: not answered, go on; end: end the call politely)."""
    if failures <= settings.reprompts:
        return "again"
    return settings.on_no_answer


def next_prompt(plan: StepPlan, values: Mapping[int, Any]) -> int | None:
    """The index of the next prompt to ask, given the values read so far (by prompt index).

    A don't know or refused to one option of an unfolded multiple choice answers
    the whole question, so its other options are not asked; a recording is
    asked only after consent; a skipped prompt needs nothing from the caller
    and is never returned (:func:`answers_for` gives it its not-answered value).
    """
    settled: set[str] = set()
    for index, prompt in enumerate(plan.prompts):
        if index in values:
            value = values[index]
            if prompt.kind == "option" and (value is DK or value is REFUSED):
                settled.add(prompt.key)
            if prompt.kind == "consent" and value is not True:
                settled.add(prompt.key)
            continue
        if prompt.kind == "skipped" or prompt.key in settled:
            continue
        return index
    return None


def answers_for(plan: StepPlan, values: Mapping[int, Any]) -> dict[str, Any]:
    """What ``Engine.submit`` takes for the step, from the values read (by prompt index).

    Prompts with no value (skipped, given up on, not reached) are not answered.
    An unfolded multiple choice becomes the codes answered yes; none at all
    becomes its "none of these" option where it has one; a don't know or
    refused anywhere in it stands for the whole question.
    """
    answers: dict[str, Any] = {}
    unfolded: dict[str, list[Any]] = {}
    for index, prompt in enumerate(plan.prompts):
        value = values.get(index, NOT_ANSWERED)
        if prompt.kind == "check" or (prompt.kind == "consent" and value is True):
            continue
        if prompt.kind == "option":
            unfolded.setdefault(prompt.key, []).append((prompt, value))
            continue
        if prompt.kind == "consent":
            answers[prompt.key] = NOT_ANSWERED
            continue
        if prompt.kind == "record" and prompt.key in answers:
            continue
        answers[prompt.key] = value
    for key, pairs in unfolded.items():
        answers[key] = _folded(pairs)
    return answers


def _folded(pairs: list[Any]) -> Any:
    for _prompt, value in pairs:
        if value is DK or value is REFUSED:
            return value
    if all(value == NOT_ANSWERED for _prompt, value in pairs):
        return NOT_ANSWERED
    codes = [prompt.option for prompt, value in pairs if value is True]
    if not codes and pairs[0][0].exclusive is not None:
        return [pairs[0][0].exclusive]
    return codes
