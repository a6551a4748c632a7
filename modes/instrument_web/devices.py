"""The coarse device class recorded with web paradata."""

from __future__ import annotations

import re

__all__ = ["device_class"]

_TABLET = re.compile(r"iPad|Tablet|PlayBook|Silk|Kindle|(Android(?!.*Mobile))", re.IGNORECASE)
_MOBILE = re.compile(r"Mobi|iPhone|iPod|Android|Windows Phone|BlackBerry|Opera Mini", re.IGNORECASE)


def device_class(user_agent: str | None) -> str:
    """A coarse device class from the User-Agent: ``mobile``, ``tablet`` or ``desktop``.

    Coarse on purpose: paradata needs to know whether a page was answered on
    a phone, not which phone; nothing identifying is kept.
    """
    ua = user_agent or ""
    if _TABLET.search(ua):
        return "tablet"
    if _MOBILE.search(ua):
        return "mobile"
    return "desktop"
