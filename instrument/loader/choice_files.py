"""Choice lists read from a CSV file next to the questionnaire (``districts: {file: districts.csv}``).

Long lists (thousands of districts, occupations, medicines) are kept in a
spreadsheet, not typed into YAML. The file's columns are ``code``, ``label``
(the default language), ``label::<language>`` for the others, and any other
column becomes an option attribute for choice filters. Every bad row is
reported as ``file.csv:ROW:COLUMN``.

A questionnaire stored with an interview must reload exactly as it ran, files
included, so the files read are attached to its source text as YAML comments
(:mod:`.attachments`); loading that text uses the attached copies and never the disk.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path, PurePosixPath
from typing import Any

from instrument.diagnostics import Position
from instrument.model import ChoiceList, Option, Text
from instrument.names import MAX_VALUE_LABEL
from instrument.texts import TextTemplate
from instrument.yamlsrc import YMap

from .texts import Texts

__all__ = ["ChoiceFiles"]

MAX_FILE_BYTES = 20_000_000
MAX_ROWS = 100_000
MAX_REPORTED = 20
"""Problems reported per file; a file with more is probably not the file meant."""

_INTEGER_TEXT = frozenset("0123456789")


class ChoiceFiles(Texts):
    """Reads ``{file: name.csv}`` choice lists, from the disk or from the source's attachments."""

    def choice_file(self, m: YMap, name: str, what: str) -> ChoiceList | None:
        self.check_keys(m, ("file",), what, required=("file",))
        relative = self.scalar(m.get("file"), str, f"the file of {what}")
        if relative is None:
            return None
        problem = _path_problem(relative)
        if problem:
            self.err(m.where("file"), f"the file of {what}: {problem}")
            return None
        text = self.attached.get(relative)
        shown = relative
        if text is None:
            text, shown = self._read(relative, m, what)
            if text is None:
                return None
            self.files_read[relative] = text
        return self._parse(text, shown, name, what, m)

    def _read(self, relative: str, m: YMap, what: str) -> tuple[str | None, str]:
        if self.filename.startswith("<"):
            self.err(
                m.where("file"),
                f"{what} is read from a file, so the questionnaire must be loaded from a file too",
            )
            return None, relative
        folder = Path(self.filename).parent
        path = folder / relative
        shown = str(path)
        try:
            if not path.resolve().is_relative_to(folder.resolve()):  # a link out of the folder
                self.err(m.where("file"), f"{shown} leads out of the questionnaire's folder")
                return None, shown
            if path.stat().st_size > MAX_FILE_BYTES:
                self.err(m.where("file"), f"{shown} is larger than {MAX_FILE_BYTES:,} bytes")
                return None, shown
            data = path.read_bytes()
        except OSError as exc:
            self.err(m.where("file"), f"cannot read {shown} for {what}: {exc.strerror or exc}")
            return None, shown
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            self.err(Position(shown, line, 1), "this file is not UTF-8 text; save it as CSV UTF-8")
            return None, shown
        return text.replace("\r\n", "\n").replace("\r", "\n"), shown

    def _parse(self, text: str, shown: str, name: str, what: str, m: YMap) -> ChoiceList | None:
        reader = csv.reader(io.StringIO(text))
        problems = _Problems(self, shown)
        header = next(reader, None)
        if not header:
            self.err(
                m.where("file"), f"{shown} is empty: it needs a header row with code and label"
            )
            return None
        columns = self._columns(header, problems)
        if columns is None:
            return None
        code_at, labels_at, attributes_at = columns
        options: list[Option] = []
        seen: dict[int, int] = {}
        missing_codes = {v: k for k, v in self.missing.codes().items()}
        row_start = reader.line_num + 1
        for fields in reader:
            row, row_start = row_start, reader.line_num + 1
            if not fields or all(not f.strip() for f in fields):
                continue
            if len(options) >= MAX_ROWS:
                problems.add(row, 1, f"more than {MAX_ROWS:,} options; split the list")
                break
            if len(fields) != len(header):
                problems.add(
                    row, 1, f"this row has {len(fields)} fields but the header has {len(header)}"
                )
                continue
            code = _whole_number(fields[code_at].strip())
            if code is None:
                problems.add(row, code_at + 1, f"code {fields[code_at]!r} is not a whole number")
                continue
            if code in seen:
                problems.add(
                    row, code_at + 1, f"code {code} is used twice (first at row {seen[code]})"
                )
                continue
            if code in missing_codes:
                meaning = missing_codes[code].replace("_", " ")
                problems.add(
                    row,
                    code_at + 1,
                    f"code {code} collides with the missing-value code for {meaning}",
                )
                continue
            label = self._label(fields, labels_at, row, code, shown, problems)
            if label is None:
                continue
            seen[code] = row
            attributes = tuple(
                (column, _attribute(fields[at].strip()))
                for column, at in attributes_at
                if fields[at].strip()
            )
            options.append(
                Option(code=code, label=label, attributes=attributes, pos=Position(shown, row, 1))
            )
        problems.close()
        if problems.count or not options:
            if not options and not problems.count:
                self.err(m.where("file"), f"{shown} has a header but no options")
            return None
        return ChoiceList(name, tuple(options), m.pos, file=shown)

    def _columns(
        self, header: list[str], problems: _Problems
    ) -> tuple[int, dict[str, int], list[tuple[str, int]]] | None:
        """Where the code, each language's label and each attribute are, from the header row."""
        names = [h.strip() for h in header]
        code_at: int | None = None
        labels_at: dict[str, int] = {}
        attributes_at: list[tuple[str, int]] = []
        for at, column in enumerate(names):
            if not column:
                problems.add(1, at + 1, "a column has no name")
            elif names.index(column) != at:
                problems.add(1, at + 1, f"column '{column}' appears twice")
            elif column == "code":
                code_at = at
            elif column == "label" or column.startswith("label::"):
                language = _language_of(column, self.default_language)
                if language not in self.languages:
                    problems.add(
                        1,
                        at + 1,
                        f"column '{column}': language '{language}' is not in meta.languages "
                        f"({', '.join(self.languages)})",
                    )
                else:
                    labels_at[language] = at
            elif not column.replace("_", "a").isalnum() or not column[0].isalpha():
                problems.add(1, at + 1, f"attribute column '{column}' must be a simple name")
            else:
                attributes_at.append((column, at))
        if code_at is None:
            problems.add(1, 1, "there is no 'code' column")
        if self.default_language not in labels_at:
            problems.add(
                1, 1, f"there is no label column for the default language '{self.default_language}'"
            )
        if problems.count:
            problems.close()
            return None
        assert code_at is not None
        return code_at, labels_at, attributes_at

    def _label(
        self,
        fields: list[str],
        labels_at: dict[str, int],
        row: int,
        code: int,
        shown: str,
        problems: _Problems,
    ) -> Text | None:
        by_language: dict[str, TextTemplate] = {}
        for language, at in labels_at.items():
            label = " ".join(fields[at].split())
            if not label:
                if language == self.default_language:
                    problems.add(row, at + 1, f"option {code} has no label")
                    return None
                continue  # the default language's label is used
            if "{{" in label or "{%" in label:
                problems.add(row, at + 1, "labels are fixed text (they become value labels)")
                return None
            if len(label) > MAX_VALUE_LABEL["SPSS"]:
                problems.add(
                    row,
                    at + 1,
                    f"the label is {len(label)} characters; value labels hold "
                    f"{MAX_VALUE_LABEL['SPSS']} (SPSS) and 80 (Stata)",
                    warning=True,
                )
            by_language[language] = TextTemplate.compile(label, self.html_env, self.plain_env)
        return Text(by_language, Position(shown, row, 1))


