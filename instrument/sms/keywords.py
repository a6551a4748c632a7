"""STOP, START and HELP in a text's reply: the carriers' English words, and a language's own.

One rule for the SMS contact channel (its ``read_reply``, used by the
phone mode's SMS webhooks) and the SMS interview mode, which must honour STOP
before it reads a reply as an answer: :func:`inbound_keyword` reads the words
Twilio and the networks act on (English, in every language of a study, as the
carriers require). A study's languages add their own (:class:`CodeWords`: Welsh
``DIM``, ``DECHRAU``, ``CYMORTH`` from the catalogue's ``sms`` domain, a
questionnaire's ``.po`` file for its own), and :func:`hear` is what an inbound
text means to a text interview before it is read as an answer, for the
webhooks and ``instrument try --mode sms`` alike. Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "HELP_KEYWORDS",
    "OPT_IN_KEYWORDS",
    "OPT_OUT_KEYWORDS",
    "CodeWords",
    "Heard",
    "hear",
    "inbound_keyword",
    "language_keyword",
]

OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
)
"""The replies Twilio itself treats as opting out of a long-code sender (its
default list since 2025, with OPTOUT and REVOKE added to the older six).
No Welsh keyword is standard: networks and Twilio honour these words only,
so the shipped Welsh texts also say "Atebwch STOP"."""

OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})
"""Replies with which Twilio lets a member who opted out receive texts again."""

HELP_KEYWORDS = frozenset({"HELP", "INFO"})

_TRAILING = re.compile(r"[\s.!,;:]+\Z")


def _word(body: str) -> str:
    """The reply as a keyword is compared: stripped, final punctuation gone, upper case."""
    return _TRAILING.sub("", body.strip()).upper()


def inbound_keyword(body: str, *, extra_opt_out: Iterable[str] = ()) -> str | None:
    """``"opt_out"``, ``"opt_in"`` or ``"help"`` when a reply is one of those keywords, else None.

    The whole reply must be the keyword, in any case, with surrounding
    spaces and final punctuation ignored: ``"Stop."`` opts out, ``"stop
    sending me these"`` does not. That is the rule Twilio applies, so our
    record of who opted out agrees with the numbers Twilio blocks; a reply
    that asks to stop in other words is for a person to read.

    :param extra_opt_out: a study's own opt-out words (``"DIM"``), added to
        :data:`OPT_OUT_KEYWORDS`.
    """
    word = _word(body)
    if word in OPT_OUT_KEYWORDS or word in {w.strip().upper() for w in extra_opt_out}:
        return "opt_out"
    if word in OPT_IN_KEYWORDS:
        return "opt_in"
    if word in HELP_KEYWORDS:
        return "help"
    return None


@dataclass(frozen=True)
class CodeWords:
    """One language's own words for STOP, START and HELP, beside the carriers' English ones.

    Read from the catalogue's ``sms`` domain (``opt_out_words``, ``opt_in_words``: words
    separated by spaces; ``help_word``), so a questionnaire's own ``.po`` file can add a
    language's words (:func:`instrument.sms.messages.code_words`).
    """

    opt_out: frozenset[str] = frozenset()
    opt_in: frozenset[str] = frozenset()
    help: frozenset[str] = frozenset()

    @classmethod
    def of(cls, opt_out: str, opt_in: str, help_word: str) -> CodeWords:
        """The words from the catalogue's texts (words separated by spaces, any case)."""

        def split(text: str) -> frozenset[str]:
            return frozenset(_word(w) for w in text.split() if _word(w))

        return cls(split(opt_out), split(opt_in), split(help_word))

    def __or__(self, other: CodeWords) -> CodeWords:
        """Both sets of words (one language's words in two questionnaires)."""
        return CodeWords(
            self.opt_out | other.opt_out, self.opt_in | other.opt_in, self.help | other.help
        )

    def meaning(self, body: str) -> str | None:
        """``opt_out``, ``opt_in`` or ``help`` when the whole reply is one of the words."""
        word = _word(body)
        for meaning, words in (("opt_out", self.opt_out), ("opt_in", self.opt_in)):
            if word in words:
                return meaning
        return "help" if word in self.help else None


def language_keyword(body: str, words: Mapping[str, CodeWords]) -> tuple[str, str] | None:
    """``(meaning, language)`` of the first language (in ``words``' order) that has the reply
    as one of its code words, else None."""
    for language, own in words.items():
        meaning = own.meaning(body)
        if meaning is not None:
            return meaning, language
    return None


@dataclass(frozen=True)
class Heard:
    """What an inbound text means to a text interview before it is read as an answer.

    ``stop``: honour it at once (mark the number, send no more); ``start``: a stopped
    conversation resumes; ``ignore``: stopped, so not read nor answered; ``read``: the reply
    to the question asked (HELP included: the flow sends the question again).
    ``confirm_in``: the language of a stop word only the study knows (not the carriers'),
    whose confirmation the study sends itself, since Twilio sends one only for its own words.
    """

    kind: Literal["stop", "start", "ignore", "read"]
    confirm_in: str | None = None


def hear(
    body: str,
    *,
    stopped: bool,
    carrier: Callable[[str], str | None] = inbound_keyword,
    words: Mapping[str, CodeWords] | None = None,
) -> Heard:
    """What ``body`` means to a conversation (``stopped``: it texted STOP before).

    :param carrier: the carriers' rule (the installed SMS channel's ``read_reply``).
    :param words: the study's languages' own code words, the conversation's language first.
    STOP in any of them is honoured whatever was asked; START and its words resume a stopped
    conversation and are read as a reply otherwise (``YES`` answers a yes/no question).
    """
    language: str | None = None
    meaning = carrier(body)
    if meaning is None and words:
        found = language_keyword(body, words)
        if found is not None:
            meaning, language = found
    if meaning == "opt_out":
        return Heard("stop", confirm_in=language)
    if stopped:
        return Heard("start") if meaning == "opt_in" else Heard("ignore")
    return Heard("read")
