"""Two output formats: JSON lines (works everywhere) and one needing a module nobody has."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from instrument import hookimpl
from instrument.plugin_types import OutputFormat

ABSENT_MODULE = "instrument_test_module_that_is_not_installed"


def write_jsonl(dataset: Any, dest: Path) -> None:
    with open(dest, "w", encoding="utf-8") as out:
        out.writelines(json.dumps(row, sort_keys=True) + "\n" for row in dataset)


def can_write_jsonl(dataset: Any) -> str | None:
    return None if isinstance(dataset, list) else "JSON lines needs a list of rows"


def write_fancy(dataset: Any, dest: Path) -> None:
    import importlib

    importlib.import_module(ABSENT_MODULE)  # imported only when used


@hookimpl
def register_output_formats() -> list[OutputFormat]:
    return [
        OutputFormat(
            name="jsonl",
            extensions=("jsonl",),
            media_type="application/jsonl",
            write=write_jsonl,
            can_write=can_write_jsonl,
        ),
        OutputFormat(
            name="fancy",
            extensions=("fancy",),
            media_type="application/x-fancy",
            write=write_fancy,
            requires=(ABSENT_MODULE,),
            extra="fancy",
        ),
    ]
