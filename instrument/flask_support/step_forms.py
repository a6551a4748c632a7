"""WTForms forms built at run time from the engine's step, for every mode that draws HTML forms.

It lives below the modes (moved from the web mode) because the web's pages and
the telephone interviewer's script screens read the same answers from the same
field names: one reader, so DK, refused, dates, grids and "other" texts reach
the engine the same way from both.

A step can hold any questions, so there is no form class per question: each
request builds one from the step's :class:`~instrument.engine.QuestionView`
objects. The form only reads what the browser sent and turns it into the
answers the engine expects; every rule (ranges, required, exclusive options,
checks) is the engine's. The form adds just one check of its own: an answer
*and* "don't know" ticked together cannot both be meant.

HTML names are the variable keys (``n_kids``, ``kid_age_2``), date parts are
``<key>-day`` / ``-month`` / ``-year`` and the don't-know boxes of a typed
answer are ``<key>-missing``; Python attribute names are generated (``f0``,
``f1``...) so a question called ``data`` or ``errors`` cannot collide with
the form's own attributes. CSRF is checked app-wide by Flask-WTF.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from wtforms import Form, RadioField, SelectMultipleField, StringField, TextAreaField

try:  # WTForms 3.3 prefers choice objects to (value, label) tuples
    from wtforms.fields.choices import SelectChoice as _Choice
except ImportError:  # pragma: no cover - WTForms < 3.3
    _Choice = None

from instrument.engine import Problem, QuestionView, Step
from instrument.flask_support import search
from instrument.values import DK, REFUSED

__all__ = ["CHOICE_TYPES", "TYPED_TYPES", "PageForm"]

CHOICE_TYPES = frozenset({"single", "yesno", "multi"})
TYPED_TYPES = frozenset({"integer", "decimal", "text", "long_text", "date"})
_SPECIAL = {"dk": DK, "refused": REFUSED}
_SPECIAL_NAME = {DK: "dk", REFUSED: "refused"}


def missing_options(question: QuestionView) -> list[tuple[str, str]]:
    """The don't know / prefer not to say choices to show now (may be none)."""
    if not question.offer_missing:
        return []
    options = []
    if question.allow_dk:
        options.append(("dk", question.dk_label))
    if question.allow_refused:
        options.append(("refused", question.refused_label))
    return options


def _choices(pairs: list[tuple[str, str]]) -> list[Any]:
    if _Choice is None:
        return pairs
    return [_Choice(value, label) for value, label in pairs]


