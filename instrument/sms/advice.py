"""``instrument check``'s warnings for questions a text message cannot ask well.

Only for a questionnaire that runs in a text-message mode (its policy's
``text_messages``, the ``sms`` mode). Each warning points at the question's
line: a list of options too long to read and answer by number on a phone, a
grid (asked item by item, one text a row), a question whose first
message (its text, options, how to reply and the reply words announced with
it) goes as more than :data:`MAX_SEGMENTS` billed parts in some language,
counted as the SMS channel counts (:mod:`instrument.sms.segments`), and an
option whose label is a word that stops texts in its language (Welsh "Dim"):
a reply of the label alone stops the conversation, so it is answered by its
number. Fills (``{{ ... }}``) are counted as written, so a long fill may make
a text longer.
"""

from __future__ import annotations

from instrument.diagnostics import Diagnostic
from instrument.model import Question, Questionnaire
from instrument.sms.keywords import CodeWords, inbound_keyword
from instrument.sms.messages import code_words, message_text, reply_numbers, sms_words
from instrument.sms.segments import outside_gsm, sms_segments

__all__ = ["MAX_OPTIONS", "MAX_SEGMENTS", "sms_advice"]

MAX_OPTIONS = 9
"""More options than this is a long list to scroll and answer by number in a text."""
MAX_SEGMENTS = 2
"""A question's text sent in more parts than this is long to read on a phone (and billed each)."""

_CHOICES = ("single", "yesno", "multi", "grid")
_HOW = {
    "single": "choose_one",
    "yesno": "choose_one",
    "grid": "choose_one",
    "multi": "choose_some",
    "integer": "enter_number",
    "decimal": "enter_number",
    "date": "enter_date",
    "text": "enter_text",
    "long_text": "enter_text",
}


def sms_advice(q: Questionnaire) -> list[Diagnostic]:
    """The warnings, in question order; none when no mode of the questionnaire texts."""
    texts = [m for m in q.modes if q.mode_policies[m].text_messages]
    if not texts:
        return []
    mode = texts[0]
    words = code_words(q)
    found: list[Diagnostic] = []
    for question in q.questions.values():
        for message in [*_problems(q, question, mode), *_stop_labels(q, question, words)]:
            found.append(Diagnostic(question.pos, "warning", message))
    return found


def _stop_labels(q: Questionnaire, question: Question, words: dict[str, CodeWords]) -> list[str]:
    """An option whose label alone is a word that stops texts, in a language of ``q``."""
    options = question.choices.options if question.choices is not None else ()
    problems = []
    for language, own in words.items():
        for reply, option in zip(reply_numbers([o.code for o in options]), options, strict=True):
            label = option.label.source(language, q.default_language)
            if "opt_out" in (own.meaning(label), inbound_keyword(label)):
                problems.append(
                    f"question '{question.id}': option '{label}' ({language}) is a word that stops "
                    f"texts, so a reply of it alone stops the conversation; by text it is "
                    f"answered with its number, {reply}"
                )
    return problems


def _problems(q: Questionnaire, question: Question, mode: str) -> list[str]:
    name = f"question '{question.id}'"
    options = question.choices.options if question.choices is not None else ()
    problems = []
    if question.type in _CHOICES and len(options) > MAX_OPTIONS:
        problems.append(
            f"{name} lists {len(options)} options in one text ({mode}); more than "
            f"{MAX_OPTIONS} is long to read and answer by number on a phone: shorten or split it"
        )
    if question.type == "grid":
        problems.append(
            f"{name} is a grid: by text ({mode}) it is asked item by item, {len(question.rows)} "
            "messages each listing the scale"
        )
    if question.type not in _HOW:
        return problems
    for language in q.languages:
        text = first_message(q, question, language)
        parts = sms_segments(text)
        if parts.segments > MAX_SEGMENTS:
            why = ""
            if parts.encoding == "UCS-2":
                why = f" (UCS-2, 70 a part, because of {' '.join(outside_gsm(text))})"
            problems.append(
                f"{name} in {language} is sent by text ({mode}) as {parts.segments} SMS parts"
                f"{why}; more than {MAX_SEGMENTS} is long to read: shorten its text or options"
            )
            break
    return problems


def first_message(q: Questionnaire, question: Question, language: str) -> str:
    """The question's first text as written (fills unexpanded), with every reply word announced."""
    say = sms_words(q, language)
    wording = question.text or question.read_out
    lead = [wording.source(language, q.default_language) if wording else question.label]
    if question.rows:
        lead += [say("each_row"), question.rows[0].text.source(language, q.default_language)]
    options = question.choices.options if question.choices is not None else ()
    replies = reply_numbers([o.code for o in options])
    listing = [
        f"{r} {o.label.source(language, q.default_language)}"
        for r, o in zip(replies, options, strict=True)
    ]
    how = say(_HOW[question.type], example=" ".join(replies[:3:2]))
    extras = []
    if question.allow_dk:
        extras.append(say("announce_dk", word=say("dk_word")))
    if question.allow_refused:
        extras.append(say("announce_refused", word=say("refused_word")))
    extras.append(say("announce_help", word=say("help_word")))
    return message_text([*lead, *listing, how, *extras])
