"""Hook implementations of the built-in ``outputs`` plugin: the export formats.

Each format lives in its own module and imports its writer library
(pyreadstat, pyarrow, lxml) only when it writes.
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
        ),
        OutputFormat(
            name="dta",
            extensions=("dta",),
            media_type="application/x-stata-dta",
            write=_lazy("dta"),
            can_write=_lazy("dta", "can_write"),
        ),
        OutputFormat(
            name="csv",
            extensions=("csv", "sps", "do", "R"),
            media_type="text/csv",
            write=_lazy("csv_syntax"),
        ),
        OutputFormat(
            name="parquet",
            extensions=("parquet",),
            media_type="application/vnd.apache.parquet",
            write=_lazy("parquet"),
            requires=("pyarrow",),
            extra="parquet",
        ),
        OutputFormat(
            name="ddi",
            extensions=("xml",),
            media_type="application/xml",
            write=_lazy("ddi"),
            requires=("lxml",),
        ),
        OutputFormat(
            name="dictionary",
            extensions=("csv",),
            media_type="text/csv",
            write=_lazy("dictionary"),
        ),
        OutputFormat(
            name="paradata",
            extensions=("csv",),
            media_type="text/csv",
            write=_lazy("paradata"),
            can_write=_lazy("paradata", "can_write"),
        ),
    ]
