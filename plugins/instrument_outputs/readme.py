"""The README that travels with an export: what each file is and how the codes work."""

from __future__ import annotations

from pathlib import Path

from instrument.dataset import Dataset
from instrument.dataset.admin import MODE_LABELS, OUTCOME_LABELS

__all__ = ["write_readme", "DESCRIPTIONS"]

DESCRIPTIONS = {
    ".sav": "SPSS data file: variable and value labels, user-missing values, measure levels, notes (DOCUMENT).",
    ".dta": "Stata data file, format 118 (Stata 14 and later): variable and value labels (labels over 80 bytes shortened, see the dictionary).",
    ".csv": "The data as UTF-8 comma-separated codes, one row per case, variable names in the first row.",
    ".sps": "SPSS/PSPP syntax that reads the CSV and applies labels, missing values, levels and multiple-response sets (MRSETS).",
    ".do": "Stata do-file that reads the CSV and applies variable and value labels.",
    ".R": "R script that reads the CSV into `data` as haven labelled vectors with user-missing values.",
    ".parquet": "Apache Parquet with the full codebook as JSON in the metadata key instrument.codebook.",
    "_ddi.xml": "DDI Codebook 2.5 metadata (validates against the DDI Alliance schema).",
    "_dictionary.csv": "One row per variable: labels (full and as shortened), question texts per mode and language, codes, routing.",
    "_paradata.csv": "One row per page submitted, back navigation, jump or mode switch, with seconds on page.",
    "_long": "A loop as a long file: one row per case and iteration, keyed by case_id and iteration.",
}


def _describe(name: str) -> str:
    for suffix in ("_ddi.xml", "_dictionary.csv", "_paradata.csv"):
        if name.endswith(suffix):
            return DESCRIPTIONS[suffix]
    base = DESCRIPTIONS.get(Path(name).suffix, "")
    if "_long" in name:
        return DESCRIPTIONS["_long"] + " " + base
    return base


def write_readme(dataset: Dataset, dest: Path, files: list[str]) -> None:
    cb = dataset.codebook
    exported = cb.exported_at.isoformat(timespec="seconds") if cb.exported_at else ""
    lines = [
        f"# {cb.title}",
        "",
        f"Questionnaire `{cb.questionnaire_id}`, version {cb.version}"
        + (
            f" (interviews from versions {', '.join(cb.versions)}, harmonised by variable name)"
            if len(cb.versions) > 1
            else ""
        )
        + f". Exported {exported} UTC by survey-instrument. {cb.case_count} cases, {len(dataset.frame.columns)} variables.",
        "",
        "## Files",
        "",
    ]
    for name in files:
        lines.append(f"- `{name}`: {_describe(name)}")
    lines += [
        "- `SHA256SUMS`: SHA-256 checksum of every file (`sha256sum -c SHA256SUMS`).",
        "",
        "## Missing values",
        "",
        "Every variable uses one frame of codes, whatever the mode or language of the interview:",
        "",
    ]
    for code, label in cb.missing_labels.items():
        lines.append(f"- `{code}`: {label}")
    lines += [
        "",
        "They are declared user-missing in SPSS and in the R script, and labelled in Stata.",
        'Open-text and date variables are stored as text and hold the same codes as text (`"-8"`).',
        "SPSS allows only three missing values on a text variable, so there the don't-know code is labelled but not declared.",
        "Multiple-choice questions are one 0/1 variable per option (`q_<code>`); a don't know or refusal puts that code on",
        "every option of the question, and routing past it puts the routed-past code on every option.",
        "Loop variables carry the iteration as a suffix (`age_1`, `age_2`, or the option code for loops over a choice);",
        "iterations that did not happen are coded routed past.",
        "",
        "## Interview variables",
        "",
        "- `case_id`: pseudonymous case identifier (a keyed hash; it cannot be traced back without the export secret).",
        "- `qversion`, `language`, `started`, `ended` (UTC), `duration` (seconds).",
        "- `mode` (mode of completion), `mode_first` (mode it began in): "
        + ", ".join(f"{k} {v}" for k, v in MODE_LABELS.items())
        + "; `mode_switch` 1 when it changed mode.",
        "- `outcome`: " + ", ".join(f"{k} {v}" for k, v in OUTCOME_LABELS.items()) + ".",
        "- `interviewer`: pseudonymous interviewer id for telephone interviews.",
        "",
        "No names, e-mail addresses or telephone numbers are exported. Open-text answers are exported as typed; read them",
        "before sharing the files. In the CSV files, text that begins with = + - @ has an apostrophe put in front so a",
        "spreadsheet shows it instead of running it as a formula.",
        "",
    ]
    if cb.notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in cb.notes] + [""]
    dest.write_text("\n".join(lines), encoding="utf-8")
