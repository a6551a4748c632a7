"""Each language's name for itself (its endonym), as a language picker shows it.

The names come from the Unicode CLDR through Babel, so every language has
one ("Cymraeg", "Kiswahili", "Português (Brasil)"), with no list of our own
to keep. A language picker shows them capitalised, as a menu item starts,
and names a region only to tell two variants of one language apart.
"""

from __future__ import annotations

import functools

__all__ = ["language_name", "language_names"]


@functools.lru_cache(maxsize=256)
def language_name(code: str) -> str:
    """``code``'s name in itself (``cy`` -> ``Cymraeg``), or the code when CLDR does not know it."""
    from babel import Locale, UnknownLocaleError

    try:
        locale = Locale.parse(code.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return code
    name = locale.get_display_name(locale) or code
    return name[:1].upper() + name[1:]


def language_names(codes: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Each of ``codes`` named in itself, for a language picker.

    ``cy-GB`` is "Cymraeg" unless another Welsh is on offer too, when the
    region tells them apart ("Cymraeg (Y Deyrnas Unedig)").
    """
    bases = [code.split("-")[0].lower() for code in codes]
    return {
        code: language_name(code if bases.count(base) > 1 else base)
        for code, base in zip(codes, bases, strict=True)
    }
