"""Read a questionnaire file into a :class:`~instrument.model.Questionnaire`.

Loading and checking are one job: every rule in ``docs/questionnaire-format.md``
is enforced here, and every problem becomes a :class:`Diagnostic` with the
file, line and column it concerns. A broken file never produces a traceback:
:func:`load_questionnaire` returns what it could build plus the diagnostics.

The work is done in two passes over the ``items`` tree. The first assigns every
variable its type, loop and page order, so that the second can type-check each
expression against exactly the variables known at that point of the route.

One builder does the reading, made of one mixin per concern, each in its module:

- :mod:`.api`: the entry points below;
- :mod:`.plugin`: the built-in plugin through which the host reads YAML files;
- :mod:`.builder`: the order in which the concerns run;
- :mod:`.state`: what they share, and the records pass 1 leaves for pass 2;
- :mod:`.vocabulary`: the keys and values the format allows;
- :mod:`.shapes`: mappings, lists, allowed keys, typed values, names;
- :mod:`.texts` and :mod:`.expressions`: texts with their fills, and expressions;
- :mod:`.meta` and :mod:`.choices`: settings, choice lists, preloads, experiments;
- :mod:`.scan` (pass 1), :mod:`.items` and :mod:`.questions` (pass 2);
- :mod:`.variables`: whole-questionnaire checks and the variable table;
- :mod:`.scenarios`: the ``tests:`` section.
"""

from __future__ import annotations

from instrument.diagnostics import Diagnostic, QuestionnaireError

from .api import (
    LoadOptions,
    LoadResult,
    load_questionnaire,
    load_questionnaire_text,
    require_questionnaire,
)

__all__ = [
    "Diagnostic",
    "LoadOptions",
    "LoadResult",
    "QuestionnaireError",
    "load_questionnaire",
    "load_questionnaire_text",
    "require_questionnaire",
]
