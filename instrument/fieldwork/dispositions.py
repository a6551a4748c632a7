"""Call outcomes as AAPOR disposition codes, each with what it means for scheduling.

An interviewer codes every attempt with one outcome. The outcome decides three
things at once: whether the case is finished (``final``), when it may be tried
again (``retry_after``), and where it counts in the response rates
(``rate_class``, the I/P/R/NC/O/UH/UO/NE columns of AAPOR's formulas). Keeping
the three together in one row, as queXS's ``outcome`` table does, means a study
that changes a delay cannot forget the rate class, and the rates cannot drift
from what interviewers coded.

The codes and classes follow the table of final dispositions for telephone
surveys in AAPOR's *Standard Definitions* (1.x interviews, 2.x eligible
non-interviews, 3.x unknown eligibility, 4.x not eligible). AAPOR numbers
cases, not calls; an outcome that is not final here (a no answer) becomes a
case's disposition only if fieldwork ends on it (:func:`.schedule.case_disposition`).
The delays follow queXS's defaults (no answer 180 minutes, refusals 7 days) and
MRS/Ofcom practice (see docs/fieldwork.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class RateClass(StrEnum):
    """The column of AAPOR's outcome-rate formulas a case's disposition counts in."""

    I = "I"  # noqa: E741 - AAPOR's own name: complete interview
    P = "P"  # partial interview
    R = "R"  # refusal and break-off
    NC = "NC"  # non-contact
    O = "O"  # noqa: E741 - AAPOR's own name: other eligible non-interview
    UH = "UH"  # unknown if household (or if the number reaches anyone eligible)
    UO = "UO"  # unknown eligibility, other
    NE = "NE"  # not eligible


ELIGIBLE_CLASSES = frozenset({RateClass.I, RateClass.P, RateClass.R, RateClass.NC, RateClass.O})
"""Classes of cases known to be eligible (the numerator of the usual estimate of e)."""

CODE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
AAPOR_CODE = re.compile(r"^[1-4](\.\d{1,3}[a-z]?)?$")


def aapor_class(aapor: str) -> RateClass | None:
    """The rate class AAPOR's telephone table gives a code (None: not a code it has).

    1.1 complete, 1.2 partial, 2.1x refusal and break-off, 2.2x non-contact,
    2.3x other, 3.1x unknown if household, 3.2x and 3.9x unknown other, 4.x not
    eligible. Used to warn about a study's own outcome whose class contradicts
    its code.
    """
    if not AAPOR_CODE.match(aapor):
        return None
    major, _, minor = aapor.partition(".")
    first = minor[:1]
    if major == "1":
        return {"1": RateClass.I, "2": RateClass.P}.get(first)
    if major == "2":
        return {"1": RateClass.R, "2": RateClass.NC, "3": RateClass.O}.get(first)
    if major == "3":
        return {"1": RateClass.UH, "2": RateClass.UO, "9": RateClass.UO}.get(first)
    return RateClass.NE


@dataclass(frozen=True)
class Disposition:
    """One outcome an attempt (and in the end a case) can be coded with.

    :param code: our stable name, used in the store, the YAML file and exports.
    :param aapor: the AAPOR code ("1.1", "2.112", ...), for reports.
    :param rate_class: where the case counts in the rates when it ends on this.
    :param final: the case is finished; it is never called again.
    :param retry_after: the least time before the next attempt (None when final).
    :param contact: someone was spoken to (a machine is not someone).
    :param needs_finished_interview: may only be coded when the interview is finished.
    :param needs_started_interview: may only be coded when the interview was started.
    :param needs_appointment: coding it asks for an appointment.
    :param refusal: a refusal; a soft one (not final) may be tried again after the
        study's refusal cool-off, at most ``CallingRules.max_refusals`` times.
    :param number_dead: stop dialling this number and go to the case's next one.
    """

    code: str
    aapor: str
    label: str
    rate_class: RateClass
    final: bool
    retry_after: timedelta | None
    contact: bool = False
    needs_finished_interview: bool = False
    needs_started_interview: bool = False
    needs_appointment: bool = False
    refusal: bool = False
    number_dead: bool = False

    def __post_init__(self) -> None:
        if not CODE_NAME.match(self.code):
            raise ValueError(
                f"outcome code {self.code!r} is not a lower-case name such as no_answer"
            )
        if self.final and self.retry_after is not None:
            raise ValueError(f"{self.code}: a final outcome is never retried (retry_after given)")
        if not self.final and self.retry_after is None:
            raise ValueError(f"{self.code}: an outcome that is not final needs retry_after")
        if self.retry_after is not None and self.retry_after < timedelta(0):
            raise ValueError(f"{self.code}: retry_after cannot be negative")


class DispositionTable(Mapping[str, Disposition]):
    """Outcomes by code, iterated in the order they were given (pickers show them so)."""

    def __init__(self, dispositions: Iterable[Disposition]) -> None:
        self._by_code: dict[str, Disposition] = {}
        for disposition in dispositions:
            if disposition.code in self._by_code:
                raise ValueError(f"outcome {disposition.code!r} is given twice")
            self._by_code[disposition.code] = disposition

    def __getitem__(self, code: str) -> Disposition:
        try:
            return self._by_code[code]
        except KeyError:
            raise KeyError(f"unknown outcome {code!r}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_code)

    def __len__(self) -> int:
        return len(self._by_code)

    def __repr__(self) -> str:
        return f"DispositionTable({list(self._by_code)})"

    def replaced(self, changes: Iterable[Disposition]) -> DispositionTable:
        """A copy with ``changes`` replacing outcomes of the same code, new ones appended."""
        merged = dict(self._by_code)
        for disposition in changes:
            merged[disposition.code] = disposition
        return DispositionTable(merged.values())

    def codable(self, *, interview_started: bool, interview_finished: bool) -> list[Disposition]:
        """The outcomes that fit an attempt's interview, for the end-of-call picker.

        A complete needs a finished interview, a partial or break-off a started one.
        """
        return [
            d
            for d in self.values()
            if (interview_finished or not d.needs_finished_interview)
            and (interview_started or not d.needs_started_interview)
        ]


def _d(
    code: str,
    aapor: str,
    label: str,
    rate_class: RateClass,
    retry: timedelta | None,
    **flags: bool,
) -> Disposition:
    return Disposition(code, aapor, label, rate_class, retry is None, retry, **flags)


_NOW = timedelta(0)
_MINUTES_15 = timedelta(minutes=15)
_HOUR = timedelta(hours=1)
_HOURS_3 = timedelta(hours=3)  # queXS's no-answer delay (180 minutes)
_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)  # queXS's refusal delay (10080 minutes)
_C = RateClass

DEFAULT_DISPOSITIONS = DispositionTable(
    [
        # 1. Interviews
        _d("complete", "1.1", "Complete interview", _C.I, None,
           contact=True, needs_finished_interview=True),
        _d("partial", "1.2", "Partial interview (to be finished later)", _C.P, _DAY,
           contact=True, needs_started_interview=True),
        # 2.1 Refusals and break-offs
        _d("refusal_household", "2.111", "Refusal by someone else in the household", _C.R, _WEEK,
           contact=True, refusal=True),
        _d("refusal_soft", "2.112", "Refusal by the respondent (may be tried again)", _C.R, _WEEK,
           contact=True, refusal=True),
        _d("refusal_hard", "2.112", "Refusal by the respondent (never call again)", _C.R, None,
           contact=True, refusal=True),
        _d("do_not_call", "2.112", "Asked never to be called again", _C.R, None,
           contact=True, refusal=True),
        _d("break_off", "2.12", "Break-off: the interview was started and stopped", _C.R, _WEEK,
           contact=True, needs_started_interview=True, refusal=True),
        # 2.2 Non-contacts (known to be eligible)
        _d("appointment", "2.21", "Appointment made", _C.NC, _NOW,
           contact=True, needs_appointment=True),
        _d("respondent_unavailable", "2.21", "Respondent not available", _C.NC, _DAY,
           contact=True),
        _d("answering_machine_household", "2.222",
           "Answering machine confirming the household, no message left", _C.NC, _HOURS_3),
        _d("answering_machine_message", "2.221",
           "Answering machine confirming the household, message left", _C.NC, _DAY),
        _d("max_attempts_eligible", "2.20", "Maximum attempts reached (eligible)", _C.NC, None),
        # 2.3 Other eligible non-interviews
        _d("deceased", "2.31", "Respondent deceased", _C.O, None, contact=True),
        _d("unable", "2.32", "Respondent physically or mentally unable", _C.O, None,
           contact=True),
        _d("language_barrier", "2.332", "Respondent does not speak a language offered", _C.O,
           None, contact=True),
        _d("language_callback", "2.333", "No interviewer available for the language needed",
           _C.O, _DAY, contact=True),
        # 3.1 Unknown eligibility
        _d("not_attempted", "3.11", "Not attempted", _C.UH, _NOW),
        _d("busy", "3.12", "Busy", _C.UH, _MINUTES_15),
        _d("no_answer", "3.13", "No answer", _C.UH, _HOURS_3),
        _d("answering_machine", "3.14", "Answering machine, household unknown", _C.UH, _HOURS_3),
        _d("call_blocked", "3.15", "Call blocked by the line", _C.UH, _DAY),
        _d("technical_problem", "3.16", "Technical phone problem", _C.UH, _HOUR),
        _d("max_attempts", "3.10", "Maximum attempts reached (eligibility unknown)", _C.UH, None),
        # 3.9 Unknown eligibility, other
        _d("hold_expired", "3.90", "Released: held by an interviewer past the timeout", _C.UO,
           _MINUTES_15),
        # 4. Not eligible (a dead number is not the end of a case that has another)
        _d("fax", "4.20", "Fax or data line", _C.NE, _NOW, number_dead=True),
        _d("number_not_working", "4.30", "Number not working or disconnected", _C.NE, _NOW,
           number_dead=True),
        _d("wrong_number", "4.41", "Number changed or wrong number", _C.NE, _NOW,
           contact=True, number_dead=True),
        _d("business", "4.51", "Business, government office or other organisation", _C.NE,
           _NOW, contact=True, number_dead=True),
        _d("not_eligible", "4.70", "No eligible respondent", _C.NE, None, contact=True),
        _d("quota_full", "4.80", "Quota filled", _C.NE, None, contact=True),
    ]
)  # fmt: skip
"""The outcomes every study starts with; a study's fieldwork file changes or adds to them."""


_BY_CALL_STATUS = {"busy": "busy", "no-answer": "no_answer", "failed": "technical_problem"}
_BY_ANSWERED_BY = {"fax": "fax"}


def suggested_outcome(call_status: str | None, answered_by: str | None = None) -> str | None:
    """The outcome a call's telephony status implies, to pre-select in the end-of-call picker.

    Twilio's final CallStatus says whether the line was busy or not answered; its
    answering-machine detection (AnsweredBy) tells a fax or a machine from a person.
    A call that failed is a technical problem, not a dead number: a carrier's
    passing fault must not end a case. A person, or no telling, suggests
    nothing: the interviewer codes what was said.
    """
    if call_status in _BY_CALL_STATUS:
        return _BY_CALL_STATUS[call_status]
    if call_status not in ("completed", "in-progress") or answered_by is None:
        return None
    if answered_by.startswith("machine_"):
        return "answering_machine"
    return _BY_ANSWERED_BY.get(answered_by)
