"""Reading a file of cases (one row per case, with its preload values) and storing it.

A researcher prepares the sample as a CSV file: a ``case_id`` column (the
pseudonymous id the answers will carry) and one column per preload variable
the questionnaire declares (what the panel already knows: the number of
children in the profile, the region). Every row is checked before anything is
stored; a file with any problem stores nothing and says, for each problem,
the file, the row's line and what is wrong.

For telephone fieldwork the file may also carry the numbers to call, the name
to ask for, the respondent's time zone (or postcode or region), language and
priority (:mod:`instrument.interviews.phone_sample`). Names and numbers are
personal data: they go to the personal-data tables only (``contacts``,
``phone_numbers``), never to the preload values, answers or exports. A case
with a number is put in the call queue, callable from the next calling hours.
Email and postal addresses do not belong here.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from instrument.diagnostics import did_you_mean
from instrument.engine import Engine, EngineError
from instrument.engine.case import typed_case
from instrument.fieldwork import CallingRules, case_disposition, next_window
from instrument.fieldwork.settings import FieldworkSettings
from instrument.interviews.phone_sample import PhoneDetails, is_telephone_column, phone_details
from instrument.interviews.service import InterviewService
from instrument.store.case_import import ImportedCase
from instrument.store.fieldwork_reports import Renewal

__all__ = ["CaseFileError", "CaseRow", "StoredCase", "read_case_file", "store_cases"]

CASE_ID = "case_id"
WINDOW_BATCH = 500
ANALYZE_FROM = 1000
"""Cases in one import from which the database's statistics are refreshed once their windows are set."""
"""Queued cases whose first windows are worked out per transaction after an import."""
MAX_CASE_ID = 100
PERSONAL_COLUMNS = frozenset({"first_name", "last_name", "email", "mobile", "address"})


@dataclass(frozen=True, slots=True)
class CaseRow:
    """One valid row: where it was, the case id and its preload values (as the engine takes them)."""

    line: int
    case_id: str
    preload: dict[str, Any]
    phone: PhoneDetails | None = None  # when the file has telephone columns


@dataclass(frozen=True, slots=True)
class StoredCase:
    case_id: str
    token: str | None  # the personal link's token, when links were issued


