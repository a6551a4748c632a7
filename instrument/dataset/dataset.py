"""The dataset: a data frame of codes plus the codebook that explains every column.

What :func:`~instrument.dataset.build_dataset` returns and what every output
format writes. A loop is kept wide (one column per iteration); :meth:`Dataset.long`
gives it as a long file, one row per case and iteration that happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .codebook import Codebook, MultiGroup, VariableInfo
from .coding import DatasetError

__all__ = ["Dataset"]


@dataclass
class Dataset:
    """A data frame of codes plus the codebook that explains every column.

    ``iterations`` records, per loop and per row, which iteration suffixes
    happened, so :meth:`long` can build the long file; ``paradata`` is the
    long page-level paradata frame when events were given. ``left_out``
    counts the interviews the build was given but did not take, by reason:
    ``partial`` and ``screened_out`` (without ``include_partial``), ``test``,
    ``since``, ``withdrawn`` and ``empty`` (no answers stored).
    """

    frame: pd.DataFrame
    codebook: Codebook
    iterations: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    paradata: pd.DataFrame | None = None
    name: str = ""
    left_out: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def stem(self) -> str:
        return self.name or self.codebook.questionnaire_id

    def long(self, loop: str) -> Dataset:
        """One row per case and iteration of ``loop``, keyed by ``case_id`` and ``iteration``.

        Only iterations that happened become rows (the wide file codes the
        others routed past). Columns are the loop's variables without suffix.
        A loop inside others has one more key column per loop around it,
        ``iteration_<loop>`` (outermost first): the people of household 2 have
        ``iteration_households`` 2, so the file joins the households' long file.
        """
        info = next((lp for lp in self.codebook.loops if lp.id == loop), None)
        if info is None:
            raise DatasetError(f"no loop '{loop}' in {self.codebook.questionnaire_id}")
        happened = self.iterations.get(loop, [()] * len(self.frame))
        keys = [f"iteration_{outer}" for outer in info.outer] + ["iteration"]
        rows_by_suffix: dict[str, list[int]] = {}
        for row, suffixes in enumerate(happened):
            for suffix in suffixes:
                rows_by_suffix.setdefault(suffix, []).append(row)
        pieces = []
        for suffix in info.suffixes:
            rows = rows_by_suffix.get(suffix)
            if not rows:
                continue
            cols = [f"{base}_{suffix}" for base in info.variables]
            part = self.frame.iloc[rows][["case_id", *cols]].copy()
            part.columns = ["case_id", *info.variables]
            *outer_parts, own = suffix.split("_")
            for at, value in enumerate([*outer_parts, own]):
                part.insert(1 + at, keys[at], np.int32(int(value)))
            pieces.append(part)
        if pieces:
            frame = pd.concat(pieces, ignore_index=True)
        else:
            frame = pd.DataFrame(columns=["case_id", *keys, *info.variables])
        frame = frame.sort_values(["case_id", *keys], kind="stable").reset_index(drop=True)
        for column in frame.columns[1 + len(keys) :]:
            frame[column] = frame[column].astype(self.frame[f"{column}_{info.suffixes[0]}"].dtype)
        for column in keys:
            frame[column] = frame[column].astype(np.int32)
        variables: dict[str, VariableInfo] = {}
        src = self.codebook.variables
        variables["case_id"] = src["case_id"]
        for outer in info.outer:
            variables[f"iteration_{outer}"] = VariableInfo(
                name=f"iteration_{outer}",
                label=f"Iteration of loop {outer}, around loop {loop}",
                kind="admin",
                storage="int",
                level="ordinal",
                loop=outer,
            )
        variables["iteration"] = VariableInfo(
            name="iteration",
            label=f"Iteration of loop {loop} ({'option code' if info.kind == 'for_each' else 'number'})",
            kind="admin",
            storage="int",
            level="nominal" if info.kind == "for_each" else "ordinal",
            loop=loop,
        )
        cut = len(info.suffixes[0]) + 1  # "_2_3" after a name inside two loops
        for base in info.variables:
            first = src[f"{base}_{info.suffixes[0]}"]
            variables[base] = VariableInfo(
                **{
                    **first.__dict__,
                    "name": base,
                    "iteration": None,
                    "universe": first.universe.rsplit(" (iteration", 1)[0],
                    "group": first.group[:-cut] if first.group else None,
                }
            )
        groups = [
            MultiGroup(
                g.question_id,
                g.label,
                g.question_id,
                [v[:-cut] for v in g.variables],
                1,
                loop,
            )
            for g in self.codebook.groups
            if g.loop == loop and g.iteration == info.suffixes[0]
        ]
        codebook = Codebook(
            **{
                **self.codebook.__dict__,
                "variables": variables,
                "groups": groups,
                "loops": [],
                "case_count": len(frame),
                "notes": self.codebook.notes
                + [f"Long file of loop {loop}: one row per case and iteration that happened."],
            }
        )
        return Dataset(frame.reset_index(drop=True), codebook, {}, None, f"{self.stem}_{loop}_long")
