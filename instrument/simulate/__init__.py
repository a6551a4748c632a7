"""Random respondents: send thousands of made-up interviews down every route.

A researcher wants to know, before fieldwork, which questions nobody can
reach, which checks fire and how often, and whether the engine copes with
people who skip, say "don't know", type nonsense, go back and give up. This
module plays such respondents against the real :class:`~instrument.engine.Engine`.

Each respondent answers *only from the step* the engine hands it, as a mode
would render it: the option codes shown, the bounds, the maximum length, the
exclusive and other-specify flags, whether don't know is offered. It never
looks at the questionnaire's routing, so a question it never sees is a
question no real respondent could see either (within the sample drawn).

Some inputs are deliberately invalid (codes not offered, numbers out of
range, malformed numbers and dates, texts too long, an exclusive option with
others, don't know where it is not allowed). The engine must reject each one;
if it accepts one, that is reported as an engine error, exactly like an
unexpected exception, with the respondent's seed so it can be replayed with
:func:`simulate_respondent`.

Everything random comes from the simulation seed: respondent ``i`` of seed
``s`` gets :func:`respondent_seed` ``(s, i)`` for its own choices and as the
interview's engine seed, so a report is reproducible given ``now``.

No web, telephony, database or file-format code is imported here; the
``instrument simulate`` command adds storage on top via ``on_interview``.

The package holds one idea per module: :mod:`.respondent` (what a simulated
person answers), :mod:`.invalid` (inputs the engine must refuse),
:mod:`.run` (the loop through the engine) and :mod:`.report` (what the run
found).
"""

from __future__ import annotations

from .report import CheckStat, QuestionStat, SimulationFailure, SimulationReport
from .respondent import NO_BREAKOFF, VALID_ONLY, Behaviour, random_answers
from .run import (
    DEFAULT_NOW,
    MAX_PAGES,
    CaseSource,
    SimulatedInterview,
    respondent_seed,
    simulate,
    simulate_respondent,
)

__all__ = [
    "DEFAULT_NOW",
    "MAX_PAGES",
    "NO_BREAKOFF",
    "VALID_ONLY",
    "Behaviour",
    "CaseSource",
    "CheckStat",
    "QuestionStat",
    "SimulatedInterview",
    "SimulationFailure",
    "SimulationReport",
    "random_answers",
    "respondent_seed",
    "simulate",
    "simulate_respondent",
]
