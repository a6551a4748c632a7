"""The harmonised dataset: interviews in, a data frame of codes plus a codebook out.

This is core code: it imports pandas but no file-format library (pyreadstat,
pyarrow) and no web code. Output plugins turn a :class:`Dataset` into files.
"""

from __future__ import annotations

from .builder import MODE_CODES, OUTCOME_CODES, Dataset, DatasetError, build_dataset, int_dtype_for
from .codebook import MISSING_LABELS, Codebook, LoopInfo, MultiGroup, VariableInfo
from .pseudonym import Pseudonymiser

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
    "VariableInfo",
    "build_dataset",
    "int_dtype_for",
]
