"""The interview engine: one routing, validation and fill logic for every mode."""

from instrument.engine.engine import Engine
from instrument.engine.errors import EngineError, StaleSubmission
from instrument.engine.state import STATE_VERSION, State
from instrument.engine.steps import (
    Event,
    OptionView,
    Problem,
    QuestionView,
    RowView,
    Step,
    SubmitResult,
)

__all__ = [
    "Engine",
    "EngineError",
    "StaleSubmission",
    "STATE_VERSION",
    "State",
    "Event",
    "OptionView",
    "Problem",
    "QuestionView",
    "RowView",
    "Step",
    "SubmitResult",
]
