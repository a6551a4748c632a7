"""One catalogue of the words the software itself says, in every language it speaks.

Questionnaire authors write their questions, options and check messages;
everything else a person reads or hears comes from here: the engine's
validation messages, the web mode's buttons and headings, the console's
prompts, the labels of the missing-value codes in exported files, the
built-in yes/no options. The texts are gettext catalogues read through Babel
(:mod:`instrument.catalogue.pofiles`): ``locales/messages.pot`` holds the
English, ``locales/<language>.po`` a translation (``cy.po``; ``pt-BR`` is
``pt_BR.po``). Each text has a key, ``domain.key``: a domain is the part of
the software the words belong to (``engine``, ``web``, ...), so two parts may
use the same key for different words.

English is complete, and every other language falls back to English message
by message, as does a language the catalogue does not have (``cy-GB`` looks
for ``cy`` first). A researcher's own texts for a questionnaire (a ``.po``
file beside it, docs/languages.md) extend the catalogue for that
questionnaire only (:meth:`Catalogue.extended`). Texts may hold ``{name}``
placeholders and nothing else ``str.format`` would read (no attributes,
indexes, conversions or format specs), so a translation can never reach into
the values it is given; a translation whose placeholders English does not
have, or whose key English does not know, is left out (English is used) and
listed by :func:`problems`, which the test suite requires to be empty.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from instrument.catalogue.names import language_name, language_names
from instrument.catalogue.pofiles import read_po_texts, read_template

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
LOCALES = Path(__file__).resolve().parent / "locales"
"""The shipped catalogue: ``messages.pot`` (English) and one ``.po`` file per translation."""
TEMPLATE = LOCALES / "messages.pot"


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

    ``strings`` maps a language tag to its texts (domain -> key -> text);
    English (``en``) must be there, complete. What a translation gets wrong is
    left out and listed in :attr:`problems`; English with format syntax other
    than ``{name}`` is a :class:`ValueError`. A regional tag (``cy-GB``) has its
    language's texts (``cy``'s) under its own.
    """

    def __init__(
        self,
        strings: Mapping[str, Mapping[str, Mapping[str, str]]],
        *,
        supplied: Mapping[str, Mapping[str, Mapping[str, str]]] | None = None,
    ) -> None:
        english = strings[DEFAULT_LANGUAGE]
        for domain_name, messages in english.items():
            for key, template in messages.items():
                if _placeholders(template) is None:
                    raise ValueError(
                        f"catalogue: English '{domain_name}.{key}' uses format syntax "
                        "other than {name}"
                    )
        self.strings = strings
        self.supplied = dict(supplied or {})
        """A researcher's texts laid over the shipped ones, by language (see :meth:`extended`)."""
        self.problems: list[str] = []
        self.translated: dict[str, frozenset[str]] = {}
        """Each language's usable texts, as ``domain.key``."""
        tables: dict[str, dict[str, dict[str, str]]] = {name: {} for name in english}
        for language in {*strings, *self.supplied}:
            base = language.split("-")[0].lower()
            inherited = [] if base == language else [strings.get(base), self.supplied.get(base)]
            own = [strings.get(language), self.supplied.get(language)]
            for layer in filter(None, own):
                for domain_name in layer.keys() - english.keys():
                    self.problems.append(f"{language}: domain '{domain_name}' is not in English")
            usable: set[str] = set()
            for domain_name, messages in english.items():
                merged = dict(messages)
                for layer in inherited + own:
                    for key, template in (layer or {}).get(domain_name, {}).items():
                        problem = self._unusable(messages, key, template)
                        if problem:
                            if any(layer is mine for mine in own):  # else the base reports it
                                self.problems.append(f"{language}: '{domain_name}.{key}' {problem}")
                        else:
                            merged[key] = template
                            usable.add(f"{domain_name}.{key}")
                tables[domain_name][language] = merged
            self.translated[language] = frozenset(usable)
        self.domains = {name: Domain(name, by_language) for name, by_language in tables.items()}
        self.languages = tuple(
            sorted(tables[next(iter(english))], key=lambda tag: (tag != DEFAULT_LANGUAGE, tag))
        )

    def extended(self, supplied: Mapping[str, Mapping[str, Mapping[str, str]]]) -> Catalogue:
        """This catalogue with a researcher's texts over it: language -> domain -> key -> text.

        A supplied text wins over a shipped one, so a questionnaire may reword
        "Continue" in Welsh as well as bring Swahili.
        """
        if not supplied:
            return self
        return Catalogue(self.strings, supplied=supplied)

    def domain(self, name: str) -> Domain:
        """The messages of one part of the software (``engine``, ``web``, ...)."""
        return self.domains[name]

    def english(self) -> dict[str, dict[str, str]]:
        """Every English text: domain -> key -> text."""
        return {name: dict(messages) for name, messages in self.strings[DEFAULT_LANGUAGE].items()}

    def missing(self, language: str) -> list[str]:
        """The texts (``domain.key``) ``language`` shows in English, for want of a translation.

        A regional tag uses its language's texts (``cy-GB``: ``cy``'s).
        """
        if language.split("-")[0].lower() == DEFAULT_LANGUAGE:
            return []
        have = self.translated.get(language)
        if have is None:
            have = self.translated.get(language.split("-")[0].lower(), frozenset())
        return [
            f"{domain_name}.{key}"
            for domain_name, messages in self.strings[DEFAULT_LANGUAGE].items()
            for key in messages
            if f"{domain_name}.{key}" not in have
        ]

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
        """The shipped catalogue: the English template and every translation beside it.

        What a shipped file gets wrong (an outdated or unknown entry) is listed
        in :attr:`problems`, as a researcher's file is by ``instrument check``.
        """
        english = read_template(TEMPLATE)
        strings: dict[str, Mapping[str, Mapping[str, str]]] = {DEFAULT_LANGUAGE: english}
        problems: list[str] = []
        for path in sorted(LOCALES.glob("*.po")):
            texts = read_po_texts(path, english)
            strings[path.stem.replace("_", "-")] = texts.strings
            problems += [f"{path.name}:{line}: {message}" for line, message in texts.problems]
            problems += [f"{path.name}: '{name}' is outdated" for name in texts.outdated]
        built = cls(strings)
        built.problems[:0] = problems
        return built


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


def problems() -> list[str]:
    """Translations left out when the catalogue was read (empty when every one is usable)."""
    return list(CATALOGUE.problems)
