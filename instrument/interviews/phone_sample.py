"""The telephone columns of a case file: numbers, name, time zone, language, priority.

A sample for telephone fieldwork carries, beside ``case_id`` and the preload
columns, ``phone``, ``phone_2``, ``phone_3``... (the numbers in the order to
try them), ``name`` (who to ask for), the respondent's zone as ``time_zone``
(IANA, e.g. ``Europe/Dublin``) or ``postcode`` or ``region``, ``language``
and ``priority``. Numbers are parsed with Google's libphonenumber
(``phonenumbers``) and kept in E.164, the one spelling the do-not-call list
and duplicate checks can compare; a number written without its country code
is read in the ``--region`` given (GB by default).

Calling hours are the respondent's local hours, so every case needs a zone.
The order: ``time_zone`` if given, else the zone of a UK ``postcode``, else
the zone of a ``region`` (a small table: the UK's nations and regions and ISO
country codes of one zone), else the study's default zone; the rule is
:func:`instrument.fieldwork.zones.zone_of`, which panel members' zones share.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from instrument.fieldwork.numbers import e164
from instrument.fieldwork.zones import REGION_ZONES, zone_of

__all__ = [
    "PHONE_COLUMN",
    "REGION_ZONES",
    "TELEPHONE_COLUMNS",
    "PhoneDetails",
    "is_telephone_column",
    "parse_number",
    "phone_details",
]

PHONE_COLUMN: Final = re.compile(r"phone(?:_([2-9]))?")
"""``phone`` is the first choice, ``phone_2`` to ``phone_9`` the next ones."""

TELEPHONE_COLUMNS: Final = frozenset(
    {"name", "time_zone", "postcode", "region", "language", "priority"}
)


@dataclass(frozen=True, slots=True)
class PhoneDetails:
    """A row's telephone columns, checked: numbers in E.164, first choice first."""

    numbers: tuple[str, ...]
    name: str | None
    zone: str
    language: str | None
    priority: int


def is_telephone_column(name: str) -> bool:
    return name in TELEPHONE_COLUMNS or PHONE_COLUMN.fullmatch(name) is not None


def parse_number(text: str, region: str) -> str:
    """``text`` as an E.164 number, read in ``region`` when it has no country code.

    ValueError saying what is wrong: not a number, or not one that can be
    dialled (libphonenumber's ``is_valid_number``: right length and prefix);
    the rule a study's own numbers are checked by too
    (:func:`~instrument.fieldwork.numbers.e164`).
    """
    return e164(text, region)


def phone_details(
    values: Mapping[str, str],
    *,
    region: str,
    default_zone: str,
    languages: tuple[str, ...],
) -> PhoneDetails:
    """Check a row's telephone cells (already stripped; empty means not given).

    ValueError with the first problem, worded for ``file:line: ...``.
    """
    ranked = sorted(
        (int(match.group(1) or 1), column)
        for column in values
        if (match := PHONE_COLUMN.fullmatch(column))
    )
    numbers = []
    for _, column in ranked:
        if text := values[column]:
            try:
                numbers.append(parse_number(text, region))
            except ValueError as exc:
                raise ValueError(f"{column}: {exc}") from None
    for rank, number in enumerate(numbers):
        if number in numbers[:rank]:
            raise ValueError(f"the number {number} is given twice")
    language = values.get("language") or None
    if language is not None and languages and language not in languages:
        raise ValueError(
            f"language '{language}' is not one of the questionnaire's: {', '.join(languages)}"
        )
    priority_text = values.get("priority", "")
    try:
        priority = int(priority_text) if priority_text else 0
    except ValueError:
        raise ValueError(f"priority '{priority_text}' is not a whole number") from None
    return PhoneDetails(
        numbers=tuple(numbers),
        name=values.get("name") or None,
        zone=zone_of(values, default_zone),
        language=language,
        priority=priority,
    )
