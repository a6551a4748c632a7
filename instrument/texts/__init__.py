"""Text fills: Jinja templates in a bounded sandbox, compiled once per questionnaire.

Texts are the one place where questionnaire authors write templates, so they run
in Jinja's immutable sandbox (no attribute tricks, no mutation) with only the
helpers we register, and within bounds on what a fill may make (:mod:`.limits`).

- :mod:`.values`: what a fill sees (answers as fill values, ``label()``, ``plural()``);
- :mod:`.template`: :class:`TextTemplate`, checked at load and rendered per page;
- :mod:`.sandbox`: the two environments (HTML and plain) and their hooks;
- :mod:`.limits`: the bounds and the checks against them.
"""

from __future__ import annotations

from .limits import FillTooCostly
from .sandbox import make_environments
from .template import TemplateProblem, TemplateSyntax, TextTemplate
from .values import (
    FILL_GLOBALS,
    MISSING,
    NOT_VARIABLES,
    ChoiceValue,
    ChoiceValues,
    MissingFill,
    fill_value,
    label_of,
)

__all__ = [
    "FILL_GLOBALS",
    "MISSING",
    "NOT_VARIABLES",
    "ChoiceValue",
    "ChoiceValues",
    "FillTooCostly",
    "MissingFill",
    "TemplateProblem",
    "TemplateSyntax",
    "TextTemplate",
    "fill_value",
    "label_of",
    "make_environments",
]
