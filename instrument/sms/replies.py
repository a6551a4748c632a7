"""Reading a text reply as the answer to the question it follows, or saying what was expected.

:func:`read_reply` gives an answer as ``Engine.submit`` takes it (a code, the
codes of a multiple choice, a number or a date's parts as text, free text,
don't know or refused), a request to see the question again (``HELP``), or
an invalid reply with the sentence to send before asking again. Whether a
number is in range or a date exists is the engine's business: its message is
sent with the question when the step is planned again.

What counts: an option's number or its label in any case ("yes", "Very
good"); for a multiple choice numbers separated by spaces or commas ("1 3",
"1,3"); whole numbers with or without thousands commas; dates as 25/12/1980,
25-12-1980, 25.12.1980, 1980-12-25 or 25121980; the reply words DK and REF
(and the language's own, and the question's don't know / refused labels).
Surrounding spaces and final full stops or exclamation marks are ignored.
STOP and its synonyms never reach here: the webhooks honour them first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from instrument.sms.messages import Say, SmsQuestion
from instrument.values import DK, REFUSED

__all__ = ["ENGLISH_DK", "ENGLISH_REFUSED", "HELP_WORDS", "Reading", "read_reply"]

ENGLISH_DK = frozenset({"dk", "don't know", "dont know", "do not know"})
"""Don't know in English, accepted in every language (the language's own word is added)."""
ENGLISH_REFUSED = frozenset({"ref", "refuse", "refused", "rather not say", "prefer not to say"})
HELP_WORDS = frozenset({"help", "?", "repeat", "again"})
"""Replies that ask for the question again (the language's own word is added)."""

_TRAILING = re.compile(r"[\s.!]+\Z")
_SPACES = re.compile(r"\s+")
_SEPARATORS = re.compile(r"[\s,;&+/]+|\band\b")
_NUMBER = re.compile(r"-?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?\Z")
_DAY_FIRST = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})\Z")
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})\Z")
_DIGITS_DATE = re.compile(r"(\d{2})(\d{2})(\d{4})\Z")


@dataclass(frozen=True)
class Reading:
    """What one reply meant: ``answer`` (``value`` for the engine), ``help`` (send the
    question again; no failure) or ``invalid`` (``message`` first, then the question)."""

    status: Literal["answer", "help", "invalid"]
    value: Any = None
    message: str | None = None


def _normal(text: str) -> str:
    """The reply as compared: one space between words, no final stops, case folded."""
    return _TRAILING.sub("", _SPACES.sub(" ", text.strip())).casefold()


def _words(*words: str) -> set[str]:
    return {_normal(w) for w in words if w and w.strip()}


def read_reply(question: SmsQuestion, body: str, say: Say) -> Reading:
    """Read ``body`` (Twilio's ``Body``) as the answer to ``question``."""
    reply = _normal(body)
    if not reply:
        return Reading("invalid", message=say("empty"))
    if reply in HELP_WORDS | _words(say("help_word")):
        return Reading("help")
    if question.dk and reply in ENGLISH_DK | _words(say("dk_word"), question.dk_label):
        return Reading("answer", DK)
    if question.refused and reply in ENGLISH_REFUSED | _words(
        say("refused_word"), question.refused_label
    ):
        return Reading("answer", REFUSED)
    if question.kind in ("choice", "check"):
        code = _choice(question, reply)
        if code is None:
            return Reading("invalid", message=say("not_an_option"))
        return Reading("answer", code)
    if question.kind == "multi":
        codes = _choices(question, reply)
        if codes is None:
            return Reading("invalid", message=say("not_an_option"))
        return Reading("answer", codes)
    if question.kind == "number":
        number = reply.replace(" ", "")
        if not _NUMBER.match(number):
            return Reading("invalid", message=say("not_a_number"))
        return Reading("answer", number)
    if question.kind == "date":
        parts = _date(reply)
        if parts is None:
            return Reading("invalid", message=say("not_a_date"))
        return Reading("answer", parts)
    return Reading("answer", body.strip())  # free text, as written


def _choice(question: SmsQuestion, reply: str) -> int | None:
    for choice in question.choices:
        if reply == choice.reply or (choice.label and reply == _normal(choice.label)):
            return choice.code
    return None


def _choices(question: SmsQuestion, reply: str) -> list[int] | None:
    whole = _choice(question, reply)  # a label with spaces or commas in it
    if whole is not None:
        return [whole]
    by_reply = {choice.reply: choice.code for choice in question.choices}
    codes: list[int] = []
    for token in _SEPARATORS.split(reply):
        if not token:
            continue
        code = by_reply.get(token)
        if code is None:
            return None
        if code not in codes:
            codes.append(code)
    return codes or None


def _date(reply: str) -> dict[str, str] | None:
    found = _DAY_FIRST.fullmatch(reply)
    if found is not None:
        day, month, year = found.groups()
        return {"day": day, "month": month, "year": year}
    found = _ISO.fullmatch(reply)
    if found is not None:
        year, month, day = found.groups()
        return {"day": day, "month": month, "year": year}
    found = _DIGITS_DATE.fullmatch(reply)
    if found is not None:
        day, month, year = found.groups()
        return {"day": day, "month": month, "year": year}
    return None