class PageForm:
    """The WTForms form of one step, with the raw values to show and the answers to submit."""

    def __init__(self, step: Step, formdata: Any = None) -> None:
        self.step = step
        self._fields, form_class = _form_class(_shape(step))
        self.submitted = formdata is not None
        if formdata is None:
            self.form = form_class(data=self._prefill())
        else:
            self.form = form_class(formdata=formdata)

    # -- values shown in the page ---------------------------------------------

    def value(self, name: str) -> str:
        """The raw text of a one-value field ("" if none)."""
        attribute = self._fields.get(name)
        data = getattr(self.form, attribute).data if attribute else None
        if isinstance(data, list):
            return data[0] if data else ""
        return "" if data is None else str(data)

    def values(self, name: str) -> list[str]:
        """The raw values of a many-value field (checkboxes)."""
        attribute = self._fields.get(name)
        data = getattr(self.form, attribute).data if attribute else None
        if data is None:
            return []
        return [str(d) for d in data] if isinstance(data, list) else [str(data)]

    def checked(self, name: str, value: Any) -> bool:
        return str(value) in self.values(name)

    def matches(self, question: QuestionView) -> list[Any]:
        """A search question's options matching what was typed, once a submit found no answer."""
        if not self.submitted or self.value(f"{question.key}-pick"):
            return []
        return search.matches(question, self.value(question.key))

    def searched(self, question: QuestionView) -> str:
        """What was typed into a search question's field as a search ("" when nothing was)."""
        if not self.submitted or self.value(f"{question.key}-pick"):
            return ""
        return search.searched(question, self.value(question.key))

    def _prefill(self) -> dict[str, Any]:
        """The form data that shows the step's previous answers."""
        data: dict[str, Any] = {}

        def put(name: str, value: Any) -> None:
            data[self._fields[name]] = value

        for question in self.step.questions:
            if question.type == "grid":
                for row in question.rows:
                    put(row.key, _raw(row.value))
                continue
            if not question.key:
                continue
            value = question.value
            if question.type == "multi":
                if _is_special(value):
                    put(question.key, [_SPECIAL_NAME[value]])
                elif isinstance(value, (list, tuple)):
                    put(question.key, [str(v) for v in value])
            elif search.is_search(question) and not _is_special(value):
                put(question.key, search.label_of(question, value) or _raw(value))
            elif question.type in ("single", "yesno") and not search.is_search(question):
                put(question.key, _raw(value))
            else:
                if _is_special(value):
                    if f"{question.key}-missing" in self._fields:
                        put(f"{question.key}-missing", [_SPECIAL_NAME[value]])
                elif question.type == "date" and isinstance(value, dt.date):
                    put(f"{question.key}-day", str(value.day))
                    put(f"{question.key}-month", str(value.month))
                    put(f"{question.key}-year", str(value.year))
                elif value is not None:
                    put(question.key, _number_text(value))
            if question.other_key and question.other_value:
                put(question.other_key, question.other_value)
        return data

    # -- answers for the engine -------------------------------------------------

    def answers(self, ui: Callable[..., str]) -> tuple[dict[str, Any], list[Problem]]:
        """What to hand to ``engine.submit``, and the form's own problems (if any).

        ``ui(language, key, **values)`` words those problems: the mode's catalogue domain (with
        the questionnaire's own texts over it), which must have ``not_both`` and ``one_missing``.
        """
        answers: dict[str, Any] = {}
        problems: list[Problem] = []
        language = self.step.language
        for question in self.step.questions:
            if question.type in ("single", "yesno") and not search.is_search(question):
                answers[question.key] = _special_or(self.value(question.key))
            elif question.type == "grid":
                for row in question.rows:
                    answers[row.key] = _special_or(self.value(row.key))
            elif question.type == "multi":
                chosen = self.values(question.key)
                special = [c for c in chosen if c in _SPECIAL]
                if special and len(chosen) > 1:
                    label = dict(missing_options(question)).get(special[0], special[0])
                    problems.append(Problem(question.key, ui(language, "not_both", label=label)))
                    continue
                answers[question.key] = _SPECIAL[special[0]] if special else chosen
            elif question.type in TYPED_TYPES or search.is_search(question):
                if question.type == "date":
                    raw: Any = {
                        part: self.value(f"{question.key}-{part}")
                        for part in ("day", "month", "year")
                    }
                    entered = any(v.strip() for v in raw.values())
                else:
                    raw = self.value(question.key)
                    entered = bool(raw.strip())
                    if search.is_search(question):
                        raw = search.answer(question, raw, self.value(f"{question.key}-pick"))
                        entered = bool(raw)
                special = [c for c in self.values(f"{question.key}-missing") if c in _SPECIAL]
                labels = dict(missing_options(question))
                if len(special) > 1:
                    problems.append(
                        Problem(
                            question.key,
                            ui(
                                language,
                                "one_missing",
                                dk=labels.get("dk", ""),
                                refused=labels.get("refused", ""),
                            ),
                        )
                    )
                    continue
                if special and entered:
                    problems.append(
                        Problem(
                            question.key,
                            ui(language, "not_both", label=labels.get(special[0], special[0])),
                        )
                    )
                    continue
                answers[question.key] = _SPECIAL[special[0]] if special else raw
            if question.other_key:
                answers[question.other_key] = self.value(question.other_key)
        return answers, problems

    def raw_signature(self) -> list[tuple[str, list[str]]]:
        """Everything entered, as plain data (to tell whether a warned answer changed)."""
        return sorted((name, self.values(name)) for name in self._fields)


