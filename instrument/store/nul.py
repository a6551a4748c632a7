"""NUL characters are refused before anything is written, alike on every backend.

PostgreSQL cannot store NUL (``"\\x00"``) in text at all (psycopg refuses the
parameter; ``jsonb`` refuses ``\\u0000``), while SQLite stores it and hands it
to exports and statistics packages that choke on it. So the store refuses a
NUL in any text it writes, with :class:`NulCharacterRefused` naming the field,
and treats a NUL in a text it looks up as "not found": no stored text holds one.

JSON values (states, event values, preloads) are checked inside, keys included.
For a state, the check reads the JSON text the save writes anyway: the
serializer escapes NUL as ``\\u0000``, so one substring search clears an
ordinary state, and only a hit walks the value to name where it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from instrument.store.records import NewEvent, NulCharacterRefused

__all__ = [
    "NUL",
    "escaped_nul_among",
    "escaped_nul_in",
    "has_nul",
    "json_nul_path",
    "refuse_nul",
    "refuse_nul_in_events",
    "refuse_nul_in_json",
]

NUL: Final = "\x00"
_ESCAPED_NUL: Final = "\\u0000"


def refuse_nul(field: str, text: str | None) -> None:
    """Raise :class:`NulCharacterRefused` if ``text`` holds a NUL."""
    if text is not None and NUL in text:
        raise NulCharacterRefused(field)


def has_nul(value: Any) -> bool:
    """Whether a JSON value holds a NUL in a string or key (builds no names: the fast check)."""
    kind = type(value)
    if kind is str:
        return NUL in value
    if value is None or kind is int or kind is float or kind is bool:
        return False
    if isinstance(value, dict):
        for key, item in value.items():
            if (type(key) is str and NUL in key) or has_nul(item):
                return True
        return False
    if isinstance(value, (list, tuple)):
        for item in value:
            if has_nul(item):
                return True
    return False


def json_nul_path(value: Any, path: str = "") -> str | None:
    """Where the first NUL in a JSON value is (``"answers.q7"``, ``"[2]"``, ``""`` for the top), or None."""
    if isinstance(value, str):
        return path if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and NUL in key:
                return where
            found = json_nul_path(item, where)
            if found is not None:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = json_nul_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def escaped_nul_in(text: str) -> bool:
    """Whether JSON text written by the store's serializer holds an escaped NUL (``\\u0000``).

    Most texts hold no backslash at all, and looking for one character is a
    ``memchr``; the six-character search (slower, as digits are common in
    states) runs only when there is one.
    """
    return "\\" in text and _ESCAPED_NUL in text


def escaped_nul_among(texts: Sequence[str | None]) -> bool:
    """Whether any of these JSON texts (None: no text) holds an escaped NUL; see :func:`escaped_nul_in`."""
    for text in texts:
        if text is not None and "\\" in text and _ESCAPED_NUL in text:
            return True
    return False


def refuse_nul_in_json(field: str, value: Any, text: str | None = None) -> None:
    """Raise :class:`NulCharacterRefused` if a JSON value holds a NUL in a string or key.

    ``text``, when given, is ``value`` serialised by the store's serializer:
    without an escaped NUL in it there is none in the value, and nothing is walked.
    """
    if text is not None and not escaped_nul_in(text):
        return
    if has_nul(value):
        where = json_nul_path(value)
        raise NulCharacterRefused(f"{field} {where}" if where else field)


def refuse_nul_in_events(
    events: Sequence[NewEvent], value_texts: Sequence[str | None] | None = None
) -> None:
    """Raise :class:`NulCharacterRefused` if any event to be saved holds a NUL (``"event 2 value"``).

    ``value_texts``, when given, are the events' values serialised by the
    store's serializer (None for no value), as they will be written: then the
    values are checked in their text and never walked. On every save, so the
    common case is plain ``in`` tests; names are only built for the event that
    holds a NUL.
    """
    for number, item in enumerate(events, start=1):
        text = value_texts[number - 1] if value_texts is not None else None
        if (
            NUL in item.kind
            or NUL in item.actor
            or (item.variable is not None and NUL in item.variable)
            or (item.mode is not None and NUL in item.mode)
            or (escaped_nul_in(text) if text is not None else has_nul(item.value))
        ):
            for part, field_text in (
                ("kind", item.kind),
                ("variable", item.variable),
                ("actor", item.actor),
                ("mode", item.mode),
            ):
                refuse_nul(f"event {number} {part}", field_text)
            refuse_nul_in_json(f"event {number} value", item.value)
