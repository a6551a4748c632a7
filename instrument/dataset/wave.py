"""A panel wave's dataset: one row per eligible member, interviewed or not.

An export of a questionnaire has one row per interview; a wave's analysts need
one row per member the wave was meant to reach, because a response rate, a
non-response weight or a model of attrition needs the members who did not
answer as much as those who did. :func:`wave_dataset` takes the questionnaire's
dataset of the wave's interviews and the wave's members (plain data, read by
the exporter) and gives that file:

- ``member_id``: the member's panel pseudonym, the same in every wave of the
  panel, so waves can be linked; empty for a member who withdrew and had their
  answers deleted (their row keeps only the disposition, so the rates can be
  reproduced, and can be linked to nothing);
- ``wave``: the wave's key; ``disposition``: the wave's AAPOR disposition of the
  member, the dashboard's own (numeric, labelled "2.20 Invited, no response
  (non-contact)"; the code is the AAPOR code without its dot, and reasons the
  dashboard tells apart under one code share it and its label, "2.11 Refusal:
  asked for no more contact / Refusal: withdrew"); ``rate_class``:
  the column of AAPOR's rate formulas it counts in;
- then the interview's variables. A member with no interview has outcome 0 ("No
  interview in this wave"), -8 in the interview's other coded variables (there
  is no interview to describe), empty times, the panel's values in the preload
  variables (the panel knew them; the export carries them), and -9 (missing) in
  every question.

The mode of each answer is in the paradata file (one row per page and
answer, with its mode), kept for the interviews the wave file has.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np
import pandas as pd

from .builder import int_dtype_for
from .codebook import Codebook, VariableInfo
from .dataset import Dataset
from .pseudonym import Pseudonymiser

__all__ = ["RATE_CLASS_LABELS", "WaveMember", "disposition_code", "wave_dataset"]

NO_INTERVIEW: Final = "No interview in this wave"

RATE_CLASS_LABELS: Final = {
    "I": "Complete interview",
    "P": "Partial interview",
    "R": "Refusal and break-off",
    "NC": "Non-contact",
    "O": "Other eligible non-interview",
    "UH": "Unknown if eligible: not reached",
    "UO": "Unknown eligibility, other",
    "NE": "Not eligible",
}
"""AAPOR's rate classes in their order; ``rate_class`` is 1 for I, 2 for P, ..."""

_AAPOR_DIGITS = re.compile(r"^([1-4])\.(\d{1,6})$")
_INTERVIEW_ADMIN: Final = ("qversion", "language", "mode", "mode_first", "mode_switch")


@dataclass(frozen=True, slots=True)
class WaveMember:
    """An eligible member of the wave, as the wave's file needs them.

    ``row_key``: a stable text for the member's case (the file's ``case_id`` of a
    member with no interview is made from it with the export's secret);
    ``interview_id``: the interview whose row the member gets (None: none).
    """

    row_key: str
    member_id: str
    aapor: str
    aapor_label: str
    rate_class: str
    interview_id: str | None
    preload: Mapping[str, Any] = field(default_factory=dict)


def disposition_code(aapor: str, others: Sequence[str] = ()) -> int:
    """The numeric code of an AAPOR disposition: its digits (``2.20`` -> 220, ``1.1`` -> 11).

    Unique, since AAPOR codes have one digit before the dot. A study's own code
    that is not digits (``2.112a``) gets 90,000 plus its place in ``others``.
    """
    found = _AAPOR_DIGITS.match(aapor)
    if found:
        return int(found.group(1) + found.group(2))
    return 90_000 + (list(others).index(aapor) if aapor in others else 0)


