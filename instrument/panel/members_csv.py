"""Reading a file of panel members: one row per member, every row checked before anything is stored.

The panel's file has an ``external_id`` column (the panel's own reference for
the member, as the recruitment file has it) and any of:

- ``status`` (active, paused, withdrawn, ineligible, deceased), ``language``
  (a language tag such as ``en`` or ``cy``), ``preferred_mode`` (a mode name
  such as ``web`` or ``cati``);
- contact details: ``name``, ``email``, ``email_2`` ... ``email_9``, ``phone``,
  ``phone_2`` ... ``phone_9`` (in the order to use them), ``address_1`` ...
  ``address_6`` and ``postcode`` (one postal address);
- consents: ``consent_membership``, ``consent_recontact``,
  ``consent_data_linkage``, ``consent_recording`` (yes or no; empty: not
  recorded in this file), with ``consent_sheet`` (the information sheet's
  version), ``consent_mode`` (how it was given) and ``consent_at`` (when; the
  import's time if empty);
- every other column is a profile variable (age band, region, household
  type ...), kept as text, as the file writes it; an empty cell means the panel
  does not know the value. ``time_zone``, if given, must be an IANA zone
  (``America/New_York``): with ``region`` and the address's postcode it says
  whose local hours a wave's quiet hours are (:mod:`instrument.panel.member_zone`).

A file with any problem is refused whole, each problem with its line, as
``instrument check`` reports a questionnaire's. Pure: no database, no keys.
Phone numbers are read by the function the caller passes
(``instrument.interviews.phone_sample.parse_number`` with the file's country,
the same reading the case import uses); it is passed in rather than imported
because these rules sit below the store and the interview service.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from instrument.diagnostics import did_you_mean
from instrument.fieldwork.zones import checked_zone

from .member_zone import ZONE_VARIABLE

__all__ = [
    "CONSENT_COLUMNS",
    "CONSENT_MODES",
    "MEMBER_STATUSES",
    "ConsentRow",
    "MemberRow",
    "MembersFileError",
    "parse_members",
    "read_members_file",
]

MEMBER_STATUSES: Final = ("active", "paused", "withdrawn", "ineligible", "deceased")
"""As ``instrument.store.schema.MEMBER_STATUSES`` (a test holds them equal)."""

CONSENT_COLUMNS: Final = {
    "consent_membership": "membership",
    "consent_recontact": "recontact",
    "consent_data_linkage": "data_linkage",
    "consent_recording": "recording",
}
"""Consent columns of a members file and the scope each records (a wave's consent is the wave's)."""

CONSENT_MODES: Final = ("web", "phone", "paper", "in_person", "email", "sms", "other")
"""How a consent was given."""

MAX_EXTERNAL_ID: Final = 100
ADDRESS_LINES: Final = 6

_KNOWN: Final = frozenset(
    {"external_id", "status", "language", "preferred_mode", "name", "postcode"}
    | {"consent_sheet", "consent_mode", "consent_at"}
    | CONSENT_COLUMNS.keys()
    | {f"address_{n}" for n in range(1, ADDRESS_LINES + 1)}
)
_RANKED: Final = re.compile(r"(email|phone)(?:_([2-9]))?")
_PERSONAL_LOOKING: Final = frozenset(
    {
        "first_name", "last_name", "surname", "forename", "full_name", "mobile", "telephone",
        "tel", "address", "email_address", "phone_1", "email_1", "date_of_birth", "dob",
    }
)  # fmt: skip
"""Columns named like personal data that have a place of their own: refused as profile variables."""
_PROFILE_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_LANGUAGE: Final = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")
_MODE: Final = re.compile(r"[a-z][a-z0-9_]{0,49}")
_EMAIL: Final = re.compile(
    r"[^@\s]{1,64}@([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_YES: Final = frozenset({"yes", "y", "true", "1"})
_NO: Final = frozenset({"no", "n", "false", "0"})


@dataclass(frozen=True, slots=True)
class ConsentRow:
    scope: str
    given: bool
    sheet_version: str
    at: dt.datetime
    mode: str


@dataclass(frozen=True, slots=True)
class MemberRow:
    """One valid row, its contact details in clear (to be sealed before they are stored).

    ``status``, ``language``, ``preferred_mode`` None: not given (a stored
    member keeps its own). ``contacts`` has an entry for each kind the file has
    columns for (``email``, ``phone``, ``address``, ``name``): the values in
    rank order, none if the row's cells are empty. Phones are E.164; an address
    is its lines joined by newlines, the postcode last.
    """

    line: int
    external_id: str
    status: str | None
    language: str | None
    preferred_mode: str | None
    profile: dict[str, str | None]
    contacts: dict[str, tuple[str, ...]]
    consents: tuple[ConsentRow, ...]


class MembersFileError(Exception):
    """A members file with problems; nothing of it was stored. ``problems``: ``file:line: message``."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def read_members_file(
    path: str | Path, *, parse_phone: Callable[[str], str], now: dt.datetime
) -> list[MemberRow]:
    """The members in the CSV file ``path``; :class:`MembersFileError` listing every problem.

    ``parse_phone`` turns a number as written into E.164 or raises ValueError
    saying why not; ``now`` is when consents without ``consent_at`` were given.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MembersFileError(
            [f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]
        ) from None
    return parse_members(text, source=str(path), parse_phone=parse_phone, now=now)


def parse_members(
    text: str, *, source: str, parse_phone: Callable[[str], str], now: dt.datetime
) -> list[MemberRow]:
    """The members in CSV ``text`` (``source`` names it in messages); see :func:`read_members_file`."""
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise MembersFileError([f"{source}:{line}: a NUL character (is this a text file?)"])
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise MembersFileError([f"{source}: the file is empty (a header row is needed)"]) from None
    except csv.Error as exc:
        raise MembersFileError([f"{source}:1: {exc}"]) from None
    columns = [name.strip() for name in header]
    problems = [f"{source}:1: {p}" for p in _header_problems(columns)]
    if problems:
        raise MembersFileError(problems)
    rows: list[MemberRow] = []
    seen: dict[str, int] = {}
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(f"{source}:{line}: {exc}")
            break
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(columns):
            problems.append(f"{source}:{start}: {len(cells)} cells, the header has {len(columns)}")
            continue
        values = {name: cell.strip() for name, cell in zip(columns, cells)}
        external_id = values.get("external_id", "")
        if external_id in seen:
            problems.append(
                f"{source}:{start}: external_id '{external_id}' is also on line {seen[external_id]}"
            )
            continue
        if external_id:
            seen[external_id] = start
        try:
            rows.append(_row(start, values, parse_phone=parse_phone, now=now))
        except ValueError as exc:
            problems.append(f"{source}:{start}: {exc}")
    if problems:
        raise MembersFileError(problems)
    return rows


def _header_problems(columns: list[str]) -> list[str]:
    problems = []
    if "external_id" not in columns:
        problems.append("no external_id column" + did_you_mean("external_id", columns))
    for number, name in enumerate(columns):
        if name in columns[:number]:
            problems.append(f"column '{name}' is given twice")
        elif name in _KNOWN or _RANKED.fullmatch(name):
            continue
        elif name in _PERSONAL_LOOKING or name.startswith(("email", "phone", "address")):
            problems.append(
                f"column '{name}' looks like personal data: contact details go in name, email, "
                "email_2 ..., phone, phone_2 ..., address_1 ... address_6 and postcode "
                "(docs/panel.md)"
            )
        elif name.startswith("consent_"):
            known = sorted(n for n in _KNOWN if n.startswith("consent_"))
            problems.append(f"unknown consent column '{name}'" + did_you_mean(name, known))
        elif not _PROFILE_NAME.fullmatch(name):
            problems.append(
                f"column '{name}' is not a usable profile variable name (letters, digits and _, "
                "not starting with a digit, at most 64 characters)"
            )
    return problems


def _row(
    line: int,
    values: Mapping[str, str],
    *,
    parse_phone: Callable[[str], str],
    now: dt.datetime,
) -> MemberRow:
    """One row's member; ValueError with the first problem."""
    external_id = values.get("external_id", "")
    if not external_id:
        raise ValueError("external_id is empty")
    if len(external_id) > MAX_EXTERNAL_ID:
        raise ValueError(f"external_id is longer than {MAX_EXTERNAL_ID} characters")
    status = values.get("status") or None
    if status is not None:
        status = status.lower()
        if status not in MEMBER_STATUSES:
            raise ValueError(
                f"unknown status '{values['status']}': one of {', '.join(MEMBER_STATUSES)}"
                + did_you_mean(status, MEMBER_STATUSES)
            )
    language = values.get("language") or None
    if language is not None and not _LANGUAGE.fullmatch(language):
        raise ValueError(f"language '{language}' is not a language tag (en, cy, pt-BR ...)")
    mode = values.get("preferred_mode") or None
    if mode is not None and not _MODE.fullmatch(mode):
        raise ValueError(f"preferred_mode '{mode}' is not a mode name (web, cati ...)")
    profile = {
        name: (value or None)
        for name, value in values.items()
        if name not in _KNOWN and not _RANKED.fullmatch(name)
    }
    if zone := profile.get(ZONE_VARIABLE):  # the member's quiet hours are kept in it
        try:
            checked_zone(zone)
        except ValueError as exc:
            raise ValueError(f"{ZONE_VARIABLE}: {exc}") from None
    return MemberRow(
        line=line,
        external_id=external_id,
        status=status,
        language=language,
        preferred_mode=mode,
        profile=profile,
        contacts=_contacts(values, parse_phone),
        consents=_consents(values, now),
    )


