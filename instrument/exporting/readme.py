"""The README that travels with an export: what each file is and how the codes work.

Each file's sentence comes from the format that wrote it
(``OutputFormat.descriptions``), so a plugin's files are described like the
built-ins'; the rest explains the missing frame and the interview variables,
which are the same whatever formats were written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from instrument.dataset import Dataset
from instrument.dataset.admin import OUTCOME_LABELS, mode_labels

__all__ = ["LONG_FILE", "write_readme"]

LONG_FILE = "A loop as a long file: one row per case and iteration, keyed by case_id and iteration."


def write_readme(dataset: Dataset, dest: Path, files: Sequence[tuple[str, str]]) -> None:
    """Write the README to ``dest``; ``files`` are (name, sentence) in the order written."""
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
    for name, sentence in files:
        lines.append(f"- `{name}`: {sentence}".rstrip())
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
        'Open-text and date variables are stored as text and hold the same codes as text (`"-8"`);',
        "an open-text answer that reads as a code gets one more leading apostrophe (typed `-8` is `'-8`).",
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
        + ", ".join(f"{k} {v}" for k, v in mode_labels(cb.mode_policies).items())
        + "; `mode_switch` 1 when it changed mode.",
        "- `outcome`: " + ", ".join(f"{k} {v}" for k, v in OUTCOME_LABELS.items()) + ".",
        "- `interviewer`: pseudonymous id of the interviewer who last keyed answers (interviewer-administered modes).",
        "",
        "No names, e-mail addresses or telephone numbers are exported, nor any answer to a question the questionnaire",
        "marks as identifying a person (see the notes). Open-text answers are exported as typed; read them",
        "before sharing the files. In the CSV files, text that begins with = + - @ has an apostrophe put in front so a",
        "spreadsheet shows it instead of running it as a formula.",
        "",
    ]
    if cb.notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in cb.notes] + [""]
    dest.write_text("\n".join(lines), encoding="utf-8")
