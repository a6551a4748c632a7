"""Exports: the harmonised dataset of a questionnaire's interviews, written in every format asked.

``instrument export`` parses its options into an :class:`ExportRequest`,
calls :func:`run_export` and prints the :class:`ExportResult`; anything
else that exports (a scheduled job, a notebook) does the same. The steps
live apart: :mod:`.formats` chooses and checks the formats, :mod:`.reading`
reads the dataset out of the store, :mod:`.run` writes the files,
:mod:`.readme` and :mod:`.manifest` the two files that describe them.

No file-format library is imported here: the formats are plugins
(``register_output_formats``), the built-ins among them.
"""

from __future__ import annotations

from .formats import ExportFailed
from .run import ExportRequest, ExportResult, left_out_sentence, run_export

__all__ = ["ExportFailed", "ExportRequest", "ExportResult", "left_out_sentence", "run_export"]
