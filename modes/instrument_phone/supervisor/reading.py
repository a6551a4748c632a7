"""How the supervisor's pages show what the call-queue service gives them: cases, audit, periods.

Every figure and every list comes from the call-queue service
(:class:`~instrument.callqueue.CallQueue`): its overview, rates, interviewer
statistics, case screen, case list and audit log. A case's current outcome is
decided there, once, so a count on the overview and the list behind it agree.
This module only turns what the service gives into what a page prints:
outcome codes into their labels, times into the supervisor's zone, audit
entries into (field, before, after) lines. Nothing here reads the store or
writes anything.

Names and numbers are never shown: a supervisor's page names a number by its
rank, as the call-records CSV does.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, available_timezones

from instrument.callqueue import AuditEntry, CallQueue, CaseSummary

__all__ = [
    "AUDIT_PAGE",
    "CASE_LIST_LIMIT",
    "AuditRow",
    "CaseRow",
    "audit_rows",
    "case_row",
    "day_bounds",
    "known_zone",
    "outcome_label",
    "outcome_labels",
    "zone_names",
]

CASE_LIST_LIMIT = 200
"""At most this many cases are listed on the overview (the counts cover them all)."""

AUDIT_PAGE = 50
"""Audit entries shown on a case's page at a time (older ones a link away)."""


@dataclass(frozen=True, slots=True)
class CaseRow:
    """One queued case as the pages show it; times already in the supervisor's zone."""

    case_id: str
    questionnaire_id: str
    disposition: str
    label: str
    final: bool
    attempts: int
    held_by: str | None
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    window_kind: str | None
    reserved_for: str | None
    taken_by: str
    """Who may take it: ``interviewer`` (through "next case") or ``automated`` (the dialler)."""

    @property
    def automated(self) -> bool:
        """Only the automated dialler takes it: no interviewer is offered it by "next case"."""
        return self.taken_by == "automated"


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One audit entry for the case page: ``changes`` as (field, before, after) text triples."""

    at: dt.datetime
    actor: str
    action: str
    changes: tuple[tuple[str, str, str], ...]
    reason: str | None


def outcome_label(queue: CallQueue, questionnaire_id: str, code: str | None) -> str:
    """The words for an outcome code in the study's table (the code itself when it has none)."""
    if code is None:
        return "none yet"
    table = queue.settings_for(questionnaire_id).dispositions
    return table[code].label if code in table else code.replace("_", " ")


def outcome_labels(
    queue: CallQueue, studies: Sequence[str], codes: Iterable[str]
) -> dict[str, str]:
    """Words for each code, from the first study whose outcome table has it (else the code)."""
    tables = [queue.settings_for(study).dispositions for study in studies]
    found = {}
    for code in codes:
        table = next((t for t in tables if code in t), None)
        found[code] = table[code].label if table is not None else code.replace("_", " ")
    return found


def case_row(queue: CallQueue, case: CaseSummary, zone: ZoneInfo) -> CaseRow:
    """A case from the service's list (:meth:`~instrument.callqueue.CallQueue.case_list`) as
    a page shows it: its outcome's label, its window on the supervisor's clock."""

    def local(value: dt.datetime | None) -> dt.datetime | None:
        return None if value is None else value.astimezone(zone)

    return CaseRow(
        case_id=case.case_id,
        questionnaire_id=case.questionnaire_id,
        disposition=case.disposition,
        label=outcome_label(queue, case.questionnaire_id, case.disposition),
        final=case.final,
        attempts=case.attempts,
        held_by=case.held_by,
        window_start=local(case.window_start),
        window_end=local(case.window_end),
        window_kind=case.window_kind,
        reserved_for=case.window_interviewer,
        taken_by=case.taken_by,
    )


def _text(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def audit_rows(entries: Iterable[AuditEntry], zone: ZoneInfo) -> list[AuditRow]:
    """Audit entries (in the order given: the service's newest first) as the case page shows
    them, times in the supervisor's zone."""
    out = []
    for entry in entries:
        before, after = entry.before or {}, entry.after or {}
        fields = list(dict.fromkeys([*before, *after]))
        changes = tuple(
            (name.replace("_", " "), _text(before.get(name)), _text(after.get(name)))
            for name in fields
        )
        out.append(
            AuditRow(entry.at.astimezone(zone), entry.actor, entry.action.replace("_", " "),
                     changes, entry.reason)
        )  # fmt: skip
    return out


def known_zone(name: str) -> ZoneInfo | None:
    """The zone named (an IANA name this machine knows), else None."""
    return ZoneInfo(name) if name in _zone_set() else None


@functools.cache
def zone_names() -> tuple[str, ...]:
    """Every IANA zone name of a place (``Area/City``) and UTC, sorted, for the "times shown
    in" list; read once, because the zone database is a few hundred files."""
    return tuple(sorted(name for name in available_timezones() if "/" in name or name == "UTC"))


@functools.cache
def _zone_set() -> frozenset[str]:
    return frozenset(zone_names())


def day_bounds(first: dt.date, last: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The instants from midnight starting ``first`` to midnight ending ``last`` on ``zone``'s clock.

    Days are the supervisor's: "today" in Berlin starts an hour before it does
    in London, and a day with a clock change is 23 or 25 hours long.
    """
    since = dt.datetime.combine(first, dt.time(0), zone).astimezone(dt.UTC)
    until = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), zone).astimezone(dt.UTC)
    return since, until