_Shape = tuple[tuple[Any, ...], ...]


def _shape(step: Step) -> _Shape:
    """What the form of a step is built from: per question its type, names and choices."""
    return tuple(
        (
            "search" if search.is_search(question) else question.type,
            question.key,
            ()
            if search.is_search(question)
            else tuple((str(o.code), o.label) for o in question.options),
            tuple(missing_options(question)),
            tuple(row.key for row in question.rows),
            question.other_key,
        )
        for question in step.questions
    )


@functools.lru_cache(maxsize=1024)
def _form_class(shape: _Shape) -> tuple[dict[str, str], type[Form]]:
    """The WTForms form class of a step's shape, and its html name -> attribute name map.

    Built once per shape: making a class (and WTForms sorting its fields on
    the first instance) costs more than filling one in, and a questionnaire
    has few shapes, repeated for every respondent and page turn. A class is
    only read after it is built, so threads can share it.
    """
    fields: dict[str, str] = {}  # html name -> attribute name
    attributes: dict[str, Any] = {}

    def add(name: str, field: Any) -> None:
        attribute = f"f{len(attributes)}"
        attributes[attribute] = field
        fields[name] = attribute

    for qtype, key, codes, missing, rows, other_key in shape:
        pairs = [*codes, *missing]
        if qtype in ("single", "yesno"):
            add(key, RadioField(name=key, choices=_choices(pairs), validate_choice=False))
        elif qtype == "multi":
            add(key, SelectMultipleField(name=key, choices=_choices(pairs), validate_choice=False))
        elif qtype == "grid":
            for row_key in rows:
                add(
                    row_key,
                    RadioField(name=row_key, choices=_choices(pairs), validate_choice=False),
                )
        elif qtype == "date":
            for part in ("day", "month", "year"):
                add(f"{key}-{part}", StringField(name=f"{key}-{part}"))
        elif qtype == "search":  # a long list: typed, picked from matches (see search.py)
            add(key, StringField(name=key))
            add(f"{key}-pick", RadioField(name=f"{key}-pick", choices=[], validate_choice=False))
        elif qtype == "long_text":
            add(key, TextAreaField(name=key))
        elif qtype in TYPED_TYPES:
            add(key, StringField(name=key))
        if (qtype in TYPED_TYPES or qtype == "search") and missing:
            add(
                f"{key}-missing",
                SelectMultipleField(
                    name=f"{key}-missing", choices=_choices(list(missing)), validate_choice=False
                ),
            )
        if other_key:
            add(other_key, StringField(name=other_key))
    return fields, type("StepForm", (Form,), attributes)


def _special_or(raw: str) -> Any:
    return _SPECIAL.get(raw, raw)


def _raw(value: Any) -> str | None:
    if value is None:
        return None
    if _is_special(value):
        return _SPECIAL_NAME[value]
    return str(value)


def _is_special(value: Any) -> bool:
    return value is DK or value is REFUSED


def _number_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else str(value)
    return str(value)


def problem_targets(step: Step) -> Mapping[str, str]:
    """Variable key -> the id of the input an error summary link should focus."""
    targets: dict[str, str] = {}
    for question in step.questions:
        if question.type == "grid":
            for row in question.rows:
                targets[row.key] = f"f-{row.key}"
        elif question.key:
            suffix = "-day" if question.type == "date" else ""
            targets[question.key] = f"f-{question.key}{suffix}"
        if question.other_key:
            targets[question.other_key] = f"f-{question.other_key}"
    return targets


def first_key(questions: Iterable[QuestionView]) -> str:
    for question in questions:
        if question.rows:
            return question.rows[0].key
        if question.key:
            return question.key
    return ""
