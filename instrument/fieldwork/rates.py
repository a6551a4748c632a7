"""AAPOR outcome rates: response, cooperation, refusal and contact rates.

The formulas are those of AAPOR's *Standard Definitions* (RR1-RR6, COOP1-COOP4,
REF1-REF3, CON1-CON3), written out one per line so they can be read against
the book. ``e`` is the estimated proportion of cases of unknown eligibility
that are eligible; AAPOR leaves its estimate to the researcher, who must report
how it was made. :func:`estimate_e` gives the usual one, the proportion
eligible among the cases whose eligibility is known. A rate whose denominator
is zero (no cases yet) is None, never a division error or a made-up 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields

from .dispositions import Disposition, RateClass

RATE_NAMES = (
    "RR1", "RR2", "RR3", "RR4", "RR5", "RR6",
    "COOP1", "COOP2", "COOP3", "COOP4",
    "REF1", "REF2", "REF3",
    "CON1", "CON2", "CON3",
)  # fmt: skip


@dataclass(frozen=True)
class DispositionCounts:
    """Cases by rate class: the letters of AAPOR's formulas."""

    I: int = 0  # noqa: E741 - AAPOR's own letter
    P: int = 0
    R: int = 0
    NC: int = 0
    O: int = 0  # noqa: E741 - AAPOR's own letter
    UH: int = 0
    UO: int = 0
    NE: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{f.name} must be a count (a whole number, 0 or more)")

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))


def counts_of(codes: Iterable[str], table: Mapping[str, Disposition]) -> DispositionCounts:
    """Count each case's disposition code (one code a case) in its rate class.

    An unknown code raises KeyError: a rate that silently dropped cases would
    look better than it is.
    """
    by_class: Counter[RateClass] = Counter(table[code].rate_class for code in codes)
    return DispositionCounts(**{cls.value: by_class[cls] for cls in RateClass})


def estimate_e(counts: DispositionCounts) -> float | None:
    """The usual estimate of e: eligible cases among those whose eligibility is known.

    e = (I+P+R+NC+O) / (I+P+R+NC+O+NE); None when no case's eligibility is known.
    """
    eligible = counts.I + counts.P + counts.R + counts.NC + counts.O
    return _ratio(eligible, eligible + counts.NE)


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else numerator / denominator


def rates(counts: DispositionCounts, e: float | None = None) -> dict[str, float | None]:
    """Every AAPOR rate, by name (see :data:`RATE_NAMES`), each a proportion in [0, 1].

    ``e`` defaults to :func:`estimate_e` of the same counts; with no estimate
    (no case of known eligibility) the rates that need e are None.
    """
    if e is None:
        e = estimate_e(counts)
    if e is not None and not 0 <= e <= 1:
        raise ValueError(f"e is a proportion between 0 and 1, not {e}")
    c = counts
    interviews = c.I + c.P
    eligible_known = interviews + c.R + c.NC + c.O
    unknown = c.UH + c.UO
    contacted = interviews + c.R + c.O
    all_cases = eligible_known + unknown

    def with_e(numerator: float, known: float) -> float | None:
        return None if e is None else _ratio(numerator, known + e * unknown)

    return {
        "RR1": _ratio(c.I, all_cases),
        "RR2": _ratio(interviews, all_cases),
        "RR3": with_e(c.I, eligible_known),
        "RR4": with_e(interviews, eligible_known),
        "RR5": _ratio(c.I, eligible_known),
        "RR6": _ratio(interviews, eligible_known),
        "COOP1": _ratio(c.I, contacted),
        "COOP2": _ratio(interviews, contacted),
        "COOP3": _ratio(c.I, interviews + c.R),
        "COOP4": _ratio(interviews, interviews + c.R),
        "REF1": _ratio(c.R, all_cases),
        "REF2": with_e(c.R, eligible_known),
        "REF3": _ratio(c.R, eligible_known),
        "CON1": _ratio(contacted, contacted + c.NC + unknown),
        "CON2": with_e(contacted, contacted + c.NC),
        "CON3": _ratio(contacted, contacted + c.NC),
    }
