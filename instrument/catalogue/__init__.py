"""One catalogue of the words the software itself says, in every language it speaks.

Questionnaire authors write their questions, options and check messages;
everything else a person reads or hears comes from here: the engine's
validation messages, the web mode's buttons and headings, the labels of the
missing-value codes in exported files, the built-in yes/no options. Each
language is a data module in this package (``en.py``, ``cy.py``: a module
name is a language tag, ``pt_BR`` for ``pt-BR``) holding ``STRINGS``:
domain -> message key -> text; ``endonyms.py`` names each language in itself,
for language pickers. A domain is the part of the software the words belong to (``engine``,
``web``, ...), so two parts may use the same key for different words.

English is complete, and every other language falls back to English message
by message, as does a language the catalogue does not have (``cy-GB`` looks
for ``cy`` first). Texts may hold ``{name}`` placeholders and nothing else
``str.format`` would read (no attributes, indexes, conversions or format
specs), so a translation can never reach into the values it is given; a
translation whose placeholders English does not have, or whose key English
does not know, is left out (English is used) and listed by :func:`problems`,
which the test suite requires to be empty.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import string
from collections.abc import Mapping
from typing import Any

from instrument.catalogue.endonyms import ENDONYMS

__all__ = [
    "CATALOGUE",
    "DEFAULT_LANGUAGE",
    "Catalogue",
    "Domain",
    "domain",
    "keys",
    "language_name",
    "language_names",
    "languages",
    "problems",
    "text",
]

DEFAULT_LANGUAGE = "en"
_TAG = re.compile(r"^[a-z]{2,3}(_[A-Za-z0-9]{2,8})*$")


def _placeholders(template: str) -> set[str] | None:
    """The ``{name}`` placeholders of ``template``, or ``None`` if it uses any other format syntax."""
    names: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:  # an unmatched brace
        return None
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            return None
        names.add(field)
    return names


class _Values(dict[str, Any]):
    """The values of one message: a placeholder given no value stays as written."""

    def __missing__(self, name: str) -> str:
        return "{" + name + "}"


class Domain:
    """The messages of one part of the software, looked up by language and key.

    Each known language's table is merged with English once, when the
    catalogue is read, so a lookup is two dictionary reads.
    """

    __slots__ = ("name", "_tables", "_english")

    def __init__(self, name: str, tables: Mapping[str, dict[str, str]]) -> None:
        self.name = name
        self._tables = dict(tables)
        self._english = self._tables[DEFAULT_LANGUAGE]

    def text(self, language: str, key: str, /, **values: Any) -> str:
        """The message ``key`` in ``language`` (English when it has none), its placeholders filled.

        :raises KeyError: for a key English does not have (a mistake in the caller).
        """
        tables = self._tables
        table = tables.get(language)
        if table is None:
            table = tables.get(language.split("-")[0].lower()) or self._english
        template = table[key]
        if not values:
            return template
        try:
            return template.format(**values)  # only {name} fields: checked when read
        except KeyError:
            return template.format_map(_Values(values))

    __call__ = text

    def keys(self) -> frozenset[str]:
        """Every message key of the domain (the English ones)."""
        return frozenset(self._english)


class Catalogue:
    """Every domain's messages in every language, checked against English when built.

    ``strings`` maps a language tag to that language's ``STRINGS``; English
    (``en``) must be there, complete. What a translation gets wrong is left
    out and listed in :attr:`problems`; English with format syntax other than
    ``{name}`` is a :class:`ValueError`.
    """

    def __init__(self, strings: Mapping[str, Mapping[str, Mapping[str, str]]]) -> None:
        english = strings[DEFAULT_LANGUAGE]
        for domain_name, messages in english.items():
            for key, template in messages.items():
                if _placeholders(template) is None:
                    raise ValueError(
                        f"catalogue: English '{domain_name}.{key}' uses format syntax "
                        "other than {name}"
                    )
        self.problems: list[str] = []
        tables: dict[str, dict[str, dict[str, str]]] = {name: {} for name in english}
        for language, own in strings.items():
            for domain_name in own.keys() - english.keys():
                self.problems.append(f"{language}: domain '{domain_name}' is not in English")
            for domain_name, messages in english.items():
                merged = dict(messages)
                for key, template in own.get(domain_name, {}).items():
                    problem = self._unusable(messages, key, template)
                    if problem:
                        self.problems.append(f"{language}: '{domain_name}.{key}' {problem}")
                    else:
                        merged[key] = template
                tables[domain_name][language] = merged
        self.domains = {name: Domain(name, by_language) for name, by_language in tables.items()}
        self.languages = tuple(sorted(strings, key=lambda tag: (tag != DEFAULT_LANGUAGE, tag)))

    @staticmethod
    def _unusable(english: Mapping[str, str], key: str, template: str) -> str:
        """Why a translation cannot be used ("" when it can)."""
        if key not in english:
            return "is not in English"
        names = _placeholders(template)
        wanted = _placeholders(english[key])
        assert wanted is not None
        if names is None or not names <= wanted:
            return f"has placeholders English does not give ({template!r}); English is used"
        return ""

    @classmethod
    def from_package(cls) -> Catalogue:
        """The catalogue of this package's language modules."""
        strings: dict[str, Mapping[str, Mapping[str, str]]] = {}
        for info in pkgutil.iter_modules(__path__):
            if _TAG.match(info.name):
                module = importlib.import_module(f"{__name__}.{info.name}")
                strings[info.name.replace("_", "-")] = module.STRINGS
        return cls(strings)


CATALOGUE = Catalogue.from_package()
"""The catalogue every part of the software reads."""


def domain(name: str) -> Domain:
    """The messages of one part of the software (``engine``, ``web``, ``dataset``, ``questionnaire``)."""
    return CATALOGUE.domains[name]


def text(language: str, domain_name: str, key: str, /, **values: Any) -> str:
    """One message: ``text("cy", "web", "continue")``."""
    return CATALOGUE.domains[domain_name].text(language, key, **values)


def keys(domain_name: str) -> frozenset[str]:
    """The message keys of a domain."""
    return CATALOGUE.domains[domain_name].keys()


def languages() -> tuple[str, ...]:
    """The languages the catalogue has words in (English first)."""
    return CATALOGUE.languages


def language_name(code: str) -> str:
    """A language's name for itself (``cy`` -> ``Cymraeg``), or the code when it is not known."""
    return ENDONYMS.get(code) or ENDONYMS.get(code.split("-")[0].lower()) or code


def language_names() -> dict[str, str]:
    """Every language named in itself, by code."""
    return dict(ENDONYMS)


def problems() -> list[str]:
    """Translations left out when the catalogue was read (empty when every one is usable)."""
    return list(CATALOGUE.problems)
