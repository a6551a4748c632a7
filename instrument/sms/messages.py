"""What a text-message interview sends for one engine step: one question per message.

The engine's step for an SMS interview carries the screen wording (``text``),
filled in, in the interview's language, with no markup (the mode's policy
says so). This module decides only how a text message asks it:

* single choice, yes/no: the options numbered, one a line ("1 Yes", "2 No");
  the number is the option's code when every code is 1-99, so the reply is
  what is stored, else 1, 2, ... in order;
* multiple choice: the same list, "reply with the numbers of all that apply";
* grids: item by item, one message a row, the grid's text with the first;
* numbers, dates, free text: the question and how to reply;
* information: carried in front of the next question's message;
* the engine's soft checks: its messages, then 1 keeps the answer, 2 changes it.

Don't know and refused are reply words (``DK``, ``REF`` in English), and
``HELP`` shows the question again: each is announced once per conversation,
with the first question that offers it; a question asked again says all of
them. Plain data: the webhooks send :attr:`SmsQuestion.text` as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from instrument.engine import Problem, QuestionView, Step
from instrument.sms.keywords import CodeWords

__all__ = [
    "UNSUPPORTED_SKIPPED",
    "Choice",
    "QuestionKind",
    "Say",
    "SmsPlan",
    "SmsQuestion",
    "code_words",
    "message_text",
    "plan_step",
    "reply_numbers",
    "sms_words",
]

Say = Callable[..., str]
"""``say(key, **values)``: one of the mode's own words (catalogue domain ``sms``) in one language."""

QuestionKind = Literal["choice", "multi", "number", "date", "text", "check", "skipped"]
UNSUPPORTED_SKIPPED = "sms_unsupported_skipped"
"""Paradata flag: a question of a kind a text reply cannot answer (a plugin's type), not asked."""

_CHOICES = ("single", "yesno")
_NUMBERS = ("integer", "decimal")
_FREE_TEXT = ("text", "long_text")
_SAID_ONLY = ("info", "end")
_HIGHEST_CODE = 99


def sms_words(questionnaire: Any, language: str) -> Say:
    """The mode's words for one questionnaire in ``language`` (its own texts over ours)."""
    return partial(questionnaire.interface_texts.domain("sms").text, language)


def code_words(questionnaire: Any, first: str | None = None) -> dict[str, CodeWords]:
    """Each language's own STOP, START and HELP words in ``questionnaire`` (its texts over
    ours), ``first`` (the conversation's language) first: the words STOP is read in besides
    the carriers' English ones (:func:`instrument.sms.keywords.hear`)."""
    languages = sorted(questionnaire.languages, key=lambda language: language != first)
    words = {}
    for language in languages:
        say = sms_words(questionnaire, language)
        words[language] = CodeWords.of(say("opt_out_words"), say("opt_in_words"), say("help_word"))
    return words


@dataclass(frozen=True)
class Choice:
    """One answer offered: what to reply, the code it stores, its label."""

    reply: str
    code: int
    label: str


@dataclass(frozen=True)
class SmsQuestion:
    """One message's question: what it says, and what a reply to it may be.

    ``text`` is sent the first time; ``again`` when the question is asked
    again (HELP, or after a reply that did not fit): the whole question with
    every reply word. ``key`` is the engine variable the answer goes to.
    """

    kind: QuestionKind
    key: str
    question: str
    text: str
    again: str
    choices: tuple[Choice, ...] = ()
    dk: bool = False
    refused: bool = False
    dk_label: str = ""
    refused_label: str = ""
    integer: bool = True
    flag: str | None = None
    warnings: tuple[str, ...] = ()  # check questions: the soft checks' ids to confirm


@dataclass(frozen=True)
class SmsPlan:
    """What a conversation sends and asks for one engine step."""

    page_id: str
    token: str
    language: str
    intro: tuple[str, ...]  # information before the first question (the end's words)
    questions: tuple[SmsQuestion, ...]
    end: bool
    announced: frozenset[str]  # reply words announced so far in the conversation


def message_text(parts: Sequence[str]) -> str:
    """One message from its parts, a line each (a line break costs one character)."""
    return "\n".join(part.strip() for part in parts if part and part.strip())


def reply_numbers(codes: Sequence[int]) -> list[str]:
    """What to reply for each option: its code when every code is 1-99, else 1, 2, ... in order."""
    if all(1 <= code <= _HIGHEST_CODE for code in codes) and len(set(codes)) == len(codes):
        return [str(code) for code in codes]
    return [str(number) for number in range(1, len(codes) + 1)]


