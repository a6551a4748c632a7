"""Fieldwork rules: call outcomes, calling hours, scheduling and response rates.

Everything here is pure: plain data in, plain data out, the time passed in as an
aware UTC datetime. The store keeps cases, attempts and appointments; the
telephone mode and the panel runner ask these functions what follows from them
(when a case may be called next, which number to dial, what its disposition is,
what the AAPOR rates are). Keeping the rules apart from the database and from
Twilio lets them be tested on a frozen clock, across clock changes, without
either.
"""

from __future__ import annotations

from .calling import DEFAULT_HOURS, DEFAULT_PARTS, CallingRules, PartOfDay
from .dispositions import (
    DEFAULT_DISPOSITIONS,
    Disposition,
    DispositionTable,
    RateClass,
    suggested_outcome,
)
from .rates import DispositionCounts, counts_of, estimate_e, rates
from .schedule import (
    AppointmentFact,
    AttemptFact,
    CaseFacts,
    Window,
    case_disposition,
    next_number,
    next_window,
    queue_key,
)

__all__ = [
    "DEFAULT_DISPOSITIONS",
    "DEFAULT_HOURS",
    "DEFAULT_PARTS",
    "AppointmentFact",
    "AttemptFact",
    "CallingRules",
    "CaseFacts",
    "Disposition",
    "DispositionCounts",
    "DispositionTable",
    "PartOfDay",
    "RateClass",
    "Window",
    "case_disposition",
    "counts_of",
    "estimate_e",
    "next_number",
    "next_window",
    "queue_key",
    "rates",
    "suggested_outcome",
]
