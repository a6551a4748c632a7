"""How many parts (each billed) a text message is sent in, and why.

One rule for everyone who counts: the SMS contact channel's advice on a
wave's templates, ``instrument check``'s advice on questions asked by text,
and the SMS interview mode. GSM 03.38's default alphabet costs one septet a
character and its escape table two; a single character outside both (Welsh
ŵ and ŷ, curly quotes, emoji) puts the whole text in UCS-2, two bytes a
character. Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Segments", "outside_gsm", "sms_segments"]

_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class Segments:
    """How a text travels.

    :param encoding: ``GSM-7`` or ``UCS-2``.
    :param units: septets (GSM-7, an escaped character counts two) or UTF-16
        code units (UCS-2, an emoji counts two).
    :param segments: the parts it is sent (and billed) as: one part holds
        160 septets or 70 units, each part of a longer text 153 or 67.
    """

    encoding: str
    units: int
    segments: int


def _pack(costs: Iterable[int], single: int, part: int) -> int:
    """Parts needed when no character may be split between two parts."""
    costs = list(costs)
    if sum(costs) <= single:
        return 1 if costs else 0
    parts, used = 1, 0
    for cost in costs:
        if used + cost > part:
            parts, used = parts + 1, 0
        used += cost
    return parts


def outside_gsm(text: str) -> list[str]:
    """The characters of *text* outside the GSM alphabet (each makes it UCS-2), sorted."""
    return sorted({ch for ch in text if ch not in _GSM_BASIC and ch not in _GSM_EXTENDED})


def sms_segments(text: str) -> Segments:
    """The encoding, length and number of parts of *text* as an SMS."""
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in text):
        costs = [2 if ch in _GSM_EXTENDED else 1 for ch in text]
        return Segments("GSM-7", sum(costs), _pack(costs, 160, 153))
    costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return Segments("UCS-2", sum(costs), _pack(costs, 70, 67))
