"""A respondent's time zone from what a sample or a panel knows of them: zone, postcode, region.

Calling hours and a panel wave's quiet hours are the respondent's local hours,
so the case import (``instrument cases import``) and the fieldwork worker (for
panel members) both need a zone per person. The rule is one, here: a
``time_zone`` (IANA, e.g. ``Europe/Dublin``) if given, else the zone of a UK
``postcode``, else the zone of a ``region`` (a small table: the UK's nations
and regions and ISO country codes of one zone), else the default. Pure: no
database, the zone database only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["REGION_ZONES", "checked_zone", "region_zone", "uk_postcode_zone", "zone_of"]

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


def checked_zone(name: str) -> str:
    """``name`` if it is an IANA zone this machine knows; ValueError saying so otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone '{name}' (an IANA name such as Europe/London)"
        ) from None
    return name


def uk_postcode_zone(postcode: str) -> str | None:
    """The zone of a UK postcode (the Crown Dependencies' own), None if it is not one."""
    match = _UK_POSTCODE.fullmatch(postcode.strip().upper())
    if match is None:
        return None
    return _CROWN_DEPENDENCIES.get(match.group(1), _UK)


def region_zone(region: str) -> str | None:
    """The zone of a region name or ISO country code in :data:`REGION_ZONES`, None if unknown."""
    return REGION_ZONES.get(region.strip().lower())


def zone_of(values: Mapping[str, str], default_zone: str) -> str:
    """The zone of a case file's row: ``time_zone``, else ``postcode``, else ``region``.

    Empty cells count as not given; ValueError naming a value that gives no zone.
    """
    if zone := values.get("time_zone", ""):
        return checked_zone(zone)
    if postcode := values.get("postcode", ""):
        found = uk_postcode_zone(postcode)
        if found is None:
            raise ValueError(
                f"'{postcode}' is not a UK postcode; outside the UK give time_zone or region"
            )
        return found
    if region := values.get("region", ""):
        found = region_zone(region)
        if found is None:
            raise ValueError(
                f"unknown region '{region}': give its time_zone instead (docs/cases.md "
                "lists the region names and country codes known)"
            )
        return found
    return default_zone
