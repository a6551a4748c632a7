"""Build the harmonised dataset: one row per interview, codes not labels.

Values come from the engine (``Engine.values``), never from re-reading
answers, so routing, loops, computed variables and don't-know handling mean
exactly what they meant during the interview, whatever the mode or language.
Each value is then coded by the questionnaire's missing frame (default
-1 don't know, -2 refused, -8 routed past, -9 on the route but unanswered).

Each interview becomes one export row (:mod:`.rows`): the one stored with
it when usable, else coded here from its state, with its identifying answers
merged back in memory when the caller can read them (``personal``), so values
derived from them are those of the interview (:mod:`.personal`). Several questionnaire
versions are united by variable name (:mod:`.versions`); the interview
variables come first (:mod:`.admin`). The result is a :class:`~.dataset.Dataset`.

A little over the ~400 lines a module should hold, on purpose: ``build_dataset`` keeps the
chunked column coding in one function, the measured hot path of every export
(docs/benchmarks.md, Export) that tests/test_dataset_speed.py checks against a plain reference
build; the plan, coding, rows, versions and codebook it calls are modules of their own.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from instrument.engine.state import State
from instrument.model import Questionnaire
from instrument.store.records import ExportRecord, InterviewRecord

from .admin import admin_infos, interviewers_from_events, mode_policies
from .codebook import Codebook
from .coding import CHUNK, DatasetError, light_state, parse_time
from .dataset import Dataset
from .limits import shorten_labels
from .personal import merge, personal_keys
from .pseudonym import Pseudonymiser
from .rows import OUTCOME_CODES, RowCoder
from .versions import collision_notes, harmonise, identifying_note

__all__ = ["Dataset", "DatasetError", "PersonalSource", "build_dataset", "int_dtype_for"]

PersonalSource = Callable[[Collection[str]], Mapping[str, Mapping[str, Any]]]
"""Reads the identifying answers of many interviews at once, by interview id
(``Store.personal_answers_of``)."""

OUTCOME_OF_CODE = {str(code): outcome for outcome, code in OUTCOME_CODES.items()}


def int_dtype_for(lo: int, hi: int) -> np.dtype[Any]:
    """The smallest integer type that every package stores without loss.

    The ranges are Stata's (byte -127..100, int -32767..32740, long
    -2147483647..2147483620), which are narrower than numpy's because Stata
    keeps the top of each range for its own missing values; anything larger
    becomes float64 (exact up to 2**53). Never int64: pyreadstat writes
    int64 as a double.
    """
    if lo >= -127 and hi <= 100:
        return np.dtype(np.int8)
    if lo >= -32767 and hi <= 32740:
        return np.dtype(np.int16)
    if lo >= -2147483647 and hi <= 2147483620:
        return np.dtype(np.int32)
    return np.dtype(np.float64)


# ---------------------------------------------------------------- input forms


@dataclass(frozen=True)
class _Input:
    id: str
    state: dict[str, Any]
    is_test: bool
    status: str | None
    updated_at: dt.datetime | None
    version_id: int | None
    export_row: str | None = None


def _normalise(item: Any) -> _Input:
    """A ``(state, meta)`` pair (store records are unpacked by the build itself)."""
    state, meta = item
    meta = dict(meta or {})
    if "id" not in meta:
        raise DatasetError(
            "an interview given as (state, meta) needs meta['id'] (for its pseudonymous case id)"
        )
    return _Input(
        str(meta["id"]),
        state,
        bool(meta.get("is_test", False)),
        meta.get("status"),
        meta.get("updated_at"),
        meta.get("questionnaire_version_id"),
        meta.get("export_row"),
    )


# ---------------------------------------------------------------- the build


def build_dataset(
    questionnaire: Questionnaire,
    interviews: Iterable[
        ExportRecord | InterviewRecord | tuple[Mapping[str, Any], Mapping[str, Any]]
    ],
    *,
    include_partial: bool = False,
    include_test: bool = False,
    since: dt.datetime | None = None,
    progress: Callable[[int], Any] | None = None,
    versions: Mapping[int | str, Questionnaire] | None = None,
    pseudonymiser: Pseudonymiser | None = None,
    interviewers: Mapping[str, str] | Iterable[Any] | None = None,
    exported_at: dt.datetime | None = None,
    personal: PersonalSource | None = None,
) -> Dataset:
    """Turn stored interviews into one harmonised :class:`Dataset`.

    ``interviews`` are store records (``Store.iter_export_records``, the
    fast way, or ``InterviewRecord``), or ``(state_json, meta)`` pairs where
    meta holds ``id`` and optionally ``is_test``, ``status``, ``updated_at``,
    ``questionnaire_version_id`` and ``export_row``. An interview's stored
    export row is used when it was written under its version's key
    (:class:`~instrument.dataset.RowCoder`); otherwise its state is coded.

    Complete interviews only unless ``include_partial`` (then partial, unfinished and screened-out ones
    too); test interviews only with ``include_test``; ``since`` keeps those
    updated (or, without a store record, last touched) at or after it.
    ``versions`` maps questionnaire version ids and/or content hashes to the
    other versions interviews may be on. ``interviewers`` maps interview id
    to the staff id of its interviewer, or is an iterable of store events to
    read that from. ``progress(n)`` is called with the number of interviews
    read since the last call.

    ``personal`` reads stored interviews' identifying answers (``Store.personal_answers_of``):
    a state coded here (no usable row) of a version with identifying questions gets
    them merged back first, in bulk per chunk, so a value derived from one (an age
    from a date of birth) is what the interview had, as in the row its save stored.
    They reach no column. Without it, states are coded as given: pass it whenever
    they come from a store.
    """
    pseudonymiser = pseudonymiser or Pseudonymiser()
    exported_at = exported_at or dt.datetime.now(dt.UTC)
    if interviewers is None:
        interviewer_of: Mapping[str, str] = {}
    elif isinstance(interviewers, Mapping):
        interviewer_of = interviewers
    else:
        interviewer_of = interviewers_from_events(interviewers)
    if since is not None and since.tzinfo is None:
        raise DatasetError("since must be a timezone-aware datetime (the store is in UTC)")

    # --- versions, their plans and the union of their columns
    harmonised = harmonise(questionnaire, versions)
    by_key, hash_of, distinct = harmonised.by_key, harmonised.hash_of, harmonised.distinct
    plans, union_infos = harmonised.plans, harmonised.variables
    groups, loops = harmonised.groups, harmonised.loops
    frame_codes = questionnaire.missing.codes()

    names = list(union_infos)
    coders = {h: RowCoder(q, plan=plans[h]) for h, q in distinct.items()}
    languages = harmonised.languages
    language_code = {lang: i + 1 for i, lang in enumerate(languages)}
    version_labels = harmonised.labels
    rp_text, un_text = str(frame_codes["routed_past"]), str(frame_codes["unanswered"])
    wanted = {"complete"} | ({"partial", "screened_out"} if include_partial else set())
    wanted_codes = {str(OUTCOME_CODES[o]) for o in wanted}

    # Each interview becomes one export row (see instrument.dataset.rows):
    # the one stored with it when that is usable, else coded here from its
    # state, CHUNK interviews at a time. Rows are kept per version, with
    # their position in the dataset, and parsed per version in one pass.
    ids: list[str] = []
    case_ids: list[str] = []
    left_out: Counter[str] = Counter()
    rows_of: dict[str, _VersionRows] = {}
    pending = 0

    item_id: str
    item_state: Mapping[str, Any] | None
    status: str | None
    updated_at: dt.datetime | None
    version_id: int | None
    export_row: str | None
    for raw in interviews:
        pending += 1
        if progress is not None and pending >= 1000:
            progress(pending)
            pending = 0
        kind = type(raw)
        if kind is ExportRecord:
            (
                item_id,
                version_id,
                stored_hash,
                status,
                is_test,
                updated_at,
                export_row,
                item_state,
            ) = raw
        elif kind is InterviewRecord:
            item_id, item_state, is_test, status, updated_at, version_id = (
                raw.id,
                raw.state,
                raw.is_test,
                raw.status,
                raw.updated_at,
                raw.questionnaire_version_id,
            )
            export_row = stored_hash = None
        else:
            item = _normalise(raw)
            item_id, item_state, is_test, status, updated_at, version_id, export_row = (
                item.id,
                item.state,
                item.is_test,
                item.status,
                item.updated_at,
                item.version_id,
                item.export_row,
            )
            stored_hash = None
        if status == "withdrawn" or (not item_state and export_row is None):
            left_out["withdrawn" if status == "withdrawn" else "empty"] += 1
            continue
        if is_test and not include_test:
            left_out["test"] += 1
            continue
        if since is not None:
            touched = updated_at or (parse_time(item_state.get("now")) if item_state else None)
            if touched is None or touched < since:
                left_out["since"] += 1
                continue
        q_hash = item_state.get("questionnaire_hash") if item_state else stored_hash
        q = None
        if version_id is not None:
            q = by_key.get(version_id)
        if q is None and q_hash is not None:
            q = by_key.get(q_hash)
        if q is None or (q_hash is not None and hash_of[id(q)] != q_hash):
            shown = q_hash or f"version id {version_id}"
            raise DatasetError(
                f"interview {item_id} is on a questionnaire version ({str(shown)[:12]}...) "
                "that was not given to the export; pass every version stored for it"
            )
        h = hash_of[id(q)]
        coder = coders[h]
        rows = rows_of.get(h)
        if rows is None:
            rows = rows_of[h] = _VersionRows(coder, personal if personal_keys(q) else None)
        if export_row is not None and coder.usable(export_row):
            outcome_code = export_row[len(coder.key) + 1]
            if outcome_code not in wanted_codes:
                left_out[OUTCOME_OF_CODE.get(outcome_code, "partial")] += 1
                continue
            rows.lines.append(export_row)
        else:
            if not item_state:
                raise DatasetError(
                    f"interview {item_id} came without its state and without a usable export row"
                )
            outcome = item_state.get("outcome") or "partial"
            if outcome not in wanted:
                left_out[outcome] += 1
                continue
            rows.waiting.append((len(rows.lines), item_id, item_state))
            rows.lines.append("")
            if len(rows.waiting) >= CHUNK:
                rows.code_waiting()
        rows.positions.append(len(ids))
        ids.append(item_id)
        case_ids.append(pseudonymiser.case_id(item_id))
    if progress is not None and pending:
        progress(pending)

    # --- columns
    n = len(ids)
    if len(set(case_ids)) != n:
        raise DatasetError(
            "two interviews were given the same case id; this should not happen: report it"
        )
    parsed = {h: rows.parse() for h, rows in rows_of.items()}

    def gather(field: str, fill: Any, dtype: Any) -> np.ndarray[Any, Any]:
        """One field of every row, in dataset order (``fill`` where a version has no such field)."""
        out = np.empty(n, dtype=dtype)
        for h, rows in rows_of.items():
            values = parsed[h].get(field)
            out[rows.positions] = fill if values is None else values
        return out

    by_row = [""] * n
    for h, rows in rows_of.items():
        label = distinct[h].version
        for position in rows.positions:
            by_row[position] = label
    interviewer_used = gather("interviewer_used", 0, np.int64)
    admin: dict[str, Any] = {
        "case_id": case_ids,
        "qversion": by_row,
        "language": np.asarray(
            [language_code.get(lang, 0) for lang in gather("language", "", object)], dtype=np.int64
        ),
        "mode": gather("mode", 0, np.int64),
        "mode_first": gather("mode_first", 0, np.int64),
        "mode_switch": gather("mode_switch", 0, np.int64),
        "started": gather("started", None, "datetime64[us]"),
        "ended": gather("ended", None, "datetime64[us]"),
        "duration": gather("duration", np.nan, np.float64),
        "outcome": gather("outcome", 0, np.int64),
        "interviewer": [
            pseudonymiser.interviewer_id(staff)
            if (staff := interviewer_of.get(i))
            else (un_text if used else rp_text)
            for i, used in zip(ids, interviewer_used)
        ],
    }
    iterations: dict[str, list[tuple[str, ...]]] = {}
    for lid in loops:
        happened: list[tuple[str, ...]] = [()] * n
        for h, rows in rows_of.items():
            values = parsed[h].get(f"loop:{lid}")
            if values is not None:
                for position, suffixes in zip(rows.positions, values):
                    happened[position] = suffixes
        iterations[lid] = happened

    policies = mode_policies(distinct.values())
    infos = admin_infos(questionnaire, frame_codes, languages, version_labels, policies)
    columns: dict[str, Any] = {}
    for info in infos:
        values_ = admin[info.name]
        if info.storage == "int":
            columns[info.name] = _int_array(np.asarray(values_, dtype=np.int64))
        elif info.storage in ("float", "datetime"):
            columns[info.name] = values_
        else:
            columns[info.name] = pd.Series(values_, dtype=object)
    rp = frame_codes["routed_past"]
    for name in names:
        info = union_infos[name]
        if name in columns:
            raise DatasetError(
                f"the questionnaire has a variable named {name}, which the export uses itself; rename it"
            )
        # union columns a version does not have: not asked, so routed past
        if info.storage == "int":
            columns[name] = _int_array(gather(name, rp, np.int64))
        elif info.storage == "float":
            columns[name] = gather(name, rp, np.float64)
        else:
            columns[name] = pd.Series(gather(name, rp_text, object), dtype=object)
    frame = pd.DataFrame(columns, copy=False)
    frame.index = pd.RangeIndex(len(frame))

    variables = {info.name: info for info in infos}
    variables.update(union_infos)
    codebook = Codebook(
        questionnaire_id=questionnaire.id,
        title=questionnaire.title.source(
            questionnaire.default_language, questionnaire.default_language
        ),
        version=questionnaire.version,
        versions=version_labels,
        languages=languages,
        default_language=questionnaire.default_language,
        modes=list(policies),
        mode_policies=policies,
        missing_codes=dict(frame_codes),
        variables=variables,
        groups=groups,
        loops=list(loops.values()),
        exported_at=exported_at,
        case_count=len(frame),
        notes=collision_notes(distinct.values()) + identifying_note(distinct.values()),
    )
    shorten_labels(codebook)
    return Dataset(frame, codebook, iterations, left_out=dict(left_out))


def _int_array(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    if not len(values):
        return values.astype(np.int8)
    return values.astype(int_dtype_for(int(values.min()), int(values.max())))


class _VersionRows:
    """The export rows of one questionnaire version in a build, and where they go."""

    __slots__ = ("coder", "lines", "personal", "positions", "waiting")

    def __init__(self, coder: RowCoder, personal: PersonalSource | None = None) -> None:
        self.coder = coder
        self.personal = personal  # only for a version with identifying questions
        self.lines: list[str] = []
        self.positions: list[int] = []  # each row's index in the dataset
        # (index in lines, interview id, state JSON) still to code
        self.waiting: list[tuple[int, str, Mapping[str, Any]]] = []

    def code_waiting(self) -> None:
        if self.waiting:
            coded = self.coder.encode_many(self._states())
            for (index, _, _), line in zip(self.waiting, coded):
                self.lines[index] = line
            self.waiting = []

    def _states(self) -> list[State]:
        """The waiting states as the engine had them: their identifying answers merged back
        (one read for the chunk), as the save that stored them coded its row."""
        if self.personal is None:
            return [light_state(state) for _, _, state in self.waiting]
        found = self.personal([interview_id for _, interview_id, _ in self.waiting])
        return [
            light_state(merge(state, found.get(interview_id) or {}))
            for _, interview_id, state in self.waiting
        ]

    def parse(self) -> dict[str, Any]:
        self.code_waiting()
        return self.coder.parse(self.lines)