class _Problems:
    """A file's problems, each at its row and column, at most :data:`MAX_REPORTED` of them."""

    def __init__(self, owner: Texts, shown: str) -> None:
        self.owner, self.shown, self.count, self.left_out = owner, shown, 0, 0

    def add(self, row: int, column: int, message: str, *, warning: bool = False) -> None:
        if warning:
            self.owner.warn(Position(self.shown, row, column), message)
            return
        self.count += 1
        if self.count > MAX_REPORTED:
            self.left_out += 1
            return
        self.owner.err(Position(self.shown, row, column), message)

    def close(self) -> None:
        if self.left_out:
            self.owner.err(
                Position(self.shown, 1, 1), f"{self.left_out} more problems in this file not listed"
            )
            self.left_out = 0


def _path_problem(relative: str) -> str | None:
    path = PurePosixPath(relative)
    if not relative.lower().endswith(".csv"):
        return "must name a .csv file"
    if path.is_absolute() or "\\" in relative or ":" in relative:
        return "must be a path relative to the questionnaire's folder"
    if ".." in path.parts:
        return "must be in the questionnaire's folder or below it (no '..')"
    return None


def _language_of(column: str, default: str) -> str:
    """``label`` -> the default language; ``label::cy`` and ``label::Welsh (cy)`` -> ``cy``."""
    if column == "label":
        return default
    language = column[len("label::") :].strip()
    if language.endswith(")") and "(" in language:
        language = language[language.rindex("(") + 1 : -1].strip()
    return language


def _whole_number(text: str) -> int | None:
    digits = text[1:] if text.startswith("-") else text
    if not digits or len(digits) > 18 or not set(digits) <= _INTEGER_TEXT:
        return None
    return int(text)


def _attribute(text: str) -> Any:
    """An attribute cell: a whole number when it is one (codes of other lists), else text."""
    number = _whole_number(text)
    return text if number is None else number
