"""UTF-8 CSV of codes, with the SPSS (``.sps``), Stata (``.do``) and R (``.R``) files that label it.

This is the "delimited text plus setup file" route archives accept beside
native files, and the only route for packages we do not write natively.
Open-text cells that a spreadsheet would run as a formula are neutralised
(see :func:`common.neutralise`); the binary formats keep the exact text.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from instrument.dataset import Dataset, VariableInfo
from instrument.dataset.limits import SPSS

from .common import (
    neutralise,
    open_text,
    sibling,
    spss_missing,
    spss_missing_problems,
    string_missing_for_spss,
)
from .sav import note_lines, spss_format

__all__ = ["can_write", "write", "write_csv", "sps_text", "do_text", "r_text"]

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def can_write(dataset: Dataset) -> str | None:
    """The .sps declares the missing codes as the .sav does: the same check, before writing."""
    return spss_missing_problems(dataset)


def write(dataset: Dataset, dest: Path) -> None:
    """``dest`` is the CSV; the syntax files go beside it with the same stem."""
    write_csv(dataset, dest)
    sibling(dest, ".sps").write_text(sps_text(dataset, dest.name), encoding="utf-8")
    sibling(dest, ".do").write_text(do_text(dataset, dest.name), encoding="utf-8")
    sibling(dest, ".R").write_text(r_text(dataset, dest.name), encoding="utf-8")


def write_csv(dataset: Dataset, dest: Path) -> None:
    frame = dataset.frame
    cb = dataset.codebook
    out = frame
    texts = [name for name in frame.columns if open_text(cb.variables[name])]
    if texts:
        out = frame.copy(deep=False)
        for name in texts:
            missing = cb.variables[name].missing
            out[name] = [neutralise(v, missing) for v in frame[name]]
    out.to_csv(
        dest,
        index=False,
        encoding="utf-8",
        lineterminator="\n",
        quoting=csv.QUOTE_MINIMAL,
        date_format=DATETIME_FORMAT,
        float_format=None,
    )


def _widths(dataset: Dataset) -> dict[str, int]:
    """Byte width of each string column as written to the CSV (at least 1)."""
    widths = {}
    for name in dataset.frame.columns:
        info = dataset.codebook.variables[name]
        if info.storage == "str":
            values = dataset.frame[name]
            if open_text(info):
                values = [neutralise(v, info.missing) for v in values]
            longest = max((len(str(v).encode("utf-8")) for v in values), default=1)
            widths[name] = max(1, longest, max((len(str(k)) for k in info.missing), default=1))
    return widths


# ------------------------------------------------------------------ SPSS


def _spss_string(text: str) -> str:
    """A quoted SPSS string, split into short pieces joined by + so no line gets long."""
    text = " ".join(str(text).split())
    pieces = [text[i : i + 60] for i in range(0, len(text), 60)] or [""]
    return " +\n    ".join('"' + p.replace('"', '""') + '"' for p in pieces)


def _spss_value(value: Any, info: VariableInfo) -> str:
    if info.storage == "str":
        return _spss_string(str(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def sps_text(dataset: Dataset, csv_name: str) -> str:
    cb = dataset.codebook
    frame = dataset.frame
    widths = _widths(dataset)
    lines = [
        "* Encoding: UTF-8.",
        f"* SPSS syntax written by survey-instrument: reads {csv_name} and labels it.",
        "* Run it with the working folder set to the folder holding the CSV (or edit FILE= below).",
        "GET DATA",
        "  /TYPE=TXT",
        f"  /FILE={_spss_string(csv_name)}",
        "  /ENCODING='UTF8'",
        "  /ARRANGEMENT=DELIMITED",
        "  /DELCASE=LINE",
        "  /FIRSTCASE=2",
        '  /DELIMITERS=","',
        "  /QUALIFIER='\"'",
    ]
    # PSPP (and SPSS) read a line that starts with COMMENT as a comment even inside a
    # command, so no continuation line may start with a variable name: the variable
    # list breaks lines before each format, and the label and level commands are one
    # per variable.
    specs = []
    for name in frame.columns:
        info = cb.variables[name]
        if info.storage == "str":
            fmt = f"A{widths[name]}"
        elif info.storage == "datetime":
            fmt = "YMDHMS19"
        else:
            fmt = spss_format(dataset, name) or "F8.2"
        specs.append((name, fmt))
    if specs:
        lines.append(f"  /VARIABLES={specs[0][0]}")
        for (_, fmt), (next_name, _) in zip(specs, specs[1:]):
            lines.append(f"    {fmt} {next_name}")
        lines.append(f"    {specs[-1][1]}")
    lines.append(".")
    lines.append(f"FILE LABEL {_spss_string(cb.title[: SPSS.file_label_bytes])}.")
    for name in frame.columns:
        lines.append(f"VARIABLE LABELS {name} {_spss_string(cb.variables[name].label_for('sav'))}.")
    for name in frame.columns:
        info = cb.variables[name]
        vl = info.value_labels_for("sav")
        if not vl or info.storage == "datetime":
            continue
        lines.append(f"VALUE LABELS {name}")
        for code, label in vl.items():
            lines.append(f"    {_spss_value(code, info)} {_spss_string(label)}")
        lines.append(".")
    for name in frame.columns:
        info = cb.variables[name]
        if not info.missing:
            continue
        if info.storage == "str":
            codes = string_missing_for_spss(info, cb.missing_codes)
            spec = ", ".join(_spss_string(c) for c in codes)
        else:
            declared = spss_missing(info, set(frame[name].unique().tolist()))
            parts = []
            for entry in declared or []:
                lo, hi = entry["lo"], entry["hi"]
                parts.append(
                    _spss_value(lo, info)
                    if lo == hi
                    else f"{_spss_value(lo, info)} THRU {_spss_value(hi, info)}"
                )
            spec = ", ".join(parts)
        if spec:
            lines.append(f"MISSING VALUES {name} ({spec}).")
    for name in frame.columns:
        lines.append(f"VARIABLE LEVEL {name} ({cb.variables[name].level.upper()}).")
    texts = [name for name in frame.columns if open_text(cb.variables[name])]
    if texts:
        lines.append(
            "* Undo the CSV's protection against spreadsheet formulas (one leading apostrophe)."
        )
        for name in texts:
            lines.append(
                f'IF (SUBSTR({name}, 1, 1) = "\'" AND INDEX("=+-@\'", SUBSTR({name}, 2, 1)) > 0) '
                f"{name} = SUBSTR({name}, 2)."
            )
    groups = [g for g in cb.groups if all(v in frame.columns for v in g.variables)]
    if groups:
        lines.append("MRSETS")
        for group in groups:
            lines.append(
                f"  /MDGROUP NAME=${group.name} LABEL={_spss_string(group.label[:200])}\n"
                f"    CATEGORYLABELS=VARLABELS VALUE=1\n"
                f"    VARIABLES={' '.join(group.variables)}"
            )
        lines.append(".")
    # DOCUMENT ends at a line ending in a period, so the notes' own final periods are dropped
    lines.append("DOCUMENT")
    for note in note_lines(dataset):
        lines.append("  " + note.rstrip(". "))
    lines.append(".")
    lines.append("EXECUTE.")
    lines.append(
        f"* To keep a labelled copy: SAVE OUTFILE={_spss_string(Path(csv_name).stem + '_from_csv.sav')}."
    )
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ Stata


def _stata_string(text: str) -> str:
    """Stata compound quotes, which take any text but the closing sequence itself."""
    text = " ".join(str(text).split()).replace("\"'", "\" '")
    return f'`"{text}"\''


def do_text(dataset: Dataset, csv_name: str) -> str:
    cb = dataset.codebook
    frame = dataset.frame
    columns = list(frame.columns)
    string_cols = [
        i + 1 for i, n in enumerate(columns) if cb.variables[n].storage in ("str", "datetime")
    ]
    lines = [
        f"* Stata do-file written by survey-instrument: reads {csv_name} and labels it.",
        "* Run it with the working directory set to the folder holding the CSV.",
        "* Missing codes stay as negative numbers with value labels; see the README.",
        "version 14",
        f'import delimited using "{csv_name}", varnames(1) case(preserve) encoding("utf-8") '
        f"bindquote(strict) maxquotedrows(unlimited) stringcols({' '.join(map(str, string_cols)) or '_none'}) clear",
        f"label data {_stata_string(cb.title[:80])}",
    ]
    if not string_cols:
        lines[-2] = lines[-2].replace(" stringcols(_none)", "")
    for name in columns:
        info = cb.variables[name]
        lines.append(f"label variable {name} {_stata_string(info.label_for('dta'))}")
        if info.storage in ("int", "float"):
            vl = info.value_labels_for("dta")
            pairs = " ".join(
                f"{int(k)} {_stata_string(v)}" for k, v in vl.items() if float(k).is_integer()
            )
            if pairs:
                lines.append(f"label define {name} {pairs}, replace")
                lines.append(f"label values {name} {name}")
        elif info.storage == "datetime":
            lines.append(f'generate double {name}_tc = clock({name}, "YMDhms")')
            lines.append(f"format {name}_tc %tc")
            lines.append(f"order {name}_tc, after({name})")
            lines.append(f"drop {name}")
            lines.append(f"rename {name}_tc {name}")
            lines.append(f"label variable {name} {_stata_string(info.label_for('dta'))}")
    texts = [name for name in columns if open_text(cb.variables[name])]
    if texts:
        lines.append(
            "* Undo the CSV's protection against spreadsheet formulas (one leading apostrophe)."
        )
        for name in texts:
            lines.append(
                f"replace {name} = substr({name}, 2, .) if ustrregexm({name}, \"^'[-=+@'\\t\\r]\")"
            )
    for note in note_lines(dataset):
        lines.append(f"notes: {note}")
    lines.append("compress")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ R


def _r_string(text: Any) -> str:
    text = (
        str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "")
    )
    return f'"{text}"'


def _r_number(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "NA"
        return repr(value)
    return str(int(value))


def _r_vector(items: Iterable[str]) -> str:
    return "c(" + ", ".join(items) + ")"


def r_text(dataset: Dataset, csv_name: str) -> str:
    cb = dataset.codebook
    frame = dataset.frame
    classes = []
    for name in frame.columns:
        storage = cb.variables[name].storage
        classes.append(
            f"{_r_string(name)} = {_r_string('character' if storage in ('str', 'datetime') else 'numeric')}"
        )
    lines = [
        "# -*- coding: utf-8 -*-",
        f"# R script written by survey-instrument: reads {csv_name} into `data` and labels it with haven.",
        "# Missing codes stay in the data as user-missing values (haven::labelled_spss), as in SPSS:",
        "# haven::zap_missing(x) turns them into NA, haven::as_factor(x) gives a factor.",
        '# Set csv_file before sourcing to read the CSV from elsewhere; source with encoding = "UTF-8".',
        "library(haven)",
        f'if (!exists("csv_file")) csv_file <- {_r_string(csv_name)}',
        'data <- utils::read.csv(csv_file, encoding = "UTF-8", fileEncoding = "UTF-8", na.strings = "",',
        "  check.names = FALSE, stringsAsFactors = FALSE,",
        "  colClasses = " + _r_vector(classes) + ")",
        "# Undo the CSV's protection against spreadsheet formulas (one leading apostrophe):",
        'unprotect <- function(x) sub("^\'([-=+@\'\\t\\r])", "\\\\1", x, perl = TRUE)',
    ]
    for name in frame.columns:
        if open_text(cb.variables[name]):
            lines.append(f"data[[{_r_string(name)}]] <- unprotect(data[[{_r_string(name)}]])")
    for name in frame.columns:
        info = cb.variables[name]
        ref = f"data[[{_r_string(name)}]]"
        label = _r_string(info.label)
        if info.storage == "datetime":
            lines.append(f'{ref} <- as.POSIXct({ref}, tz = "UTC", format = "%Y-%m-%d %H:%M:%S")')
            lines.append(f'attr({ref}, "label") <- {label}')
            continue
        labels = info.all_labels
        if info.storage == "str":
            lab = _r_vector(f"{_r_string(v)} = {_r_string(k)}" for k, v in labels.items())
            na_values = _r_vector(_r_string(k) for k in info.missing)
            if labels or info.missing:
                lines.append(
                    f"{ref} <- labelled_spss({ref}, labels = {lab if labels else 'NULL'}, "
                    f"na_values = {na_values if info.missing else 'NULL'}, label = {label})"
                )
            else:
                lines.append(f'attr({ref}, "label") <- {label}')
            continue
        lab = _r_vector(f"{_r_string(v)} = {_r_number(k)}" for k, v in labels.items())
        declared = spss_missing(info, set(frame[name].unique().tolist())) if info.missing else None
        na_values: list[str] = []
        na_range = "NULL"
        for entry in declared or []:
            if entry["lo"] == entry["hi"]:
                na_values.append(_r_number(entry["lo"]))
            else:
                na_range = f"c({_r_number(entry['lo'])}, {_r_number(entry['hi'])})"
        if labels or declared:
            lines.append(
                f"{ref} <- labelled_spss({ref}, labels = {lab if labels else 'NULL'}, "
                f"na_values = {_r_vector(na_values) if na_values else 'NULL'}, na_range = {na_range}, label = {label})"
            )
        else:
            lines.append(f'attr({ref}, "label") <- {label}')
    groups = [g for g in cb.groups if all(v in frame.columns for v in g.variables)]
    if groups:
        lines.append("# Multiple-choice questions, one 0/1 variable per option:")
        lines.append(
            "mr_sets <- list("
            + ", ".join(
                f"{_r_string(g.name)} = {_r_vector(_r_string(v) for v in g.variables)}"
                for g in groups
            )
            + ")"
        )
    lines.append(f'attr(data, "label") <- {_r_string(cb.title)}')
    return "\n".join(lines) + "\n"
