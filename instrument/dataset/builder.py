"""Build the harmonised dataset: one row per interview, codes not labels.

Values come from the engine (``Engine.values``), never from re-reading
answers, so routing, loops, computed variables and don't-know handling mean
exactly what they meant during the interview, whatever the mode or language.
Each value is then coded by the questionnaire's missing frame (default
-1 don't know, -2 refused, -8 routed past, -9 on the route but unanswered).

Several questionnaire versions are harmonised by variable name: the newest
version's columns come first, in its order, and a column known only to an
older version follows; an interview whose version lacks a column gets the
routed-past code there (the question was not put to them). A name whose
storage type differs between versions is an error, as are differing
missing frames, since no single column could then be read one way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from instrument.engine.state import State
from instrument.model import Questionnaire
from instrument.store.records import ExportRecord, InterviewRecord

from . import limits
from .codebook import Codebook, MultiGroup, VariableInfo
from .coding import CHUNK, DatasetError, light_state, parse_time
from .plan import Plan, make_plan
from .pseudonym import Pseudonymiser
from .rows import MODE_CODES, OUTCOME_CODES, RowCoder

__all__ = [
    "MODE_CODES",
    "OUTCOME_CODES",
    "Dataset",
    "DatasetError",
    "build_dataset",
    "int_dtype_for",
]

MODE_LABELS = {
    1: "Web (self-completion)",
    2: "Telephone with an interviewer (CATI)",
    3: "Automated telephone call (IVR)",
}
OUTCOME_LABELS = {1: "Complete", 2: "Partial (break-off or unfinished)", 3: "Screened out"}


@dataclass
class Dataset:
    """A data frame of codes plus the codebook that explains every column.

    ``iterations`` records, per loop and per row, which iteration suffixes
    happened, so :meth:`long` can build the long file; ``paradata`` is the
    long page-level paradata frame when events were given.
    """

    frame: pd.DataFrame
    codebook: Codebook
    iterations: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    paradata: pd.DataFrame | None = None
    name: str = ""

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def stem(self) -> str:
        return self.name or self.codebook.questionnaire_id

    def long(self, loop: str) -> Dataset:
        """One row per case and iteration of ``loop``, keyed by ``case_id`` and ``iteration``.

        Only iterations that happened become rows (the wide file codes the
        others routed past). Columns are the loop's variables without suffix.
        """
        info = next((lp for lp in self.codebook.loops if lp.id == loop), None)
        if info is None:
            raise DatasetError(f"no loop '{loop}' in {self.codebook.questionnaire_id}")
        happened = self.iterations.get(loop, [()] * len(self.frame))
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
            part.insert(
                1, "iteration", np.int32(int(suffix)) if suffix.lstrip("-").isdigit() else suffix
            )
            pieces.append(part)
        if pieces:
            frame = pd.concat(pieces, ignore_index=True)
        else:
            frame = pd.DataFrame(columns=["case_id", "iteration", *info.variables])
        frame = frame.sort_values(["case_id", "iteration"], kind="stable").reset_index(drop=True)
        for column in frame.columns[2:]:
            frame[column] = frame[column].astype(self.frame[f"{column}_{info.suffixes[0]}"].dtype)
        frame["iteration"] = frame["iteration"].astype(np.int32)
        variables: dict[str, VariableInfo] = {}
        src = self.codebook.variables
        variables["case_id"] = src["case_id"]
        variables["iteration"] = VariableInfo(
            name="iteration",
            label=f"Iteration of loop {loop} ({'option code' if info.kind == 'for_each' else 'number'})",
            kind="admin",
            storage="int",
            level="nominal" if info.kind == "for_each" else "ordinal",
            loop=loop,
        )
        for base in info.variables:
            first = src[f"{base}_{info.suffixes[0]}"]
            variables[base] = VariableInfo(
                **{
                    **first.__dict__,
                    "name": base,
                    "iteration": None,
                    "universe": first.universe.rsplit(" (iteration", 1)[0],
                    "group": first.group.rsplit("_", 1)[0] if first.group else None,
                }
            )
        groups = [
            MultiGroup(
                g.question_id,
                g.label,
                g.question_id,
                [v.rsplit("_", 1)[0] for v in g.variables],
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


ADMIN = [
    "case_id",
    "qversion",
    "language",
    "mode",
    "mode_first",
    "mode_switch",
    "started",
    "ended",
    "duration",
    "outcome",
    "interviewer",
]


def _admin_infos(
    q: Questionnaire, frame: dict[str, int], languages: list[str], versions: list[str]
) -> list[VariableInfo]:
    rp, un = str(frame["routed_past"]), str(frame["unanswered"])
    return [
        VariableInfo(
            "case_id",
            "Case identifier (pseudonymous; not the fieldwork id)",
            "admin",
            "str",
            width=17,
            universe="Everyone",
        ),
        VariableInfo(
            "qversion",
            "Questionnaire version the interview started on",
            "admin",
            "str",
            value_labels={v: v for v in versions},
            universe="Everyone",
        ),
        VariableInfo(
            "language",
            "Language of the interview",
            "admin",
            "int",
            value_labels={i + 1: lang for i, lang in enumerate(languages)},
            universe="Everyone",
        ),
        VariableInfo(
            "mode",
            "Mode of completion (last mode used)",
            "admin",
            "int",
            value_labels=dict(MODE_LABELS),
            universe="Everyone",
        ),
        VariableInfo(
            "mode_first",
            "Mode the interview started in",
            "admin",
            "int",
            value_labels=dict(MODE_LABELS),
            universe="Everyone",
        ),
        VariableInfo(
            "mode_switch",
            "Interview switched mode",
            "admin",
            "int",
            value_labels={0: "Single mode", 1: "Switched mode"},
            universe="Everyone",
        ),
        VariableInfo(
            "started",
            "Interview start (UTC)",
            "admin",
            "datetime",
            level="scale",
            universe="Everyone",
        ),
        VariableInfo(
            "ended",
            "Interview end (UTC); empty if unfinished",
            "admin",
            "datetime",
            level="scale",
            universe="Everyone",
        ),
        VariableInfo(
            "duration",
            "Interview length in seconds (start to end); empty if unfinished",
            "admin",
            "float",
            level="scale",
            places=0,
            universe="Everyone",
        ),
        VariableInfo(
            "outcome",
            "Outcome of the interview",
            "admin",
            "int",
            value_labels=dict(OUTCOME_LABELS),
            universe="Everyone",
        ),
        VariableInfo(
            "interviewer",
            "Interviewer (pseudonymous) who last keyed answers",
            "admin",
            "str",
            width=13,
            missing={
                rp: "Inapplicable: no telephone interviewer",
                un: "Missing: telephone interview without a recorded interviewer",
            },
            universe="Interviews done at least partly by telephone with an interviewer",
        ),
    ]


def _interviewers(events: Iterable[Any]) -> dict[str, str]:
    """The last interviewer who keyed an answer, per interview, from store events."""
    found: dict[str, str] = {}
    for event in events:
        actor = getattr(event, "actor", "") or ""
        if actor.startswith("interviewer:"):
            found[event.interview_id] = actor.split(":", 1)[1]
    return found


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
    """
    pseudonymiser = pseudonymiser or Pseudonymiser()
    exported_at = exported_at or dt.datetime.now(dt.UTC)
    if interviewers is None:
        interviewer_of: Mapping[str, str] = {}
    elif isinstance(interviewers, Mapping):
        interviewer_of = interviewers
    else:
        interviewer_of = _interviewers(interviewers)
    if since is not None and since.tzinfo is None:
        raise DatasetError("since must be a timezone-aware datetime (the store is in UTC)")

    # --- versions and their plans
    # content_hash hashes the whole source text on every access: look it up once.
    main_hash = questionnaire.content_hash
    by_key: dict[int | str, Questionnaire] = {main_hash: questionnaire}
    if versions:
        by_key.update(versions)
    hash_of: dict[int, str] = {}
    distinct: dict[str, Questionnaire] = {}
    for q in by_key.values():
        if id(q) not in hash_of:
            hash_of[id(q)] = q.content_hash
        distinct.setdefault(hash_of[id(q)], q)
        if q.id != questionnaire.id:
            raise DatasetError(
                f"version {q.version} is of questionnaire '{q.id}', not '{questionnaire.id}'"
            )
        if q.missing.codes() != questionnaire.missing.codes():
            raise DatasetError(
                f"questionnaire version {q.version} uses missing codes {q.missing.codes()}, "
                f"but version {questionnaire.version} uses {questionnaire.missing.codes()}: "
                "one file cannot carry both; export the versions separately"
            )
    plans: dict[str, Plan] = {h: make_plan(q) for h, q in distinct.items()}
    main_plan = plans[main_hash]
    frame_codes = questionnaire.missing.codes()

    # union of columns, newest (given) version first
    union_infos: dict[str, VariableInfo] = {}
    for info in main_plan.infos:
        union_infos[info.name] = info
    groups = list(main_plan.groups)
    loops = {lp.id: lp for lp in main_plan.loops}
    for h, plan in plans.items():
        if h == main_hash:
            continue
        for info in plan.infos:
            known = union_infos.get(info.name)
            if known is None:
                union_infos[info.name] = info
            elif known.storage != info.storage:
                raise DatasetError(
                    f"variable {info.name} is {known.storage} in version {questionnaire.version} but "
                    f"{info.storage} in version {distinct[h].version}; rename it in one of them"
                )
            else:
                for code, label in info.value_labels.items():
                    known.value_labels.setdefault(code, label)
        for group in plan.groups:
            if group.name not in {g.name for g in groups}:
                groups.append(group)
        for lp in plan.loops:
            loops.setdefault(lp.id, lp)

    names = list(union_infos)
    coders = {h: RowCoder(q, plan=plans[h]) for h, q in distinct.items()}
    languages = list(questionnaire.languages)
    for q in distinct.values():
        for lang in q.languages:
            if lang not in languages:
                languages.append(lang)
    language_code = {lang: i + 1 for i, lang in enumerate(languages)}
    version_labels = [questionnaire.version] + sorted(
        {q.version for q in distinct.values()} - {questionnaire.version}
    )
    rp_text, un_text = str(frame_codes["routed_past"]), str(frame_codes["unanswered"])
    wanted = {"complete"} | ({"partial", "screened_out"} if include_partial else set())
    wanted_codes = {str(OUTCOME_CODES[o]) for o in wanted}

    # Each interview becomes one export row (see instrument.dataset.rows):
    # the one stored with it when that is usable, else coded here from its
    # state, CHUNK interviews at a time. Rows are kept per version, with
    # their position in the dataset, and parsed per version in one pass.
    ids: list[str] = []
    case_ids: list[str] = []
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
            continue
        if is_test and not include_test:
            continue
        if since is not None:
            touched = updated_at or (parse_time(item_state.get("now")) if item_state else None)
            if touched is None or touched < since:
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
            rows = rows_of[h] = _VersionRows(coder)
        if export_row is not None and coder.usable(export_row):
            if export_row[len(coder.key) + 1] not in wanted_codes:
                continue
            rows.lines.append(export_row)
        else:
            if not item_state:
                raise DatasetError(
                    f"interview {item_id} came without its state and without a usable export row"
                )
            if (item_state.get("outcome") or "partial") not in wanted:
                continue
            rows.waiting.append((len(rows.lines), light_state(item_state)))
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
    cati_used = gather("cati_used", 0, np.int64)
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
            for i, used in zip(ids, cati_used)
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

    admin_infos = _admin_infos(questionnaire, frame_codes, languages, version_labels)
    columns: dict[str, Any] = {}
    for info in admin_infos:
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

    variables = {info.name: info for info in admin_infos}
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
        modes=list(questionnaire.modes),
        missing_codes=dict(frame_codes),
        variables=variables,
        groups=groups,
        loops=list(loops.values()),
        exported_at=exported_at,
        case_count=len(frame),
        notes=_notes(distinct.values(), frame_codes),
    )
    shorten_labels(codebook)
    return Dataset(frame, codebook, iterations)


