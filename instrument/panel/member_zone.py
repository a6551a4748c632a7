"""A panel member's own time zone, for the quiet hours of the messages sent to them.

A wave's quiet hours (``quiet_hours: 21:00-08:00``) are the member's local
hours, not the wave's: a member in New York invited by a London wave at 10:00
London time would be woken at 05:00. Members say where they are as the case
import's samples do (:mod:`instrument.fieldwork.zones`, the one rule): a
``time_zone`` column of the members file (an IANA name, checked at import),
else the zone of the UK postcode of their postal address, else the zone of a
``region`` column, else the wave's zone. ``time_zone`` and ``region`` are
profile variables (kept in clear with the member); the postcode is part of the
sealed address, so it is opened only for a member who has no ``time_zone``.

Pure: the caller passes the profile's two values and a way to open the
address; a value that gives no zone (a region the table does not know, a
stored zone this machine's zone database lacks) falls back to the next rule,
never stops the worker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from instrument.fieldwork.zones import checked_zone, region_zone, uk_postcode_zone

__all__ = ["REGION_VARIABLE", "ZONE_VARIABLE", "member_zone"]

ZONE_VARIABLE: Final = "time_zone"
"""The profile variable (the members file's column) that names a member's IANA zone."""

REGION_VARIABLE: Final = "region"
"""The profile variable whose value may name a region or country of one zone."""


def member_zone(
    time_zone: str | None,
    region: str | None,
    address: Callable[[], str | None] | None = None,
) -> str | None:
    """The member's zone, or None for the wave's.

    ``address`` opens the member's postal address (lines joined by newlines,
    the postcode last, as the members file's columns are stored), asked only
    when ``time_zone`` gives no zone.
    """
    if time_zone:
        try:
            return checked_zone(time_zone)
        except ValueError:
            pass
    if address is not None and (text := address()):
        found = uk_postcode_zone(text.rsplit("\n", 1)[-1])
        if found is not None:
            return found
    if region:
        return region_zone(region)
    return None