def plan_step(
    step: Step,
    say: Say,
    *,
    announced: Collection[str] = (),
    problems: Sequence[Problem] = (),
) -> SmsPlan:
    """The messages of ``step``.

    :param say: the mode's words in the step's language (:func:`sms_words`).
    :param announced: the reply words this conversation has announced already
        (``dk``, ``refused``, ``help``).
    :param problems: what the engine said of the step's last submit: errors go
        before the question they concern; soft warnings become the plan's one
        question, of kind ``check``.
    """
    warnings = [p for p in problems if p.kind == "warning"]
    if warnings:
        keep = (Choice("1", 1, ""), Choice("2", 2, ""))
        text = message_text([*(p.message for p in warnings), say("keep_or_change")])
        check = SmsQuestion(
            "check", "", "", text, text, keep, warnings=tuple(p.id for p in warnings)
        )
        return SmsPlan(
            step.page_id, step.token, step.language, (), (check,), False, frozenset(announced)
        )
    builder = _Builder(say, set(announced), problems)
    intro: list[str] = []
    for view in step.questions:
        if view.type in _SAID_ONLY:
            if view.text:
                (intro if not builder.questions else builder.pending).append(view.text)
            continue
        builder.question(view)
    return SmsPlan(
        page_id=step.page_id,
        token=step.token,
        language=step.language,
        intro=tuple(intro),
        questions=tuple(builder.questions),
        end=step.kind == "end",
        announced=frozenset(builder.announced),
    )


class _Builder:
    """Collects a step's questions; holds the reply words announced so far."""

    def __init__(self, say: Say, announced: set[str], problems: Sequence[Problem]) -> None:
        self.say = say
        self.announced = announced
        self.errors = {p.key: p.message for p in problems if p.kind != "warning"}
        self.questions: list[SmsQuestion] = []
        self.pending: list[str] = []  # information between questions: sent with the next

    def question(self, view: QuestionView) -> None:
        if view.type in _CHOICES:
            self._choice(view, view.key, [view.text], "choice", "choose_one")
        elif view.type == "multi":
            self._choice(view, view.key, [view.text], "multi", "choose_some")
        elif view.type == "grid":
            for number, row in enumerate(view.rows):
                lead = [view.text, self.say("each_row"), row.text] if number == 0 else [row.text]
                self._choice(view, row.key, lead, "choice", "choose_one")
        elif view.type in _NUMBERS:
            unit = f"({view.unit})" if view.unit else ""
            self._add(view, view.key, "number", [view.text, unit], self.say("enter_number"))
        elif view.type == "date":
            self._add(view, view.key, "date", [view.text], self.say("enter_date"))
        elif view.type in _FREE_TEXT:
            self._add(view, view.key, "text", [view.text], self.say("enter_text"))
        elif view.key:
            self.questions.append(
                SmsQuestion("skipped", view.key, view.id, "", "", flag=UNSUPPORTED_SKIPPED)
            )

    def _extras(self, view: QuestionView) -> list[tuple[str, str]]:
        """Don't know, refused and help: their announcements, by name."""
        extras = []
        if view.allow_dk and view.offer_missing:
            extras.append(("dk", self.say("announce_dk", word=self.say("dk_word"))))
        if view.allow_refused and view.offer_missing:
            extras.append(("refused", self.say("announce_refused", word=self.say("refused_word"))))
        extras.append(("help", self.say("announce_help", word=self.say("help_word"))))
        return extras

    def _choice(
        self, view: QuestionView, key: str, lead: list[str], kind: QuestionKind, how: str
    ) -> None:
        codes = [o.code for o in view.options]
        replies = reply_numbers(codes)
        choices = tuple(
            Choice(reply, o.code, o.label) for reply, o in zip(replies, view.options, strict=True)
        )
        listing = [f"{c.reply} {c.label}" for c in choices]
        example = f"{replies[0]} {replies[min(2, len(replies) - 1)]}" if replies else ""
        self._add(view, key, kind, [*lead, *listing], self.say(how, example=example), choices)

    def _add(
        self,
        view: QuestionView,
        key: str,
        kind: QuestionKind,
        lead: list[str],
        how: str,
        choices: tuple[Choice, ...] = (),
    ) -> None:
        before = [*self.pending]
        self.pending.clear()
        if key in self.errors:
            before.append(self.errors[key])
        extras = self._extras(view)
        fresh = [(name, words) for name, words in extras if name not in self.announced]
        self.announced.update(name for name, _ in fresh)
        self.questions.append(
            SmsQuestion(
                kind=kind,
                key=key,
                question=view.id,
                text=message_text([*before, *lead, how, *(words for _, words in fresh)]),
                again=message_text([*lead, how, *(words for _, words in extras)]),
                choices=choices,
                dk=any(name == "dk" for name, _ in extras),
                refused=any(name == "refused" for name, _ in extras),
                dk_label=view.dk_label,
                refused_label=view.refused_label,
                integer=view.type != "decimal",
            )
        )
