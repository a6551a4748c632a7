"""The codebook: everything an analyst needs to read the data frame's codes.

One :class:`VariableInfo` per column, in column order, plus the multi-select
groups, the loops and the missing-value frame. Writers for every file format
read only this (and the frame), so the same labels and codes reach SPSS,
Stata, R, Parquet and DDI. The codebook is plain data: :meth:`Codebook.to_dict`
gives the JSON stored in Parquet metadata.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from instrument import catalogue
from instrument.modes import ModePolicy

__all__ = ["Codebook", "LoopInfo", "MultiGroup", "VariableInfo", "MISSING_LABELS"]

MISSING_LABELS = {
    key: catalogue.text(catalogue.DEFAULT_LANGUAGE, "dataset", key)
    for key in ("dk", "refused", "routed_past", "unanswered")
}
"""Labels of the missing frame's codes, the same in every file (from the catalogue, in English)."""


@dataclass
class VariableInfo:
    """One column of the dataset and what its codes mean.

    ``storage`` is ``int``, ``float``, ``str`` or ``datetime``. ``missing``
    maps each non-substantive code that can occur in this column to its
    label (string codes such as ``"-8"`` in text columns). ``texts`` maps a
    mode (``web``, ``cati``, ``ivr``) to ``{language: wording}`` as the
    questionnaire wrote it (fills shown as ``{{ ... }}``). ``universe`` is who
    was asked, in words. ``labels_short`` holds the label as shortened for a
    package whose limit it exceeds (``{"dta": "..."}``), empty when it fits.
    ``value_type`` is the questionnaire's type of the value (``text``,
    ``date``, ``code``, ``codes``, ...), empty for administrative columns.
    """

    name: str
    label: str
    kind: str
    storage: str
    level: str = "nominal"
    value_labels: dict[Any, str] = field(default_factory=dict)
    value_labels_by_language: dict[str, dict[Any, str]] = field(default_factory=dict)
    missing: dict[Any, str] = field(default_factory=dict)
    places: int | None = None
    width: int | None = None
    question_id: str | None = None
    source_key: str | None = None
    texts: dict[str, dict[str, str]] = field(default_factory=dict)
    instruction: dict[str, str] = field(default_factory=dict)
    universe: str = ""
    group: str | None = None
    option_code: int | None = None
    loop: str | None = None
    iteration: str | None = None
    other_of: str | None = None
    derived: bool = False
    value_type: str = ""
    labels_short: dict[str, str] = field(default_factory=dict)
    value_labels_short: dict[str, dict[Any, str]] = field(default_factory=dict)

    @property
    def all_labels(self) -> dict[Any, str]:
        """Substantive and missing value labels together, substantive first."""
        merged = dict(self.value_labels)
        merged.update(self.missing)
        return merged

    @property
    def base_name(self) -> str:
        """The name without its loop suffix (the column name in a long loop file)."""
        if (
            self.loop is not None
            and self.iteration is not None
            and self.name.endswith(f"_{self.iteration}")
        ):
            return self.name[: -len(self.iteration) - 1]
        return self.name

    def label_for(self, package: str) -> str:
        """The label as written to ``package`` (``sav``, ``dta``): shortened if it had to be."""
        return self.labels_short.get(package, self.label)

    def value_labels_for(self, package: str) -> dict[Any, str]:
        labels = self.all_labels
        short = self.value_labels_short.get(package)
        if short:
            labels = {code: short.get(code, text) for code, text in labels.items()}
        return labels


@dataclass
class MultiGroup:
    """A multiple-choice question exported as one 0/1 variable per option."""

    name: str
    label: str
    question_id: str
    variables: list[str]
    counted_value: int = 1
    loop: str | None = None
    iteration: str | None = None


@dataclass
class LoopInfo:
    """A loop exported wide: one set of variables per iteration suffix."""

    id: str
    kind: str  # "count" or "for_each"
    suffixes: list[str]
    describe: str
    variables: list[str]  # base names (without suffix), in column order
    outer: list[str] = field(default_factory=list)  # loops it is inside, outermost first


@dataclass
class Codebook:
    """Dataset-level metadata plus one :class:`VariableInfo` per column, in column order."""

    questionnaire_id: str
    title: str
    version: str
    versions: list[str]
    languages: list[str]
    default_language: str
    modes: list[str]
    missing_codes: dict[str, int]
    variables: dict[str, VariableInfo]
    groups: list[MultiGroup] = field(default_factory=list)
    loops: list[LoopInfo] = field(default_factory=list)
    exported_at: dt.datetime | None = None
    mode_policies: dict[str, ModePolicy] = field(default_factory=dict)  # of ``modes``
    case_count: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def missing_labels(self) -> dict[int, str]:
        """``{code: label}`` of the missing frame."""
        return {code: MISSING_LABELS[key] for key, code in self.missing_codes.items()}

    def __getitem__(self, name: str) -> VariableInfo:
        return self.variables[name]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.variables.values())

    def __len__(self) -> int:
        return len(self.variables)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible copy (value-label keys become strings, as JSON needs)."""

        def keys_to_str(mapping: dict[Any, Any]) -> dict[str, Any]:
            return {str(k): v for k, v in mapping.items()}

        variables = []
        for info in self.variables.values():
            data = asdict(info)
            for key in ("value_labels", "missing"):
                data[key] = keys_to_str(data[key])
            data["value_labels_by_language"] = {
                lang: keys_to_str(labels)
                for lang, labels in data["value_labels_by_language"].items()
            }
            data["value_labels_short"] = {
                pkg: keys_to_str(labels) for pkg, labels in data["value_labels_short"].items()
            }
            variables.append(data)
        return {
            "questionnaire_id": self.questionnaire_id,
            "title": self.title,
            "version": self.version,
            "versions": list(self.versions),
            "languages": list(self.languages),
            "default_language": self.default_language,
            "modes": list(self.modes),
            "missing_codes": dict(self.missing_codes),
            "missing_labels": {str(k): v for k, v in self.missing_labels.items()},
            "exported_at": self.exported_at.isoformat() if self.exported_at else None,
            "case_count": self.case_count,
            "notes": list(self.notes),
            "groups": [asdict(g) for g in self.groups],
            "loops": [asdict(loop) for loop in self.loops],
            "variables": variables,
        }
