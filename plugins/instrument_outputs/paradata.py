"""The long paradata CSV (built by :mod:`instrument.dataset.paradata`)."""

from __future__ import annotations

from pathlib import Path

from instrument.dataset import Dataset

__all__ = ["write", "can_write"]


def can_write(dataset: Dataset) -> str | None:
    return None if dataset.paradata is not None else "no events were read for this dataset"


def write(dataset: Dataset, dest: Path) -> None:
    frame = dataset.paradata
    if frame is None:
        return
    # page ids, question ids and event names come from the questionnaire, never from
    # respondents, so there is no open text here to neutralise
    frame.to_csv(
        dest, index=False, encoding="utf-8", lineterminator="\n", date_format="%Y-%m-%d %H:%M:%S"
    )
