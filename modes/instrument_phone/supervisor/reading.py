"""What the supervisor's pages read: cases by outcome, a case's state and audit trail, periods.

Every figure a page shows comes from the call-queue service
(:class:`~instrument.callqueue.CallQueue`): its overview, rates, interviewer
statistics and case screen. Two things it does not offer are read here,
read-only, from the store it holds: the list of queued cases behind an
overview count (the same bulk read and the same rule, ``case_disposition``
with a supervisor's correction winning, so a count and its list agree) and a
case's audit log. Nothing here writes; every change goes through the service,
which audits it.

Names and numbers are never read here: a supervisor's page names a number by
its rank, as the call-records CSV does.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, available_timezones

from instrument.callqueue import CallQueue
from instrument.fieldwork import case_disposition

__all__ = [
    "AuditRow",
    "CaseRow",
    "audit_rows",
    "case_rows",
    "case_state",
    "day_bounds",
    "known_zone",
    "outcome_label",
    "outcome_labels",
    "zone_names",
]

CASE_LIST_LIMIT = 200
"""At most this many cases are listed on the overview (the counts cover them all)."""


@dataclass(frozen=True, slots=True)
class CaseRow:
    """One queued case as the overview lists it; times already in the supervisor's zone."""

    case_id: str
    questionnaire_id: str
    disposition: str
    label: str
    final: bool
    attempts: int
    held_by: str | None
    window_start: dt.datetime | None
    window_kind: str | None


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


def case_rows(
    queue: CallQueue,
    zone: ZoneInfo,
    *,
    outcome: str | None = None,
    case_ids: list[str] | None = None,
) -> list[CaseRow]:
    """Queued cases with their current outcome (as the overview counts it), optionally one outcome's.

    A supervisor's correction wins until the case is called again, exactly as
    in :meth:`~instrument.callqueue.CallQueue.sample_overview`; a test holds
    the two to the same counts.
    """
    rows = []
    for queued in queue.store.queued_cases(case_ids):
        settings = queue.settings_for(queued.questionnaire_id)
        code = queued.override or case_disposition(
            queued.facts, settings.dispositions, settings.calling
        )
        if outcome is not None and code != outcome:
            continue
        window = queued.window_start
        rows.append(
            CaseRow(
                case_id=queued.case_id,
                questionnaire_id=queued.questionnaire_id,
                disposition=code,
                label=outcome_label(queue, queued.questionnaire_id, code),
                final=queued.final,
                attempts=len(queued.facts.attempts),
                held_by=queued.held_by,
                window_start=None if window is None or queued.final else window.astimezone(zone),
                window_kind=queued.window_kind,
            )
        )
    return rows


def _text(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def audit_rows(queue: CallQueue, case_id: str, zone: ZoneInfo) -> list[AuditRow]:
    """The case's audit log, newest first, times in the supervisor's zone."""
    out = []
    for entry in reversed(queue.store.audit_of(case_id)):
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


def case_state(queue: CallQueue, case_id: str) -> str:
    """A short fingerprint of what a supervisor's change acts on, put in each form of the case page.

    A form whose fingerprint no longer matches was made from a page that is out
    of date: sent twice (a double click, a refresh that re-posts), or the case
    was coded, released or corrected meanwhile. Acting on it again would be a
    second effect, so the page is shown afresh instead.
    """
    row = queue.store.queue_row(case_id) or {}
    entries = queue.store.audit_of(case_id)
    seen = [
        row.get(key)
        for key in ("disposition", "final", "held_by", "held_attempt_id", "window_interviewer")
    ]
    seen.append(entries[-1].id if entries else None)
    return hashlib.sha256(json.dumps(seen, default=str).encode()).hexdigest()[:16]


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