def _int_array(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    if not len(values):
        return values.astype(np.int8)
    return values.astype(int_dtype_for(int(values.min()), int(values.max())))


class _VersionRows:
    """The export rows of one questionnaire version in a build, and where they go."""

    __slots__ = ("coder", "lines", "positions", "waiting")

    def __init__(self, coder: RowCoder) -> None:
        self.coder = coder
        self.lines: list[str] = []
        self.positions: list[int] = []  # each row's index in the dataset
        self.waiting: list[tuple[int, State]] = []  # (index in lines, state) still to code

    def code_waiting(self) -> None:
        if self.waiting:
            coded = self.coder.encode_many([state for _, state in self.waiting])
            for (index, _), line in zip(self.waiting, coded):
                self.lines[index] = line
            self.waiting = []

    def parse(self) -> dict[str, Any]:
        self.code_waiting()
        return self.coder.parse(self.lines)


def _notes(versions: Iterable[Questionnaire], frame: dict[str, int]) -> list[str]:
    """Warnings an analyst needs: integer questions whose range reaches the missing codes."""
    notes = []
    lowest_missing = max(frame.values())
    for q in versions:
        for question in q.questions.values():
            if question.type in ("integer", "decimal") and (
                question.min is None or question.min <= lowest_missing
            ):
                notes.append(
                    f"{question.id} (version {q.version}) accepts answers down to "
                    f"{'any value' if question.min is None else question.min}, which can collide with the missing codes"
                )
    return notes


def shorten_labels(codebook: Codebook) -> None:
    """Record, per package, the shortened form of every label that exceeds its limit.

    Nothing is cut silently: the full label stays in ``label`` (and so in the
    dictionary and the DDI file) and the shortened one in ``labels_short``.
    """
    for package, rules in limits.LIMITS.items():
        for info in codebook.variables.values():
            if not limits.fits(info.label, rules.variable_label_bytes):
                info.labels_short[package] = limits.shorten(info.label, rules.variable_label_bytes)
            short = {
                code: limits.shorten(text, rules.value_label_bytes)
                for code, text in info.all_labels.items()
                if not limits.fits(text, rules.value_label_bytes)
            }
            if short:
                info.value_labels_short[package] = short
