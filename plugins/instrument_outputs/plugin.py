"""Hook implementations of the built-in ``outputs`` plugin: the export formats.

Each format lives in its own module and imports its writer library
(pyreadstat, pyarrow) only when it writes. What the export needs to know
about each (file names, default or always written, per loop, the README's
sentences) is in its :class:`~instrument.plugin_types.OutputFormat`.
"""

from __future__ import annotations

from typing import Any

from instrument import hookimpl
from instrument.plugin_types import OutputFormat


def _lazy(module: str, attr: str = "write") -> Any:
    """A callable that imports ``module`` only when called."""

    def call(*args: Any, **kwargs: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(f"instrument_outputs.{module}"), attr)(
            *args, **kwargs
        )

    call.__name__ = f"{module}.{attr}"
    return call


@hookimpl
def register_output_formats() -> list[OutputFormat]:
    return [
        OutputFormat(
            name="sav",
            extensions=("sav",),
            media_type="application/x-spss-sav",
            write=_lazy("sav"),
            can_write=_lazy("sav", "can_write"),
            requires=("pyreadstat",),
            default=True,
            per_loop=True,
            descriptions={
                "sav": "SPSS data file: variable and value labels, user-missing values, "
                "measure levels, notes (DOCUMENT).",
            },
        ),
        OutputFormat(
            name="dta",
            extensions=("dta",),
            media_type="application/x-stata-dta",
            write=_lazy("dta"),
            can_write=_lazy("dta", "can_write"),
            default=True,
            per_loop=True,
            descriptions={
                "dta": "Stata data file, format 118 (Stata 14 and later): variable and value "
                "labels (labels over 80 bytes shortened, see the dictionary).",
            },
        ),
        OutputFormat(
            name="csv",
            extensions=("csv", "sps", "do", "R"),
            media_type="text/csv",
            write=_lazy("csv_syntax"),
            can_write=_lazy("csv_syntax", "can_write"),
            default=True,
            per_loop=True,
            descriptions={
                "csv": "The data as UTF-8 comma-separated codes, one row per case, variable "
                "names in the first row.",
                "sps": "SPSS/PSPP syntax that reads the CSV and applies labels, missing values, "
                "levels and multiple-response sets (MRSETS).",
                "do": "Stata do-file that reads the CSV and applies variable and value labels.",
                "R": "R script that reads the CSV into `data` as haven labelled vectors with "
                "user-missing values.",
            },
        ),
        OutputFormat(
            name="parquet",
            extensions=("parquet",),
            media_type="application/vnd.apache.parquet",
            write=_lazy("parquet"),
            requires=("pyarrow",),
            default=True,
            per_loop=True,
            descriptions={
                "parquet": "Apache Parquet with the full codebook as JSON in the metadata key "
                "instrument.codebook.",
            },
        ),
        OutputFormat(
            name="ddi",
            extensions=("xml",),
            media_type="application/xml",
            write=_lazy("ddi"),
            suffix="_ddi.xml",
            default=True,
            descriptions={
                "xml": "DDI Codebook 2.5 metadata (validates against the DDI Alliance schema).",
            },
        ),
        OutputFormat(
            name="dictionary",
            extensions=("csv",),
            media_type="text/csv",
            write=_lazy("dictionary"),
            suffix="_dictionary.csv",
            always=True,
            descriptions={
                "csv": "One row per variable: labels (full and as shortened), question texts "
                "per mode and language, codes, routing.",
            },
        ),
        OutputFormat(
            name="paradata",
            extensions=("csv",),
            media_type="text/csv",
            write=_lazy("paradata"),
            can_write=_lazy("paradata", "can_write"),
            suffix="_paradata.csv",
            always=True,
            descriptions={
                "csv": "One row per page submitted, back navigation, jump or mode switch, with "
                "seconds on page, device class and the order of randomised options shown; one per "
                "answer changed and per soft check confirmed.",
            },
        ),
    ]