def _ranked(values: Mapping[str, str], kind: str) -> list[tuple[str, str]]:
    """The (column, value) cells of ``kind`` (email or phone) in rank order, empty ones left out."""
    columns = sorted(
        (int(match.group(2) or 1), column)
        for column in values
        if (match := _RANKED.fullmatch(column)) and match.group(1) == kind
    )
    return [(column, values[column]) for _, column in columns if values[column]]


def _contacts(
    values: Mapping[str, str], parse_phone: Callable[[str], str]
) -> dict[str, tuple[str, ...]]:
    contacts: dict[str, tuple[str, ...]] = {}
    if any(_RANKED.fullmatch(c) and c.startswith("email") for c in values):
        emails = []
        for column, text in _ranked(values, "email"):
            if len(text) > 254 or not _EMAIL.fullmatch(text):
                raise ValueError(f"{column}: '{text}' is not an email address")
            if text.lower() in (e.lower() for e in emails):
                raise ValueError(f"{column}: the address {text} is given twice")
            emails.append(text)
        contacts["email"] = tuple(emails)
    if any(_RANKED.fullmatch(c) and c.startswith("phone") for c in values):
        numbers: list[str] = []
        for column, text in _ranked(values, "phone"):
            try:
                number = parse_phone(text)
            except ValueError as exc:
                raise ValueError(f"{column}: {exc}") from None
            if number in numbers:
                raise ValueError(f"{column}: the number {number} is given twice")
            numbers.append(number)
        contacts["phone"] = tuple(numbers)
    address_columns = [f"address_{n}" for n in range(1, ADDRESS_LINES + 1)] + ["postcode"]
    if any(column in values for column in address_columns):
        lines = [values[c] for c in address_columns if values.get(c)]
        contacts["address"] = ("\n".join(lines),) if lines else ()
    if "name" in values:
        contacts["name"] = (values["name"],) if values["name"] else ()
    return contacts