def wave_dataset(
    dataset: Dataset,
    wave_members: Sequence[WaveMember],
    *,
    wave: str,
    pseudonymiser: Pseudonymiser,
) -> Dataset:
    """The wave's file: one row per member of ``wave_members``, in their order (see module doc).

    ``dataset`` holds the wave's interviews (partial ones included); a member's
    row is their interview's row when ``interview_id`` names one of them.
    """
    frame = dataset.frame
    infos = dataset.codebook.variables
    position = {case: i for i, case in enumerate(frame["case_id"])}
    take: list[int] = []
    blanks: list[WaveMember] = []
    order: list[tuple[bool, int]] = []  # (from the interviews, index in that part)
    for member in wave_members:
        row = None
        if member.interview_id is not None:
            row = position.get(pseudonymiser.case_id(member.interview_id))
        if row is None:
            order.append((False, len(blanks)))
            blanks.append(member)
        else:
            order.append((True, len(take)))
            take.append(row)
    answered = frame.iloc[take].reset_index(drop=True)
    blank = _blank_rows(blanks, infos, dataset.codebook.missing_codes, pseudonymiser, frame.dtypes)
    parts = pd.concat([answered, blank], ignore_index=True)
    picked = [i if from_interviews else len(take) + i for from_interviews, i in order]
    body = parts.iloc[picked].reset_index(drop=True) if picked else parts.iloc[0:0]
    for name, info in infos.items():
        if info.storage == "int" and len(body):
            body[name] = body[name].astype(
                int_dtype_for(int(body[name].min()), int(body[name].max()))
            )

    others = sorted({m.aapor for m in wave_members if not _AAPOR_DIGITS.match(m.aapor)})
    # one code per AAPOR code: the dashboard's reasons that share a code share its label
    reasons: dict[int, tuple[str, set[str]]] = {}
    for m in wave_members:
        code = disposition_code(m.aapor, others)
        reasons.setdefault(code, (m.aapor, set()))[1].add(m.aapor_label)
    labels = {code: f"{aapor} {' / '.join(sorted(why))}" for code, (aapor, why) in reasons.items()}
    classes = list(RATE_CLASS_LABELS)
    head = pd.DataFrame(
        {
            "member_id": pd.Series([m.member_id for m in wave_members], dtype=object),
            "wave": pd.Series([wave] * len(wave_members), dtype=object),
            "disposition": np.asarray(
                [disposition_code(m.aapor, others) for m in wave_members], dtype=np.int32
            ),
            "rate_class": np.asarray(
                [classes.index(m.rate_class) + 1 for m in wave_members], dtype=np.int8
            ),
        }
    )
    for name in head.columns:
        if name in body.columns:
            raise ValueError(
                f"the questionnaire has a variable named {name}, which a wave's file uses itself"
            )
    out = pd.concat([head, body], axis=1)
    variables = {
        **_wave_infos(wave, labels),
        **{name: _for_wave(info, dataset.codebook.missing_codes) for name, info in infos.items()},
    }
    codebook = Codebook(
        **{
            **dataset.codebook.__dict__,
            "variables": variables,
            "case_count": len(out),
            "notes": dataset.codebook.notes
            + [
                f"Wave {wave}: one row per eligible member of the wave, interviewed or not. "
                f"A member with no interview has outcome 0 ({NO_INTERVIEW}), -8 in the "
                "interview's other coded variables and -9 (missing) in every question; the "
                "preload variables hold what the panel knows. member_id is the same in every "
                "wave of the panel (empty for a member who had their answers deleted)."
            ],
        }
    )
    iterations = {
        loop: [happened[take[i]] if from_interviews else () for from_interviews, i in order]
        for loop, happened in dataset.iterations.items()
    }
    return Dataset(
        out, codebook, iterations, dataset.paradata, dataset.name, dict(dataset.left_out)
    )


def _blank_rows(
    members: Sequence[WaveMember],
    infos: Mapping[str, VariableInfo],
    missing_codes: Mapping[str, int],
    pseudonymiser: Pseudonymiser,
    dtypes: Mapping[str, Any],
) -> pd.DataFrame:
    """Rows for members with no interview: see the module doc for what each column holds."""
    na_code, rp = missing_codes["unanswered"], missing_codes["routed_past"]
    n = len(members)
    columns: dict[str, Any] = {}
    for name, info in infos.items():
        if name == "case_id":
            values: list[Any] = [pseudonymiser.case_id(f"case:{m.row_key}") for m in members]
        elif name == "outcome":
            values = [0] * n
        elif info.storage == "datetime":
            columns[name] = pd.Series([pd.NaT] * n, dtype=dtypes[name])
            continue
        elif info.kind == "admin":
            values = [_filled(info, rp)] * n
        elif info.kind == "preload":
            source = info.source_key or name
            values = [_preload_value(info, m.preload.get(source), na_code) for m in members]
        else:
            values = [_filled(info, na_code)] * n
        if info.storage == "int":
            columns[name] = np.asarray(values, dtype=np.int64)
        elif info.storage == "float":
            columns[name] = np.asarray(values, dtype=np.float64)
        else:
            columns[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(columns)


def _filled(info: VariableInfo, code: int) -> Any:
    if info.storage == "str":
        return str(code)
    if info.storage == "float" and info.kind == "admin":
        return np.nan
    return code


def _preload_value(info: VariableInfo, value: Any, na_code: int) -> Any:
    """A preload the panel gave the case, as the column stores it (-9 when not known)."""
    if value is None or value == "":
        return _filled(info, na_code)
    try:
        if info.storage == "int":
            return int(value)
        if info.storage == "float":
            return float(value)
    except (TypeError, ValueError):
        return _filled(info, na_code)
    return str(value)


def _for_wave(info: VariableInfo, missing_codes: Mapping[str, int]) -> VariableInfo:
    """The interview's variables, with the codes a member with no interview may have labelled."""
    rp = missing_codes["routed_past"]
    if info.name == "outcome":
        return replace(info, value_labels={0: NO_INTERVIEW, **info.value_labels})
    if info.name in _INTERVIEW_ADMIN:
        code: Any = str(rp) if info.storage == "str" else rp
        return replace(
            info, missing={**info.missing, code: f"Inapplicable: {NO_INTERVIEW.lower()}"}
        )
    return info


def _wave_infos(wave: str, disposition_labels: Mapping[int, str]) -> dict[str, VariableInfo]:
    return {
        "member_id": VariableInfo(
            "member_id",
            "Panel member (pseudonymous; the same in every wave of the panel)",
            "admin",
            "str",
            width=11,
            universe="Every eligible member of the wave",
        ),
        "wave": VariableInfo(
            "wave",
            "Panel wave",
            "admin",
            "str",
            width=max(len(wave), 1),
            universe="Every eligible member of the wave",
        ),
        "disposition": VariableInfo(
            "disposition",
            "AAPOR final disposition in this wave",
            "admin",
            "int",
            value_labels=dict(sorted(disposition_labels.items())),
            universe="Every eligible member of the wave",
        ),
        "rate_class": VariableInfo(
            "rate_class",
            "AAPOR outcome-rate class of the disposition",
            "admin",
            "int",
            value_labels={i + 1: f"{k}: {v}" for i, (k, v) in enumerate(RATE_CLASS_LABELS.items())},
            universe="Every eligible member of the wave",
        ),
    }
