"""Reading and writing the catalogue's gettext files (``.pot`` and ``.po``) through Babel.

Each message is one gettext entry: ``msgctxt`` is its stable key, ``domain.key``
(``web.continue``), the key the code looks it up by; ``msgid`` is the English
text, so a translator's tool (Poedit, Weblate, a text editor) shows what to
translate; ``msgstr`` is the translation. The English template
(``locales/messages.pot``) is where the English texts are kept.

A translation counts only while its ``msgid`` is the English text of today:
when the English wording changes, the old translation is *outdated* and
English is shown until it is translated again (as gettext's own tools would
mark it fuzzy). Files are read as they are, at run time: no compiled ``.mo``
files, so a researcher's file beside a questionnaire is read the same way as
ours and there is no build step.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "PoSyntaxError",
    "PoTexts",
    "parse_po_texts",
    "read_po_texts",
    "read_template",
    "write_po_texts",
]

Text = str | tuple[str, ...]
"""A text, or its plural forms (``msgid``/``msgid_plural``, ``msgstr[0]``, ``msgstr[1]``...)."""
Strings = dict[str, dict[str, Text]]
"""domain -> key -> text."""


@dataclass
class PoTexts:
    """What one ``.po`` file gives: its usable texts and what is wrong with the rest.

    ``problems`` are (line, message) pairs; ``untranslated`` and ``outdated``
    name entries (``domain.key``) that give nothing yet.
    """

    path: str
    strings: Strings = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[int, str]] = field(default_factory=list)
    untranslated: list[str] = field(default_factory=list)
    outdated: list[str] = field(default_factory=list)


class PoSyntaxError(ValueError):
    """A file that is not gettext's format; ``line`` (from 1) is where reading stopped."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


def _catalog(data: bytes, path: str):  # -> babel's Catalog, imported when first needed
    from babel.messages.pofile import PoFileError, read_po

    try:  # abort: Babel would otherwise print its complaints to standard output
        return read_po(io.BytesIO(data), abort_invalid=True)
    except PoFileError as exc:
        problem = re.sub(r" on \d+$", "", str(exc))
        raise PoSyntaxError(f"not a readable .po file: {problem}", exc.lineno + 1) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise PoSyntaxError(f"not a readable .po file: {exc}", 1) from exc


def _split(context: str | None) -> tuple[str, str] | None:
    if not context or "." not in context:
        return None
    domain, key = context.split(".", 1)
    return (domain, key) if domain and key else None


def read_template(path: Path) -> Strings:
    """The English texts of the template: domain -> key -> msgid."""
    english: Strings = {}
    for message in _catalog(path.read_bytes(), str(path)):
        where = _split(message.context)
        if message.id and where is not None:
            english.setdefault(where[0], {})[where[1]] = (
                message.id if isinstance(message.id, str) else tuple(message.id)
            )
    return english


def read_po_texts(path: Path | str, english: Mapping[str, Mapping[str, Text]]) -> PoTexts:
    """The translations in the file ``path`` (see :func:`parse_po_texts`).

    :raises OSError: the file cannot be read.
    """
    return parse_po_texts(Path(path).read_bytes(), str(path), english)


def parse_po_texts(data: bytes, name: str, english: Mapping[str, Mapping[str, Text]]) -> PoTexts:
    """The translations in ``data`` (a ``.po`` file called ``name``) that match today's English,
    and the entries that do not.

    :raises PoSyntaxError: ``data`` cannot be read as a ``.po`` file at all.
    """
    found = PoTexts(name)
    _report_repeats(data, found)
    for message in _catalog(data, name):
        if not message.id:
            continue  # the header
        line = message.lineno or 1
        where = _split(message.context)
        name = message.context or ""
        if where is None or where[1] not in english.get(where[0], {}):
            found.problems.append(
                (line, f"msgctxt {name!r} is not an interface text (none has that key)")
            )
            continue
        source = message.id if isinstance(message.id, str) else tuple(message.id)
        if source != english[where[0]][where[1]]:
            found.outdated.append(name)  # the English changed, or gained or lost plural forms
            continue
        text = message.string if isinstance(message.string, str) else tuple(message.string or ())
        if not any(text) or message.fuzzy:
            found.untranslated.append(name)
            continue
        found.strings.setdefault(where[0], {})[where[1]] = text
        found.lines[name] = line
    return found


_CONTEXT_LINE = re.compile(rb'^msgctxt "(.*)"\s*$', re.MULTILINE)


def _report_repeats(data: bytes, found: PoTexts) -> None:
    """An entry written twice (Babel keeps the last without a word): the repeat is a problem."""
    seen: set[bytes] = set()
    for match in _CONTEXT_LINE.finditer(data):
        if match.group(1) in seen:
            line = data.count(b"\n", 0, match.start()) + 1
            name = match.group(1).decode("utf-8", "replace")
            found.problems.append((line, f"{name} is written twice; the last one is used"))
        seen.add(match.group(1))


def write_po_texts(
    english: Mapping[str, Mapping[str, Text]],
    translated: Mapping[str, Mapping[str, Text]],
    *,
    language: str | None,
    comments: Mapping[str, str] | None = None,
) -> bytes:
    """A ``.po`` file (or, with ``language=None``, the ``.pot`` template) of every English text.

    ``translated`` fills in the ``msgstr`` of the texts it has; the others are left empty.
    """
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    catalog = Catalog(
        locale=language.replace("-", "_") if language else None,
        project="survey-instrument",
        header_comment=(
            "# The interface texts of survey-instrument"
            + (f", in '{language}'." if language else ": the English template.")
            + "\n# msgctxt is the text's key, msgid the English, msgstr the translation."
            + "\n# Keep {names} in braces exactly as in the English."
        ),
        fuzzy=False,
    )
    for domain, messages in english.items():
        for key, text in messages.items():
            name = f"{domain}.{key}"
            done = translated.get(domain, {}).get(key)
            if not isinstance(text, str) and (done is None or isinstance(done, str)):
                done = None  # Babel writes as many empty forms as the language has
            catalog.add(
                text,
                "" if done is None and isinstance(text, str) else done,
                flags=("python-brace-format",) if "{" in "".join(text) else (),
                auto_comments=[comments[name]] if comments and name in comments else [],
                context=name,
            )
    out = io.BytesIO()
    write_po(out, catalog, width=0, omit_header=False, include_lineno=False)
    return out.getvalue()
