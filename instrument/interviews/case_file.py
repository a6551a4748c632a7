"""Reading a file of cases (one row per case, with its preload values) and storing it.

A researcher prepares the sample as a CSV file: a ``case_id`` column (the
pseudonymous id the answers will carry) and one column per preload variable
the questionnaire declares (what the panel already knows: the number of
children in the profile, the region). Every row is checked before anything is
stored; a file with any problem stores nothing and says, for each problem,
the file, the row's line and what is wrong.

Names, email addresses and phone numbers do not belong here: they are
personal data and go to the contact table through the telephone and panel
imports, never next to answers.
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
from instrument.interviews.service import InterviewService

__all__ = ["CaseFileError", "CaseRow", "StoredCase", "read_case_file", "store_cases"]

CASE_ID = "case_id"
MAX_CASE_ID = 100
PERSONAL_COLUMNS = frozenset(
    {"name", "first_name", "last_name", "email", "phone", "mobile", "address"}
)


@dataclass(frozen=True, slots=True)
class CaseRow:
    """One valid row: where it was, the case id and its preload values (as the engine takes them)."""

    line: int
    case_id: str
    preload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredCase:
    case_id: str
    token: str | None  # the personal link's token, when links were issued


class CaseFileError(Exception):
    """A case file with problems; nothing of it was stored. ``problems``: ``file:line: message`` each."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def read_case_file(path: str | Path, engine: Engine) -> list[CaseRow]:
    """The cases in ``path`` for the questionnaire of ``engine``; :class:`CaseFileError` if any row is wrong."""
    path = Path(path)
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
            rows = _read_rows(path, reader, columns, engine, problems)
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
        if name in known:
            continue
        if name.lower() in PERSONAL_COLUMNS:
            problems.append(
                f"{path}:1: '{name}' is personal data; it is never stored with the cases or the "
                "answers (contact details will have their own import, kept apart from answers)"
            )
        else:
            preloads = ", ".join(preload_ids) or "none"
            problems.append(
                f"{path}:1: unknown column '{name}'{did_you_mean(name, known)} (the columns are "
                f"'{CASE_ID}' and the questionnaire's preload variables: {preloads})"
            )


def _read_rows(
    path: Path, reader: Any, columns: list[str], engine: Engine, problems: list[str]
) -> list[CaseRow]:
    rows: list[CaseRow] = []
    first_line: dict[str, int] = {}
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
        given = {name: value for name, value in values.items() if value != ""}
        try:
            preload = typed_case(engine.q, given)
        except EngineError as exc:
            problems.append(f"{path}:{line}: {exc}")
            continue
        rows.append(CaseRow(line, case_id, preload))
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
) -> list[StoredCase]:
    """Store every case with its preload values; with ``links``, issue each a personal link.

    Storing a case again replaces its preload values. A link is issued anew
    each time (earlier links keep working until they expire). A case that was
    withdrawn, or that belongs to another questionnaire, is a problem of its
    row (``source:line``), and then nothing is stored.
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
    if problems:
        raise CaseFileError(problems)
    stored = []
    for row in rows:
        service.put_case(questionnaire_id, row.case_id, row.preload, now=now)
        token = (
            service.issue_link(
                questionnaire_id, case_id=row.case_id, now=now, expires_at=expires_at
            )
            if links
            else None
        )
        stored.append(StoredCase(row.case_id, token))
    return stored
