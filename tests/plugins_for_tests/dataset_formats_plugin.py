"""Output formats a third party might add, written from the real Dataset.

``rows``: JSON lines of codes plus a small text file beside them, a default
format written per loop; ``summary``: always written, refusing an empty
dataset; ``needy``: needs a module nobody has and names no extra.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from instrument import hookimpl
from instrument.plugin_types import OutputFormat

ABSENT_MODULE = "instrument_test_module_that_is_not_installed"


def write_rows(dataset: Any, dest: Path) -> None:
    frame = dataset.frame
    with open(dest, "w", encoding="utf-8") as out:
        for record in frame.astype(object).where(frame.notna(), None).to_dict("records"):
            out.write(json.dumps(record, default=str, sort_keys=True) + "\n")
    dest.with_name(dataset.stem + ".txt").write_text(
        f"{len(frame)} rows of {dataset.stem}\n", encoding="utf-8"
    )


def write_summary(dataset: Any, dest: Path) -> None:
    dest.write_text(f"{len(dataset.frame)} cases\n", encoding="utf-8")


def can_write_summary(dataset: Any) -> str | None:
    return None if len(dataset.frame) else "there are no cases to summarise"


@hookimpl
def register_output_formats() -> list[OutputFormat]:
    return [
        OutputFormat(
            name="rows",
            extensions=("jsonl", "txt"),
            media_type="application/jsonl",
            write=write_rows,
            suffix="_rows.jsonl",
            default=True,
            per_loop=True,
            descriptions={"jsonl": "Every case as one JSON object.", "txt": "How many rows."},
        ),
        OutputFormat(
            name="summary",
            extensions=("txt",),
            media_type="text/plain",
            write=write_summary,
            can_write=can_write_summary,
            suffix="_summary.txt",
            always=True,
            descriptions={"txt": "The number of cases."},
        ),
        OutputFormat(
            name="needy",
            extensions=("needy",),
            media_type="application/x-needy",
            write=write_summary,
            requires=(ABSENT_MODULE,),
        ),
    ]
