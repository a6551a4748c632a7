"""The dictionary: one row per variable, everything the codebook knows, as a CSV.

REDCap-style, so it opens in a spreadsheet: name, full label, the labels as
shortened for SPSS and Stata, question text per mode and language, type,
formats, value labels, missing codes, universe (routing in words),
multi-select group, other-specify parent, source question, derived flag.
Text is neutralised against spreadsheet formulas like the data CSV.
"""

from __future__ import annotations

import csv
from pathlib import Path

from instrument.dataset import Dataset

from .common import neutralise

__all__ = ["write", "COLUMNS"]

COLUMNS = [
    "name",
    "label",
    "label_sav",
    "label_dta",
    "kind",
    "value_type",
    "storage",
    "level",
    "places",
    "value_labels",
    "missing_codes",
    "universe",
    "question_id",
    "loop",
    "iteration",
    "group",
    "option_code",
    "other_of",
    "derived",
]


def _labels(mapping: dict) -> str:  # type: ignore[type-arg]
    return "; ".join(f"[{code}] {label}" for code, label in mapping.items())


def write(dataset: Dataset, dest: Path) -> None:
    cb = dataset.codebook
    modes_langs = sorted(
        {
            (mode, lang)
            for info in cb.variables.values()
            for mode, by_lang in info.texts.items()
            for lang in by_lang
        }
    )
    text_cols = [f"text_{mode}_{lang}" for mode, lang in modes_langs]
    with open(dest, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS + text_cols)
        for name in dataset.frame.columns:
            info = cb.variables[name]
            row = [
                info.name,
                info.label,
                info.label_for("sav"),
                info.label_for("dta"),
                info.kind,
                info.value_type,
                info.storage,
                info.level,
                "" if info.places is None else info.places,
                _labels(info.value_labels),
                _labels(info.missing),
                info.universe,
                info.question_id or "",
                info.loop or "",
                info.iteration or "",
                info.group or "",
                "" if info.option_code is None else info.option_code,
                info.other_of or "",
                int(info.derived),
            ]
            row += [info.texts.get(mode, {}).get(lang, "") for mode, lang in modes_langs]
            writer.writerow([neutralise(v, {}) for v in row])
