"""AAPOR rates against tables worked out by hand here, arithmetic written out.

Formulas (AAPOR Standard Definitions):
  RR1 = I / ((I+P) + (R+NC+O) + (UH+UO))       RR2 = (I+P) / (same)
  RR3 = I / ((I+P) + (R+NC+O) + e(UH+UO))      RR4 = (I+P) / (same)
  RR5 = I / ((I+P) + (R+NC+O))                 RR6 = (I+P) / (same)
  COOP1 = I / ((I+P) + R + O)   COOP2 = (I+P) / ((I+P) + R + O)
  COOP3 = I / ((I+P) + R)       COOP4 = (I+P) / ((I+P) + R)
  REF1 = R / ((I+P) + (R+NC+O) + (UH+UO))  REF2 = R / (... + e(UH+UO))  REF3 = R / ((I+P)+(R+NC+O))
  CON1 = ((I+P)+R+O) / ((I+P)+R+O+NC+(UH+UO))  CON2 = ... + e(UH+UO)  CON3 = ... / ((I+P)+R+O+NC)
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from instrument.fieldwork.dispositions import DEFAULT_DISPOSITIONS
from instrument.fieldwork.rates import RATE_NAMES, DispositionCounts, counts_of, estimate_e, rates

# Table A: 1,300 cases.
TABLE_A = DispositionCounts(I=400, P=50, R=150, NC=100, O=50, UH=200, UO=50, NE=300)
# I+P = 450; I+P+R+NC+O = 750 (eligible, known); UH+UO = 250; all but NE = 1000
# contacted (I+P)+R+O = 650
# e = 750 / (750 + 300) = 5/7
# eligible + e*unknown = 750 + (5/7)*250 = 750 + 1250/7 = 6500/7
E_A = Fraction(5, 7)
EXPECTED_A = {
    "RR1": Fraction(400, 1000),
    "RR2": Fraction(450, 1000),
    "RR3": Fraction(400) / Fraction(6500, 7),  # = 2800/6500 = 28/65
    "RR4": Fraction(450) / Fraction(6500, 7),  # = 3150/6500 = 63/130
    "RR5": Fraction(400, 750),
    "RR6": Fraction(450, 750),
    "COOP1": Fraction(400, 650),
    "COOP2": Fraction(450, 650),
    "COOP3": Fraction(400, 450 + 150),
    "COOP4": Fraction(450, 450 + 150),
    "REF1": Fraction(150, 1000),
    "REF2": Fraction(150) / Fraction(6500, 7),  # = 1050/6500 = 21/130
    "REF3": Fraction(150, 750),
    "CON1": Fraction(650, 650 + 100 + 250),  # = 0.65
    "CON2": Fraction(650) / (650 + 100 + E_A * 250),  # = 650 / (6500/7) = 0.7
    "CON3": Fraction(650, 650 + 100),
}


def test_estimate_of_e() -> None:
    assert estimate_e(TABLE_A) == pytest.approx(float(E_A))
    assert float(E_A) == pytest.approx(0.714285714)


def test_table_a_every_rate() -> None:
    got = rates(TABLE_A)
    assert set(got) == set(RATE_NAMES) and len(RATE_NAMES) == 16
    for name, value in EXPECTED_A.items():
        assert got[name] == pytest.approx(float(value)), name
    # the round ones, as a reader would check them
    assert got["RR1"] == pytest.approx(0.40)
    assert got["RR3"] == pytest.approx(28 / 65)
    assert got["CON1"] == pytest.approx(0.65)
    assert got["CON2"] == pytest.approx(0.70)


def test_table_a_with_e_given() -> None:
    # e = 0.5: eligible + e*unknown = 750 + 125 = 875
    got = rates(TABLE_A, e=0.5)
    assert got["RR3"] == pytest.approx(400 / 875)
    assert got["RR4"] == pytest.approx(450 / 875)
    assert got["REF2"] == pytest.approx(150 / 875)
    assert got["CON2"] == pytest.approx(650 / (650 + 100 + 125))
    # e = 1 makes RR3 equal RR1, e = 0 makes it equal RR5
    one, zero = rates(TABLE_A, e=1.0), rates(TABLE_A, e=0.0)
    assert one["RR3"] == pytest.approx(one["RR1"]) and zero["RR3"] == pytest.approx(zero["RR5"])
    assert one["CON2"] == pytest.approx(one["CON1"]) and zero["CON2"] == pytest.approx(zero["CON3"])


def test_table_b_small_and_uneven() -> None:
    # I=3, P=0, R=1, NC=2, O=0, UH=4, UO=0, NE=0: e = 6/6 = 1
    b = DispositionCounts(I=3, R=1, NC=2, UH=4)
    got = rates(b)
    assert estimate_e(b) == 1.0
    assert got["RR1"] == pytest.approx(3 / 10)  # 3 / (3 + 3 + 4)
    assert got["RR3"] == pytest.approx(3 / 10)  # e = 1
    assert got["RR5"] == pytest.approx(3 / 6)
    assert got["COOP1"] == pytest.approx(3 / 4)  # 3 / (3 + 1 + 0)
    assert got["REF3"] == pytest.approx(1 / 6)
    assert got["CON1"] == pytest.approx(4 / 10)  # (3+1) / (4 + 2 + 4)
    assert got["CON3"] == pytest.approx(4 / 6)


def test_zero_denominators_are_none() -> None:
    assert all(value is None for value in rates(DispositionCounts()).values())
    # only ineligible cases: e = 0, and every denominator is still 0
    only_ne = rates(DispositionCounts(NE=5))
    assert estimate_e(DispositionCounts(NE=5)) == 0.0
    assert all(value is None for value in only_ne.values())
    # only unknown cases: no estimate of e, RR1 = 0 / 10, RR5 has nothing known
    unknown = rates(DispositionCounts(UH=10))
    assert estimate_e(DispositionCounts(UH=10)) is None
    assert unknown["RR1"] == 0.0 and unknown["CON1"] == 0.0 and unknown["REF1"] == 0.0
    assert unknown["RR3"] is None and unknown["RR5"] is None and unknown["COOP1"] is None
    # e given as 0 for them: RR3 = 0 / (0 + 0*10) -> None
    assert rates(DispositionCounts(UH=10), e=0.0)["RR3"] is None
    # no contact at all: cooperation rates undefined, contact rate 0
    nc = rates(DispositionCounts(NC=4))
    assert nc["COOP1"] is None and nc["CON3"] == 0.0 and nc["RR5"] == 0.0


def test_e_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        rates(TABLE_A, e=1.5)
    with pytest.raises(ValueError, match="count"):
        DispositionCounts(I=-1)


def test_counts_of_final_codes() -> None:
    codes = (
        ["complete"] * 4 + ["partial"] + ["refusal_soft", "refusal_hard", "break_off"]
        + ["respondent_unavailable", "max_attempts_eligible"] + ["language_barrier"]
        + ["no_answer", "max_attempts", "busy"] + ["hold_expired"]
        + ["not_eligible", "fax", "number_not_working"]
    )  # fmt: skip
    counts = counts_of(codes, DEFAULT_DISPOSITIONS)
    assert counts == DispositionCounts(I=4, P=1, R=3, NC=2, O=1, UH=3, UO=1, NE=3)
    assert counts.total == len(codes)
    with pytest.raises(KeyError):
        counts_of(["complete", "typo"], DEFAULT_DISPOSITIONS)
