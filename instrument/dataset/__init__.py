"""The harmonised dataset: interviews in, a data frame of codes plus a codebook out.

This is core code: it imports pandas but no file-format library (pyreadstat,
pyarrow) and no web code. Output plugins turn a :class:`Dataset` into files.

The builder and the dataset type (and with them pandas) are imported on
first use of one of their names, so that a web worker, which only codes
export rows as it saves (:mod:`instrument.dataset.rows`), never loads pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .codebook import MISSING_LABELS, Codebook, LoopInfo, MultiGroup, VariableInfo
from .coding import DatasetError
from .pseudonym import Pseudonymiser
from .rows import MODE_CODES, OUTCOME_CODES, RowCoder

if TYPE_CHECKING:
    from .builder import build_dataset, int_dtype_for
    from .dataset import Dataset

__all__ = [
    "MISSING_LABELS",
    "MODE_CODES",
    "OUTCOME_CODES",
    "Codebook",
    "Dataset",
    "DatasetError",
    "LoopInfo",
    "MultiGroup",
    "Pseudonymiser",
    "RowCoder",
    "VariableInfo",
    "build_dataset",
    "int_dtype_for",
]

_FROM_BUILDER = frozenset({"build_dataset", "int_dtype_for"})


def __getattr__(name: str) -> Any:
    if name in _FROM_BUILDER:
        from . import builder

        return getattr(builder, name)
    if name == "Dataset":
        from .dataset import Dataset

        return Dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