class CaseFileError(Exception):
    """A case file with problems; nothing of it was stored. ``problems``: ``file:line: message`` each."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def read_case_file(
    path: str | Path, engine: Engine, *, region: str = "GB", default_zone: str | None = None
) -> list[CaseRow]:
    """The cases in ``path`` for the questionnaire of ``engine``; :class:`CaseFileError` if any row is wrong.

    Numbers without a country code are read in ``region``; a row without a
    time zone, postcode or region gets ``default_zone`` (the calling rules' default).
    """
    path = Path(path)
    telephone = _Telephone(region, default_zone or CallingRules().default_zone, engine)
    preload_ids = [p.id for p in engine.q.preload]
    problems: list[str] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise CaseFileError([f"{path}:1: the file is empty; it needs a header row"])
            columns = [name.strip() for name in header]
            _check_header(path, columns, preload_ids, problems)
            if problems:
                raise CaseFileError(problems)
            rows = _read_rows(path, reader, columns, engine, telephone, problems)
    except UnicodeDecodeError as exc:
        raise CaseFileError([f"{path}: the file is not UTF-8 text ({exc.reason})"]) from None
    except csv.Error as exc:
        raise CaseFileError([f"{path}: not a readable CSV file ({exc})"]) from None
    if problems:
        raise CaseFileError(problems)
    if not rows:
        raise CaseFileError([f"{path}: the file has a header but no cases"])
    return rows


def _check_header(
    path: Path, columns: list[str], preload_ids: list[str], problems: list[str]
) -> None:
    known = [CASE_ID, *preload_ids]
    if CASE_ID not in columns:
        problems.append(
            f"{path}:1: there is no '{CASE_ID}' column (the pseudonymous id of each case)"
        )
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            problems.append(f"{path}:1: the column '{name}' appears twice")
        seen.add(name)
        if name in known or is_telephone_column(name):
            continue  # a preload variable named like a telephone column is a preload value
        if name.lower() in PERSONAL_COLUMNS:
            problems.append(
                f"{path}:1: '{name}' is personal data this file does not take (the telephone "
                "columns are phone, phone_2, ..., name, time_zone, postcode, region, language, "
                "priority)"
            )
        else:
            preloads = ", ".join(preload_ids) or "none"
            problems.append(
                f"{path}:1: unknown column '{name}'{_suggestion(name, known)} "
                f"(the columns are '{CASE_ID}', the questionnaire's preload variables: "
                f"{preloads}, and the telephone columns phone, phone_2, ..., name, time_zone, "
                "postcode, region, language, priority)"
            )


_PHONE_NAMES = ("phone", "phone_2", "name", "time_zone", "postcode", "region", "language")
# Other names people give the telephone columns (spelling alone would suggest 'phone' for 'zone').
_ALIASES = {
    "zone": "time_zone",
    "timezone": "time_zone",
    "tz": "time_zone",
    "zip": "postcode",
    "postal_code": "postcode",
    "lang": "language",
    "tel": "phone",
    "telephone": "phone",
}


def _suggestion(name: str, known: list[str]) -> str:
    alias = _ALIASES.get(name.lower())
    if alias is not None:
        return f"; did you mean '{alias}'?"
    return did_you_mean(name, [*known, *_PHONE_NAMES])


@dataclass(frozen=True, slots=True)
class _Telephone:
    """How to read a row's telephone cells."""

    region: str
    default_zone: str
    engine: Engine

    def details(self, values: dict[str, str]) -> PhoneDetails:
        return phone_details(
            values,
            region=self.region,
            default_zone=self.default_zone,
            languages=tuple(self.engine.q.languages),
        )


def _read_rows(
    path: Path,
    reader: Any,
    columns: list[str],
    engine: Engine,
    telephone: _Telephone,
    problems: list[str],
) -> list[CaseRow]:
    rows: list[CaseRow] = []
    first_line: dict[str, int] = {}
    number_of: dict[str, tuple[str, int]] = {}  # number -> the case and line that has it
    preload_ids = {p.id for p in engine.q.preload}
    telephone_columns = [c for c in columns if is_telephone_column(c) and c not in preload_ids]
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue  # a blank line
        if len(cells) != len(columns):
            problems.append(f"{path}:{line}: {len(cells)} cells, but the header has {len(columns)}")
            continue
        values = {name: cell.strip() for name, cell in zip(columns, cells)}
        case_id = values.pop(CASE_ID)
        if not case_id:
            problems.append(f"{path}:{line}: the case id is empty")
            continue
        if len(case_id) > MAX_CASE_ID or "\x00" in case_id:
            problems.append(
                f"{path}:{line}: the case id must be 1 to {MAX_CASE_ID} printable characters"
            )
            continue
        if case_id in first_line:
            problems.append(
                f"{path}:{line}: case '{case_id}' is also on line {first_line[case_id]}"
            )
            continue
        first_line[case_id] = line
        phone = None
        if telephone_columns:
            cells = {name: values.pop(name) for name in telephone_columns}
            try:
                phone = telephone.details(cells)
            except ValueError as exc:
                problems.append(f"{path}:{line}: {exc}")
                continue
            for number in phone.numbers:
                if number in number_of:
                    other, other_line = number_of[number]
                    problems.append(
                        f"{path}:{line}: the number {number} is also on line {other_line} "
                        f"(case '{other}')"
                    )
                number_of.setdefault(number, (case_id, line))
        given = {name: value for name, value in values.items() if value != ""}
        try:
            preload = typed_case(engine.q, given)
        except EngineError as exc:
            problems.append(f"{path}:{line}: {exc}")
            continue
        rows.append(CaseRow(line, case_id, preload, phone))
    return rows


def store_cases(
    service: InterviewService,
    questionnaire_id: str,
    rows: Sequence[CaseRow],
    *,
    now: dt.datetime,
    source: str = "<cases>",
    links: bool = False,
    expires_at: dt.datetime | None = None,
    fieldwork: FieldworkSettings | None = None,
    taken_by: str = "interviewer",
) -> list[StoredCase]:
    """Store every case with its preload values; with ``links``, issue each a personal link.

    A row with telephone columns also gets its name (``contacts``) and
    numbers (``phone_numbers``) stored, and, with a number, a place in the
    call queue from the next calling hours after ``now`` (the rules of
    ``fieldwork``, default ones without it). Storing a case again replaces
    its preload values, numbers and name; its call history is kept. A link is issued anew
    each time (earlier links keep working until they expire). A case that was
    withdrawn, or that belongs to another questionnaire, is a problem of its
    row (``source:line``), and then nothing is stored. ``taken_by`` says who
    takes the queued cases: ``interviewer`` or ``automated`` (the dialler of
    ``instrument calls place``, never an interviewer's next case).
    """
    problems = []
    for row in rows:
        known = service.store.get_case(row.case_id)
        if known is None:
            continue
        if known.withdrawn_at is not None:
            problems.append(
                f"{source}:{row.line}: case '{row.case_id}' was withdrawn on "
                f"{known.withdrawn_at:%Y-%m-%d}; a withdrawn case is never imported again"
            )
        elif known.questionnaire_id != questionnaire_id:
            problems.append(
                f"{source}:{row.line}: case '{row.case_id}' belongs to questionnaire "
                f"'{known.questionnaire_id}'"
            )
    problems.extend(_numbers_of_other_cases(service, rows, source))
    if problems:
        raise CaseFileError(problems)
    settings = fieldwork or FieldworkSettings()
    sample = [
        ImportedCase(row.case_id, row.preload)
        if row.phone is None
        else ImportedCase(
            row.case_id,
            row.preload,
            numbers=row.phone.numbers,
            name=row.phone.name,
            zone=row.phone.zone,
            language=row.phone.language,
            priority=row.phone.priority,
            taken_by=taken_by,
        )
        for row in rows
    ]
    queued = service.import_cases(questionnaire_id, sample, now=now)
    _first_windows(service, queued, settings, now)
    if len(sample) >= ANALYZE_FROM:
        service.store.refresh_queue_statistics()
    stored = []
    for row in rows:
        token = (
            service.issue_link(
                questionnaire_id, case_id=row.case_id, now=now, expires_at=expires_at
            )
            if links
            else None
        )
        stored.append(StoredCase(row.case_id, token))
    return stored


def _first_windows(
    service: InterviewService,
    case_ids: Sequence[str],
    settings: FieldworkSettings,
    now: dt.datetime,
) -> None:
    """Each newly queued case's window from the calling rules, a few hundred cases per transaction.

    The import leaves the windows empty; a case whose window is set meanwhile
    (by "next case", which renews empty windows too) is left as it is.
    """
    rules, table = settings.calling, settings.dispositions
    for start in range(0, len(case_ids), WINDOW_BATCH):
        renewals = []
        for queued in service.store.queued_cases(list(case_ids[start : start + WINDOW_BATCH])):
            window = next_window(queued.facts, rules, table, now)
            disposition = (
                None if window is not None else case_disposition(queued.facts, table, rules)
            )
            renewals.append(
                Renewal(queued.case_id, queued.window_end, queued.attempts, window, disposition)
            )
        service.store.renew_windows(renewals, now=now)


def _numbers_of_other_cases(
    service: InterviewService, rows: Sequence[CaseRow], source: str
) -> list[str]:
    """Problems for numbers the database holds for a case other than the row's."""
    numbers = [n for row in rows if row.phone is not None for n in row.phone.numbers]
    if not numbers:
        return []
    stored = service.store.cases_with_numbers(numbers)
    problems = []
    for row in rows:
        for number in row.phone.numbers if row.phone is not None else ():
            others = [case for case in stored.get(number, ()) if case != row.case_id]
            if others:
                problems.append(
                    f"{source}:{row.line}: the number {number} is stored for case '{others[0]}'"
                )
    return problems
