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

import functools
import gettext
import string
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from instrument.catalogue.names import language_name, language_names
from instrument.catalogue.pofiles import read_po_texts, read_template

__all__ = [
    "CATALOGUE",
    "DEFAULT_LANGUAGE",
    "STAFF_DOMAINS",
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
STAFF_DOMAINS = frozenset({"phone", "panel"})
"""Domains of the staff's own screens (the interviewer's console around the script, the
supervisor's pages): shown in the staff member's language, which is not one a questionnaire
chooses, so a questionnaire's languages are never checked for them (the script itself is the
questionnaire's texts and the ``engine`` domain, which are). ``panel`` (a panel member's stop
link page) is left out for the same reason: it belongs to no questionnaire and is shown in
the member's language from our own catalogue."""
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


Text = str | tuple[str, ...]
"""One text: a string, or its plural forms (English: singular and plural; other languages as
many as their plural rule has, in gettext's order)."""


def _forms_placeholders(text: Text) -> set[str] | None:
    """The placeholders of every form of ``text`` (``None``: one form uses other format syntax)."""
    names: set[str] = set()
    for form in (text,) if isinstance(text, str) else text:
        found = _placeholders(form)
        if found is None:
            return None
        names |= found
    return names


class Plural:
    """A text with plural forms: the count is its first placeholder's value (``{n}`` answers).

    The form is chosen by the language's plural rule (CLDR's, through Babel),
    so Welsh has its six forms and Polish its three.
    """

    __slots__ = ("count", "forms", "rule")

    def __init__(self, forms: tuple[str, ...], count: str, language: str) -> None:
        self.forms = forms
        self.count = count
        self.rule = plural_rule(language)

    def pick(self, values: Mapping[str, Any]) -> str:
        """The form for the count among ``values`` (the last form without one)."""
        count = values.get(self.count)
        if not isinstance(count, int):
            return self.forms[-1]
        index = self.rule(count)
        return self.forms[index] if 0 <= index < len(self.forms) else self.forms[-1]


def _usable(text: Text, language: str) -> str | Plural:
    """A text as a lookup serves it: a string, or a :class:`Plural` with the language's rule."""
    if isinstance(text, str):
        return text
    first = _first_placeholder(text[0])
    return Plural(tuple(text), first[0] if first else "n", language)


def _first_placeholder(template: str) -> list[str]:
    """The first placeholder of ``template`` (the count of a plural text), as a list of 0 or 1."""
    for _literal, field, _spec, _conversion in string.Formatter().parse(template):
        if field:
            return [field]
    return []


@functools.lru_cache(maxsize=64)
def plural_rule(language: str) -> Callable[[int], int]:
    """``language``'s gettext plural rule: a count -> the index of its form (CLDR via Babel)."""
    from babel.core import UnknownLocaleError
    from babel.messages.plurals import get_plural

    try:
        found = get_plural(language.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        found = get_plural(DEFAULT_LANGUAGE)
    return gettext.c2py(found.plural_expr)


@functools.lru_cache(maxsize=64)
def plural_count(language: str) -> int:
    """How many plural forms ``language`` has (English 2, Welsh 6, Japanese 1)."""
    from babel.core import UnknownLocaleError
    from babel.messages.plurals import get_plural

    try:
        return get_plural(language.replace("-", "_")).num_plurals
    except (UnknownLocaleError, ValueError):
        return 2


class Domain:
    """The messages of one part of the software, looked up by language and key.

    Each known language's table is merged with English once, when the
    catalogue is read, so a lookup is two dictionary reads.
    """

    __slots__ = ("name", "_tables", "_english")

    def __init__(self, name: str, tables: Mapping[str, dict[str, str | Plural]]) -> None:
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
        if type(template) is Plural:
            template = template.pick(values)
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
        strings: Mapping[str, Mapping[str, Mapping[str, Text]]],
        *,
        supplied: Mapping[str, Mapping[str, Mapping[str, Text]]] | None = None,
    ) -> None:
        english = strings[DEFAULT_LANGUAGE]
        for domain_name, messages in english.items():
            for key, template in messages.items():
                if _forms_placeholders(template) is None:
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
        tables: dict[str, dict[str, dict[str, str | Plural]]] = {name: {} for name in english}
        for language in {*strings, *self.supplied}:
            base = language.split("-")[0].lower()
            inherited = [] if base == language else [strings.get(base), self.supplied.get(base)]
            own = [strings.get(language), self.supplied.get(language)]
            for layer in filter(None, own):
                for domain_name in layer.keys() - english.keys():
                    self.problems.append(f"{language}: domain '{domain_name}' is not in English")
            usable: set[str] = set()
            for domain_name, messages in english.items():
                merged = {key: _usable(text, DEFAULT_LANGUAGE) for key, text in messages.items()}
                for layer in inherited + own:
                    for key, template in (layer or {}).get(domain_name, {}).items():
                        problem = self._unusable(messages, key, template, language)
                        if problem:
                            if any(layer is mine for mine in own):  # else the base reports it
                                self.problems.append(f"{language}: '{domain_name}.{key}' {problem}")
                        else:
                            merged[key] = _usable(template, language)
                            usable.add(f"{domain_name}.{key}")
                tables[domain_name][language] = merged
            self.translated[language] = frozenset(usable)
        self.domains = {name: Domain(name, by_language) for name, by_language in tables.items()}
        self.languages = tuple(
            sorted(tables[next(iter(english))], key=lambda tag: (tag != DEFAULT_LANGUAGE, tag))
        )

    def extended(self, supplied: Mapping[str, Mapping[str, Mapping[str, Text]]]) -> Catalogue:
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

    def english(self) -> dict[str, dict[str, Text]]:
        """Every English text: domain -> key -> text (plural texts as their two forms)."""
        return {name: dict(messages) for name, messages in self.strings[DEFAULT_LANGUAGE].items()}

    def own(self, language: str) -> dict[str, dict[str, Text]]:
        """``language``'s own translations, as written (its language's under a regional tag's)."""
        base = language.split("-")[0].lower()
        layers = [self.strings.get(base), self.supplied.get(base)] if base != language else []
        layers += [self.strings.get(language), self.supplied.get(language)]
        found: dict[str, dict[str, Text]] = {}
        for layer in filter(None, layers):
            for domain_name, messages in layer.items():
                found.setdefault(domain_name, {}).update(messages)
        return found

    def missing(self, language: str, *, skip: frozenset[str] = frozenset()) -> list[str]:
        """The texts (``domain.key``) ``language`` shows in English, for want of a translation.

        A regional tag uses its language's texts (``cy-GB``: ``cy``'s). Domains
        in ``skip`` are left out.
        """
        if language.split("-")[0].lower() == DEFAULT_LANGUAGE:
            return []
        have = self.translated.get(language)
        if have is None:
            have = self.translated.get(language.split("-")[0].lower(), frozenset())
        return [
            f"{domain_name}.{key}"
            for domain_name, messages in self.strings[DEFAULT_LANGUAGE].items()
            if domain_name not in skip
            for key in messages
            if f"{domain_name}.{key}" not in have
        ]

    @staticmethod
    def _unusable(english: Mapping[str, Text], key: str, template: Text, language: str) -> str:
        """Why a translation cannot be used ("" when it can)."""
        if key not in english:
            return "is not in English"
        plural = not isinstance(english[key], str)
        if plural != (not isinstance(template, str)):
            kind = "plural forms" if plural else "one form"
            return f"must have {kind}, as the English has; English is used"
        if plural and len(template) != plural_count(language):
            return (
                f"has {len(template)} plural forms where '{language}' has "
                f"{plural_count(language)}; English is used"
            )
        names = _forms_placeholders(template)
        wanted = _forms_placeholders(english[key])
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
