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
the zone of a ``region`` (a small table below: the UK's nations and regions
and ISO country codes of one zone), else the study's default zone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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

_UK: Final = "Europe/London"
REGION_ZONES: Final[Mapping[str, str]] = {
    # The United Kingdom, its nations and English regions (ONS names).
    **dict.fromkeys(
        (
            "gb", "uk", "united kingdom", "great britain", "england", "scotland", "wales",
            "northern ireland", "north east", "north west", "yorkshire and the humber",
            "east midlands", "west midlands", "east of england", "east", "london",
            "south east", "south west",
        ),
        _UK,
    ),  # fmt: skip
    "gg": "Europe/Guernsey",
    "guernsey": "Europe/Guernsey",
    "je": "Europe/Jersey",
    "jersey": "Europe/Jersey",
    "im": "Europe/Isle_of_Man",
    "isle of man": "Europe/Isle_of_Man",
    # ISO 3166 countries with a single zone, for European and nearby samples.
    "ie": "Europe/Dublin", "ireland": "Europe/Dublin",
    "fr": "Europe/Paris", "de": "Europe/Berlin", "nl": "Europe/Amsterdam",
    "be": "Europe/Brussels", "lu": "Europe/Luxembourg", "it": "Europe/Rome",
    "at": "Europe/Vienna", "ch": "Europe/Zurich", "dk": "Europe/Copenhagen",
    "se": "Europe/Stockholm", "no": "Europe/Oslo", "fi": "Europe/Helsinki",
    "pl": "Europe/Warsaw", "cz": "Europe/Prague", "sk": "Europe/Bratislava",
    "hu": "Europe/Budapest", "si": "Europe/Ljubljana", "hr": "Europe/Zagreb",
    "gr": "Europe/Athens", "ro": "Europe/Bucharest", "bg": "Europe/Sofia",
    "ee": "Europe/Tallinn", "lv": "Europe/Riga", "lt": "Europe/Vilnius",
    "mt": "Europe/Malta", "cy": "Asia/Nicosia", "is": "Atlantic/Reykjavik",
    # Spain and Portugal have islands in other zones: their mainland zone.
    "es": "Europe/Madrid", "pt": "Europe/Lisbon",
}  # fmt: skip
"""Region names and ISO country codes (lower case) to the zone of their calling hours."""

# The UK postcode format (outward code, space optional, inward code), as Royal Mail writes it.
_UK_POSTCODE: Final = re.compile(r"([A-Z]{1,2})[0-9][A-Z0-9]? ?[0-9][A-Z]{2}")
_CROWN_DEPENDENCIES: Final = {
    "GY": "Europe/Guernsey",
    "JE": "Europe/Jersey",
    "IM": "Europe/Isle_of_Man",
}


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
    dialled (libphonenumber's ``is_valid_number``: right length and prefix).
    """
    # Imported here: only a telephone sample needs it, and loading the case
    # file module (every import, web samples too) should not load its metadata.
    import phonenumbers

    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"'{text}' is not a phone number ({exc._msg})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(
            f"'{text}' is not a valid phone number (country code +{parsed.country_code}: "
            "wrong length or prefix)"
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _zone(values: Mapping[str, str], default_zone: str) -> str:
    if zone := values.get("time_zone", ""):
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone '{zone}' (an IANA name such as Europe/London)"
            ) from None
        return zone
    if postcode := values.get("postcode", ""):
        match = _UK_POSTCODE.fullmatch(postcode.upper())
        if match is None:
            raise ValueError(
                f"'{postcode}' is not a UK postcode; outside the UK give time_zone or region"
            )
        return _CROWN_DEPENDENCIES.get(match.group(1), _UK)
    if region := values.get("region", ""):
        zone = REGION_ZONES.get(region.strip().lower())
        if zone is None:
            raise ValueError(
                f"unknown region '{region}': give its time_zone instead (docs/cases.md "
                "lists the region names and country codes known)"
            )
        return zone
    return default_zone


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
        zone=_zone(values, default_zone),
        language=language,
        priority=priority,
    )
