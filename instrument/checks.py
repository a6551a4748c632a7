"""What the host checks of every questionnaire, whichever plugin read it.

The YAML reader enforces every rule of the format as it reads, with the line
of each problem. An importer (XLSForm, DDI, a team's spreadsheet) builds the
model its own way, and the engine, the modes and the exports rely on the same
invariants whatever built it: known modes with the host's policies, variable
names every statistics package accepts, option codes that are unique and are
not missing-value codes, known question types. These are checked here, after
any plugin's ``load_questionnaire``, and reported like the reader's problems
(the model keeps the position of each part, so the report points into the
imported file where the importer recorded one).

A questionnaire the YAML reader accepted passes all of these (they are what it
guarantees), so for YAML files this adds no diagnostic.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from instrument.diagnostics import Diagnostic, Position
from instrument.model import QUESTION_TYPES, Questionnaire
from instrument.modes import ModePolicy
from instrument.names import name_problem

__all__ = ["check_questionnaire"]

_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def check_questionnaire(
    questionnaire: Any,
    source: str,
    *,
    modes: Mapping[str, ModePolicy],
    question_types: Collection[str] = (),
) -> list[Diagnostic]:
    """The errors in a questionnaire some plugin returned for the file ``source``."""
    where = Position(source, 1, 1)
    if not isinstance(questionnaire, Questionnaire):
        return [
            Diagnostic(
                where,
                "error",
                f"the plugin that read it returned {type(questionnaire).__name__}, "
                "not an instrument.model.Questionnaire",
            )
        ]
    q = questionnaire
    problems: list[Diagnostic] = []

    def error(pos: Position | None, message: str) -> None:
        problems.append(Diagnostic(pos or where, "error", message))

    if not isinstance(q.id, str) or not _ID.match(q.id):
        error(
            None,
            f"the questionnaire id {q.id!r} must start with a letter and use letters, digits, _",
        )
    if not q.version:
        error(None, "the questionnaire has no version")
    if not q.languages or q.default_language not in q.languages:
        error(None, f"the default language {q.default_language!r} is not among {list(q.languages)}")
    _check_modes(q, modes, error)
    codes = q.missing.codes()
    if len(set(codes.values())) != len(codes):
        error(None, f"two missing-value codes are the same: {codes}")
    for name, variable in q.variables.items():
        why = name_problem(name)
        if why is not None:
            pos = variable.question.pos if variable.question is not None else None
            error(pos, f"variable {why}")
    lowered: dict[str, str] = {}
    for name in q.variables:
        other = lowered.setdefault(name.lower(), name)
        if other != name:
            error(None, f"variables '{other}' and '{name}' differ only in case")
    known_types = set(QUESTION_TYPES) | set(question_types)
    for question in q.questions.values():
        if question.type not in known_types:
            error(question.pos, f"question '{question.id}' has unknown type '{question.type}'")
    for choices in q.choices.values():
        seen: set[int] = set()
        for option in choices.options:
            if isinstance(option.code, bool) or not isinstance(option.code, int):
                error(
                    choices.pos,
                    f"choice list '{choices.name}': code {option.code!r} is not a whole number",
                )
            elif option.code in seen:
                error(choices.pos, f"choice list '{choices.name}' has code {option.code} twice")
            elif option.code in codes.values():
                error(
                    choices.pos,
                    f"choice list '{choices.name}' uses missing-value code {option.code}",
                )
            seen.add(option.code)
    for page in q.pages.values():
        if not page.questions:
            error(None, f"page '{page.id}' has no questions")
    return problems


def _check_modes(q: Questionnaire, modes: Mapping[str, ModePolicy], error: Any) -> None:
    if not q.modes:
        error(None, "the questionnaire runs in no mode")
    if set(q.mode_policies) != set(q.modes):
        error(
            None,
            f"the policies given ({sorted(q.mode_policies)}) are not those of its modes {list(q.modes)}",
        )
    for mode in q.modes:
        known = modes.get(mode)
        if known is None:
            error(None, f"unknown mode '{mode}'; modes are {', '.join(modes)}")
        elif q.mode_policies.get(mode) != known:
            error(None, f"mode '{mode}' does not have the policy this installation gives it")