def _consents(values: Mapping[str, str], now: dt.datetime) -> tuple[ConsentRow, ...]:
    given = {}
    for column, scope in CONSENT_COLUMNS.items():
        text = values.get(column, "").lower()
        if not text:
            continue
        if text not in _YES | _NO:
            raise ValueError(f"{column}: '{values[column]}' is neither yes nor no")
        given[scope] = text in _YES
    if not given:
        return ()
    sheet = values.get("consent_sheet", "")
    if not sheet:
        raise ValueError("consent_sheet is empty: which version of the information sheet was it?")
    if len(sheet) > 50:
        raise ValueError("consent_sheet is longer than 50 characters")
    mode = values.get("consent_mode", "").lower()
    if mode not in CONSENT_MODES:
        raise ValueError(
            f"consent_mode '{values.get('consent_mode', '')}': how the consent was given, one of "
            + ", ".join(CONSENT_MODES)
        )
    at = _consent_time(values.get("consent_at", ""), now)
    return tuple(
        ConsentRow(scope=scope, given=yes, sheet_version=sheet, at=at, mode=mode)
        for scope, yes in given.items()
    )


def _consent_time(text: str, now: dt.datetime) -> dt.datetime:
    """``consent_at``: a date (midnight UTC) or a date and time with its offset; empty: ``now``."""
    if not text:
        return now
    try:
        if len(text) == 10:
            at = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), tzinfo=dt.UTC)
        else:
            at = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"consent_at '{text}' is not a date (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM+00:00)"
        ) from None
    if at.tzinfo is None:
        raise ValueError(f"consent_at '{text}' has no UTC offset (add Z or +01:00)")
    if at > now:
        raise ValueError(f"consent_at '{text}' is in the future")
    return at.astimezone(dt.UTC)
