"""Apache Parquet with the whole codebook in the file's metadata.

Parquet has no value labels or user-missing values of its own, so the
codebook travels as JSON under the schema metadata key ``instrument.codebook``
and each field's label under its own ``label`` key. pandas users get codes;
``json.loads(pq.read_schema(path).metadata[b"instrument.codebook"])`` gives
the rest.
"""

from __future__ import annotations

import json
from pathlib import Path

from instrument.dataset import Dataset

__all__ = ["write", "METADATA_KEY"]

METADATA_KEY = b"instrument.codebook"


def write(dataset: Dataset, dest: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = dataset.frame
    cb = dataset.codebook
    fields = []
    for name in frame.columns:
        info = cb.variables[name]
        if info.storage == "str":
            kind = pa.string()
        elif info.storage == "datetime":
            kind = pa.timestamp("us", tz="UTC")
        else:
            kind = pa.from_numpy_dtype(frame[name].dtype)
        fields.append(pa.field(name, kind, metadata={b"label": info.label.encode("utf-8")}))
    schema = pa.schema(
        fields,
        metadata={METADATA_KEY: json.dumps(cb.to_dict(), ensure_ascii=False).encode("utf-8")},
    )
    table = pa.Table.from_pandas(frame, schema=schema.remove_metadata(), preserve_index=False)
    # from_pandas adds its own pandas metadata; keep it and add the codebook
    metadata = dict(table.schema.metadata or {})
    metadata.update(schema.metadata)
    table = table.cast(pa.schema(fields)).replace_schema_metadata(metadata)
    pq.write_table(table, str(dest), compression="zstd")
