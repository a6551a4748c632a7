"""A simulated caller who knows their answers: hears which question is asked and keys its answer.

The call simulator (``instrument_phone.ivr.simulator``) takes a fixed script or a policy.
A fixed script cannot answer a questionnaire whose blocks, grid rows and options are
shuffled per interview, so this policy listens instead: it recognises the question
from what was said (the questionnaire's own spoken wording, read from the YAML the
researcher wrote, not from the app), finds the key of the wanted answer in what was
said ("For Agree, press 2"), and keys it. It keeps what it keyed for each variable, so
a test or the benchmark can compare the store with what the caller meant, and it can
stay silent, key a wrong key or hang up at a named question first.

Keys of don't know and refused are the keypad rule of docs/ivr.md: 8 and 9 on a
choice, ``*8#`` and ``*9#`` on a number or date. Where the line offers a choice of
language, the caller keys their own (``language``), as a person hears "Am Gymraeg,
pwyswch 2" in Welsh; the access code is keyed when the call asks for it in any language.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from instrument import catalogue
from instrument.values import DK, REFUSED
from instrument_phone.ivr.simulator import (
    HANGUP,
    Action,
    Keys,
    Prompt,
    Recording,
    language_menu,
    menu_key,
)

__all__ = ["ACCESS_CODE_WORDS", "KnowingCaller", "Question", "questions_of"]

ACCESS_CODE_WORDS = frozenset(
    catalogue.text(language, "ivr", key)
    for language in catalogue.languages()
    for key in ("enter_code", "wrong_code")
)
"""What a call says when it asks for the access code, in every language the catalogue has."""

_CHOICE_KINDS = frozenset({"single", "yesno"})
_FREE_TEXT_KINDS = frozenset({"text", "long_text"})
_NUMBER_KINDS = frozenset({"integer", "decimal"})
_SIGNATURE_CHARS = 40


@dataclass(frozen=True)
class Question:
    """What the caller needs to know of one question: how it starts and its spoken labels."""

    id: str
    kind: str
    signature: str  # the start of its spoken wording, up to the first fill
    in_loop: bool
    labels: Mapping[int, str]  # option code -> label as read out (options a call offers)
    rows: Mapping[str, str]  # grid row label as read out -> row id
    exclusive: frozenset[int] = frozenset()  # "none of these": the answer when all are no


def _words(text: Any, language: str) -> str:
    if isinstance(text, Mapping):
        text = text.get(language, "")
    return " ".join(str(text or "").split())


def _spoken(node: Mapping[str, Any], language: str) -> str:
    """What an automated call says for a node: its ``ivr`` text, else ``read_out``, else ``text``."""
    for key in ("ivr", "read_out", "text", "label"):
        words = _words(node.get(key), language)
        if words:
            return words
    return ""


def _walk(items: Sequence[Mapping[str, Any]], in_loop: bool = False) -> Iterator[tuple[dict, bool]]:
    for item in items:
        if "items" in item:
            yield from _walk(item["items"], in_loop or "loop" in item)
        elif "id" in item:
            yield dict(item), in_loop


def questions_of(path: Path, language: str) -> list[Question]:
    """Every question of a questionnaire file the caller may hear, in ``language``."""
    source = yaml.safe_load(path.read_text(encoding="utf-8"))
    lists = source.get("choices") or {}
    found = []
    for item, in_loop in _walk(source["items"]):
        if item.get("type") in (None, "info", "end", "computed"):
            continue
        options = item.get("choices")
        options = lists.get(options, []) if isinstance(options, str) else options or []
        labels = {
            int(o["code"]): _words(o.get("read_out") or o.get("label"), language)
            for o in options
            if not o.get("not_read_out")
        }
        exclusive = frozenset(int(o["code"]) for o in options if o.get("exclusive"))
        rows = {_spoken(row, language): str(row["id"]) for row in item.get("rows") or ()}
        wording = _spoken(item, language)
        signature = re.split(r"\{[{%]", wording, maxsplit=1)[0][:_SIGNATURE_CHARS]
        found.append(
            Question(str(item["id"]), item["type"], signature, in_loop, labels, rows, exclusive)
        )
    return found


def _sentences(prompt: Prompt) -> list[str]:
    return [" ".join(h.text.split()) for h in prompt.heard]


def _key_after(sentence: str, label: str) -> str | None:
    """The key that ends "For <label>, press <key>." (any language: the label, then the key)."""
    at = sentence.find(label)
    ending = re.search(r"(\d+)\.?$", sentence)
    if at < 0 or ending is None or ending.start() < at + len(label):
        return None
    return ending.group(1)


@dataclass
class KnowingCaller:
    """A policy for :meth:`CallSimulator.call` that answers each question as ``answers`` says.

    :param answers: variable -> value: a code (int), :data:`DK`, :data:`REFUSED`, a number,
        a date, a list of codes (multiple choice), a list of values (a roster loop's question,
        child 1 first) or a code per grid row id.
    :param code: the access code, keyed (with ``#``) when the call asks for it.
    :param before: variable -> actions played at its first prompt before answering
        (``SILENCE``, ``Invalid("5")``, ...).
    :param hang_up_at: hang up when this variable is first asked.
    :param record_free_text: where a study records free text, the caller agrees (1) and
        speaks for a few seconds, else declines (2); without recording it is never asked.
    :param language: the language keyed where the line offers a choice (its key as said in
        that language); no such offer: the caller hangs up.
    """

    questions: Sequence[Question]
    answers: Mapping[str, Any]
    code: str | None = None
    before: Mapping[str, Sequence[Action]] = field(default_factory=dict)
    hang_up_at: str | None = None
    record_free_text: bool = False
    language: str = "en"
    consent_asked: list[str] = field(default_factory=list)
    """The free-text questions whose recording consent was asked."""
    keyed: dict[str, Any] = field(default_factory=dict)
    """What was keyed, by the variable as stored (``child_age_2``, ``link_police``)."""
    unrecognised: list[str] = field(default_factory=list)
    _current: tuple[Question, int] | None = None
    _row: str | None = None
    _scales: dict[str, dict[str, str]] = field(default_factory=dict)
    _pending: list[Action] = field(default_factory=list)
    _interrupted: set[str] = field(default_factory=set)

    def __call__(self, prompt: Prompt) -> Action:
        sentences = _sentences(prompt)
        offers = language_menu(prompt)
        if offers:
            key = menu_key(offers, self.language)
            return Keys(key) if key is not None else HANGUP
        if self.code is not None and any(s in ACCESS_CODE_WORDS for s in sentences):
            return Keys(self.code + "#")
        self._follow(sentences)
        if self._current is None:
            self.unrecognised.append(prompt.text)
            return HANGUP  # a call this caller cannot follow: stop, the test will say why
        question, number = self._current
        variable = self._variable(question, number)
        if self.hang_up_at == question.id:
            return HANGUP
        if question.id not in self._interrupted:
            self._interrupted.add(question.id)
            self._pending = list(self.before.get(question.id, ()))
        if self._pending:
            return self._pending.pop(0)
        if question.kind in _FREE_TEXT_KINDS:
            if prompt.kind == "record":
                return Recording(seconds=4, ending="#")
            self.consent_asked.append(question.id)
            return Keys("1" if self.record_free_text else "2")
        if variable in self.keyed and question.kind in _NUMBER_KINDS | {"date"}:
            return Keys("1")  # a soft check or read-back about an answer keyed: keep it
        return self._answer(question, number, prompt, sentences)

    # which question is asked

    def _follow(self, sentences: Sequence[str]) -> None:
        for sentence in sentences:
            for question in self.questions:
                if question.signature and sentence.startswith(question.signature):
                    number = 0
                    if question.in_loop:
                        rest = sentence[len(question.signature) :]
                        found = re.search(r"\d+", rest)
                        number = int(found.group(0)) if found else 1
                    if self._current != (question, number):
                        self._current, self._row = (question, number), None
            if self._current is not None:
                question = self._current[0]
                if sentence in question.rows:
                    self._row = question.rows[sentence]
                elif question.kind == "multi":
                    codes = [c for c, label in question.labels.items() if label == sentence]
                    if codes:
                        self._row = str(codes[0])

    def _variable(self, question: Question, number: int) -> str:
        if question.kind == "grid" and self._row is not None:
            return self._row
        return f"{question.id}_{number}" if question.in_loop else question.id

    def _wanted(self, question: Question, number: int) -> Any:
        if question.kind == "grid":
            if self._row is None:
                raise KeyError(f"no row of {question.id} recognised")
            return self.answers[self._row]
        value = self.answers[question.id]
        return value[number - 1] if question.in_loop else value

    # the keys of the answer

    def _answer(
        self, question: Question, number: int, prompt: Prompt, sentences: Sequence[str]
    ) -> Action:
        wanted = self._wanted(question, number)
        variable = self._variable(question, number)
        if question.kind == "multi":
            code = int(self._row) if self._row is not None else None
            self.keyed[question.id] = tuple(sorted(wanted))  # all "no" is "none of these"
            return Keys("1" if code in wanted else "2")
        keys = self._keys(question, prompt, sentences, wanted)
        self.keyed[variable] = wanted
        return Keys(keys)

    def _keys(
        self, question: Question, prompt: Prompt, sentences: Sequence[str], wanted: Any
    ) -> str:
        choice = question.kind in _CHOICE_KINDS or question.kind == "grid"
        scale = self._scale(question, sentences) if choice else {}  # a grid says it once
        if wanted is DK:
            return "8" if choice else "*8#"
        if wanted is REFUSED:
            return "9" if choice else "*9#"
        if question.kind in _NUMBER_KINDS:
            return str(wanted).replace(".", "*") + "#"
        if question.kind == "date":
            assert isinstance(wanted, dt.date)
            return wanted.strftime("%d%m%Y") + "#"
        if question.kind == "yesno":
            return str(wanted)  # 1 yes, 2 no: the codes are the keys
        label = question.labels[int(wanted)]
        if label not in scale:
            raise KeyError(f"{question.id}: {label!r} not offered in {scale}")
        key = scale[label]
        return key if prompt.num_digits == 1 else key + "#"

    def _scale(self, question: Question, sentences: Sequence[str]) -> dict[str, str]:
        """Label -> key, from this prompt's "For X, press K" (a grid says them with its first row)."""
        offered: dict[str, str] = {}
        for sentence in sentences:
            matches = [label for label in question.labels.values() if label in sentence]
            if matches:
                label = max(matches, key=len)
                key = _key_after(sentence, label)
                if key is not None:
                    offered[label] = key
        if offered:
            self._scales[question.id] = offered
        return self._scales.get(question.id, {})
