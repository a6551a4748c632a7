"""SPSS ``.sav`` through pyreadstat, with every label, missing value and measure level.

pyreadstat is imported inside :func:`write` so that listing formats stays cheap.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

from instrument.dataset import Dataset
from instrument.dataset.limits import SPSS, shorten

from .common import (
    ExportError,
    check_names,
    spss_missing,
    spss_missing_problems,
    string_missing_for_spss,
)

__all__ = ["can_write", "write", "spss_format", "note_lines"]

SHORT_STRING_BYTES = 8
MEASURE = {"nominal": "nominal", "ordinal": "ordinal", "scale": "scale"}


def can_write(dataset: Dataset) -> str | None:
    return check_names(dataset, "sav") or spss_missing_problems(dataset)


def spss_format(dataset: Dataset, name: str) -> str | None:
    """An SPSS print format for a numeric column, wide enough for every value it can hold.

    The missing codes and labelled codes count as well as the data: a column
    whose answers are 1 to 5 in one export may hold -999 in the next, and a
    format too narrow shows it as ``***`` in SPSS and PSPP.
    """
    info = dataset.codebook.variables[name]
    column = dataset.frame[name]
    finite = column[column.notna()]
    known = [float(k) for k in (*info.missing, *info.value_labels) if isinstance(k, (int, float))]
    if info.storage == "int":
        values = [int(v) for v in known]
        if len(finite):
            values += [int(finite.min()), int(finite.max())]
        width = max((len(str(v)) for v in values), default=1)
        return f"F{max(width, 3)}.0"
    if info.storage == "float":
        places = info.places if info.places is not None else 2
        biggest = max(
            [abs(v) for v in known] + ([float(finite.abs().max())] if len(finite) else [0.0])
        )
        digits = len(str(int(math.floor(biggest)))) if biggest >= 1 else 1
        return f"F{min(40, digits + places + 2)}.{places}"  # sign and point
    return None


def note_lines(dataset: Dataset) -> list[str]:
    cb = dataset.codebook
    exported = cb.exported_at.isoformat(timespec="seconds") if cb.exported_at else "unknown"
    codes = ", ".join(f"{code} {label}" for code, label in cb.missing_labels.items())
    paragraphs = [
        f"Questionnaire {cb.questionnaire_id} version {cb.version}"
        + (f" (interviews from versions {', '.join(cb.versions)})" if len(cb.versions) > 1 else ""),
        f"Exported {exported} by survey-instrument; {cb.case_count} cases.",
        f"Missing codes: {codes}.",
    ]
    # SPSS documents are lines of at most 80 bytes
    lines: list[str] = []
    for paragraph in paragraphs:
        lines.extend(textwrap.wrap(paragraph, 76) or [""])
    return lines


def write(dataset: Dataset, dest: Path) -> None:
    import pyreadstat

    problem = can_write(dataset)
    if problem:
        raise ExportError(problem)
    frame = dataset.frame
    cb = dataset.codebook
    labels: dict[str, str] = {}
    value_labels: dict[str, dict[Any, str]] = {}
    missing: dict[str, list[Any]] = {}
    measure: dict[str, str] = {}
    formats: dict[str, str] = {}
    for name in frame.columns:
        info = cb.variables[name]
        labels[name] = info.label_for("sav")
        vl = info.value_labels_for("sav")
        if info.storage in ("int", "float"):
            if vl:
                value_labels[name] = {
                    float(k) if info.storage == "float" else int(k): v for k, v in vl.items()
                }
            present = set(frame[name].unique().tolist()) if info.missing else set()
            declared = spss_missing(info, present)
            if declared:
                missing[name] = declared
            fmt = spss_format(dataset, name)
            if fmt:
                formats[name] = fmt
        elif info.storage == "str":
            if vl:
                value_labels[name] = {str(k): v for k, v in vl.items()}
            declared_text = string_missing_for_spss(info, cb.missing_codes)
            width = max((len(str(v).encode("utf-8")) for v in frame[name]), default=1)
            # ReadStat writes the missing values of strings wider than 8 bytes in an
            # extension record (subtype 22) that PSPP reports as broken and ignores;
            # those variables get value labels only here (the .sps declares them).
            if declared_text and width <= SHORT_STRING_BYTES:
                missing[name] = declared_text
        measure[name] = MEASURE.get(info.level, "nominal")
    pyreadstat.write_sav(
        frame,
        str(dest),
        file_label=shorten(cb.title, SPSS.file_label_bytes),
        column_labels=labels,
        variable_value_labels=value_labels,
        missing_ranges=missing,
        variable_measure=measure,
        variable_format=formats,
        note=note_lines(dataset),
    )
