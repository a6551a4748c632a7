"""Identifying answers taken out of what is saved as the interview, and put back when read.

The engine keeps every answer in its state, because fills need them (a
roster's first names shown in the questions about each person). But a
question marked ``identifying`` asks for personal data, and the store keeps
those apart (:mod:`instrument.store.personal`), out of ``interviews.state``
and the event log that exports, export rows and paradata read. So the
interview service splits them off each state it saves, blanks their values in
the events it stores, and merges them back into each state it reads; the
simulator's stored test interviews (``instrument simulate --database``) go
through the same :meth:`PersonalKeys.for_store`. It lives with the dataset
because both of those may import it (the layers in pyproject.toml), and the
dataset plan leaves the same variables out.

Values derived from them are another matter: a computed age from an
identifying date of birth, an adult count over those ages, ``answered(email)``.
They are the interview's data and are exported as the engine gave them during
the interview. So an export row is coded from the full state (the plan has no
column for the identifying answers themselves), and a build that codes a stored
state instead first merges its personal answers back in memory
(:func:`merge`, ``build_dataset(personal=...)``): both give the same row.
"""

from __future__ import annotations

import dataclasses
import re
import weakref
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from instrument.engine import State
from instrument.model import Questionnaire
from instrument.store import NewEvent

__all__ = ["ForStore", "PersonalKeys", "merge", "personal_keys"]

_SUFFIX = re.compile(r"(?:_-?\d+)+\Z")
"""A loop iteration's suffix after a variable's name: ``_1``, ``_96``, ``_2_1``..."""


class ForStore(NamedTuple):
    """An interview as the store keeps it (see :meth:`PersonalKeys.for_store`)."""

    state: dict[str, Any]
    """The state JSON to save: without the identifying answers."""
    personal: dict[str, Any]
    """The identifying answers, for ``personal_answers``."""
    events: list[NewEvent]
    """The events to store, without an identifying answer's value."""


class PersonalKeys:
    """Which answer keys of one questionnaire hold identifying answers."""

    __slots__ = ("names", "looped")

    def __init__(self, names: Iterable[str], looped: Iterable[str]) -> None:
        self.names = frozenset(names)
        self.looped = frozenset(looped)

    def __bool__(self) -> bool:
        # a roster's names are often its only identifying questions, all inside a loop
        return bool(self.names or self.looped)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        if key in self.names:
            return True
        if self.looped:
            found = _SUFFIX.search(key)
            return found is not None and key[: found.start()] in self.looped
        return False

    def split(self, state_json: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(state to save without them, the identifying answers)``."""
        if not self:  # most questionnaires: nothing to do on the page turn
            return state_json, {}
        answers = state_json.get("answers") or {}
        personal = {k: v for k, v in answers.items() if k in self}
        if not personal:
            return state_json, {}
        kept = {k: v for k, v in answers.items() if k not in personal}
        return {**state_json, "answers": kept}, personal

    def for_store(self, state: State, events: list[NewEvent]) -> ForStore:
        """What to store for ``state`` and its ``events``: the one place that splits them.

        The export row is coded from ``state`` itself, not from what is stored:
        values derived from an identifying answer must be exported as they were."""
        stored, personal = self.split(state.to_json())
        return ForStore(stored, personal, self.events(events))

    def events(self, events: list[NewEvent]) -> list[NewEvent]:
        """The events to store: an identifying answer's value is left out (its variable stays),
        and so is a confirmed soft check's message, whose fills may show one."""
        if not self or not any(map(self._holds_personal, events)):
            return events
        return [self._without_personal(e) if self._holds_personal(e) else e for e in events]

    def _holds_personal(self, event: NewEvent) -> bool:
        if event.kind == "answer":
            return event.variable in self
        return event.kind == "warning_confirmed" and isinstance(event.value, dict)

    @staticmethod
    def _without_personal(event: NewEvent) -> NewEvent:
        if event.kind == "answer":
            return dataclasses.replace(event, value=None)
        kept = {k: v for k, v in event.value.items() if k != "message"}
        return dataclasses.replace(event, value=kept)


def merge(state_json: Mapping[str, Any], personal: Mapping[str, Any]) -> dict[str, Any]:
    """The state as the engine saw it: the stored state with its identifying answers put back."""
    if not personal:
        return dict(state_json)
    return {**state_json, "answers": {**(state_json.get("answers") or {}), **personal}}


_KNOWN: weakref.WeakKeyDictionary[Questionnaire, PersonalKeys] = weakref.WeakKeyDictionary()


def personal_keys(questionnaire: Questionnaire) -> PersonalKeys:
    """The identifying variables of a questionnaire (their other-specify text too), once per version."""
    known = _KNOWN.get(questionnaire)
    if known is None:
        known = _KNOWN[questionnaire] = _find(questionnaire)
    return known


def _find(questionnaire: Questionnaire) -> PersonalKeys:
    names: set[str] = set()
    looped: set[str] = set()
    for name, variable in questionnaire.variables.items():
        question = variable.question
        if question is not None and question.identifying:
            (looped if variable.loop is not None else names).add(name)
    return PersonalKeys(names, looped)
