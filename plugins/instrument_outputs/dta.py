"""Stata ``.dta`` format 118 through pandas' Stata writer.

Format 118 and never 119: 119 (pyreadstat's default ``version=15``) only
Stata/MP opens, and haven reads its long strings as empty. pandas, not
pyreadstat, writes the file because pyreadstat stores every integer column
as ``long`` or ``double``; pandas keeps the sizes the dataset builder chose
(byte/int/long within Stata's own ranges). Strings longer than Stata's
2045-byte ``str`` become ``strL``. The missing codes
stay negative numbers with value labels (Stata's ``.a``-``.z`` are not used),
so the same code means the same thing in every file; labels over Stata's 80
bytes are shortened by the documented rule, the full text stays in the
dictionary.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from pandas.io.stata import InvalidColumnName

from instrument.dataset import Dataset
from instrument.dataset.limits import STATA, shorten

from .common import ExportError, check_names

__all__ = ["can_write", "write", "DTA_VERSION"]

DTA_VERSION = 118
STR_MAX_BYTES = 2045


def can_write(dataset: Dataset) -> str | None:
    return check_names(dataset, "dta")


def write(dataset: Dataset, dest: Path) -> None:
    problem = can_write(dataset)
    if problem:
        raise ExportError(problem)
    frame = dataset.frame
    cb = dataset.codebook
    labels: dict[str, str] = {}
    value_labels: dict[str, dict[int, str]] = {}
    for name in frame.columns:
        info = cb.variables[name]
        labels[name] = info.label_for("dta")
        if info.storage in ("int", "float"):
            vl = info.value_labels_for("dta")
            # Stata labels integers only: a float column's codes are whole numbers
            integral = {int(k): v for k, v in vl.items() if float(k).is_integer()}
            if integral:
                value_labels[name] = integral
        # string columns cannot carry value labels in Stata; their codes are in the dictionary
    strl = [
        name
        for name in frame.columns
        if cb.variables[name].storage == "str"
        and max((len(str(v).encode("utf-8")) for v in frame[name]), default=0) > STR_MAX_BYTES
    ]
    dates = {name: "tc" for name in frame.columns if cb.variables[name].storage == "datetime"}
    with warnings.catch_warnings():
        # pandas renames names Stata cannot take with only a warning; never let it
        warnings.simplefilter("error", InvalidColumnName)
        frame.to_stata(
            dest,
            write_index=False,
            version=DTA_VERSION,
            data_label=shorten(cb.title, STATA.file_label_bytes),
            variable_labels=labels,
            value_labels=value_labels,
            convert_dates=dates,
            convert_strl=strl,
            time_stamp=cb.exported_at.replace(tzinfo=None) if cb.exported_at else None,
        )
