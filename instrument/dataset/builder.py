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
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

from instrument.engine import Engine
from instrument.engine.state import STATE_VERSION, State
from instrument.model import Questionnaire
from instrument.store.records import InterviewRecord
from instrument.values import DK, REFUSED, from_json

from . import limits
from .codebook import Codebook, MultiGroup, VariableInfo
from .plan import CODE, DATE, FLOAT, MULTI, OTHER, TEXT, Plan, make_plan
from .pseudonym import Pseudonymiser

__all__ = [
    "MODE_CODES",
    "OUTCOME_CODES",
    "Dataset",
    "DatasetError",
    "build_dataset",
    "int_dtype_for",
]

MODE_CODES = {"web": 1, "cati": 2, "ivr": 3}
MODE_LABELS = {1: "Web (self-completion)", 2: "Telephone with an interviewer (CATI)", 3: "Automated telephone call (IVR)"}
OUTCOME_CODES = {"complete": 1, "partial": 2, "screened_out": 3}
OUTCOME_LABELS = {1: "Complete", 2: "Partial (break-off or unfinished)", 3: "Screened out"}

_ABSENT = object()
_NO_CUTOFF = 1 << 60


class DatasetError(Exception):
    """The interviews cannot be put into one dataset as asked (the message says why)."""


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
            part.insert(1, "iteration", np.int32(int(suffix)) if suffix.lstrip("-").isdigit() else suffix)
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
            MultiGroup(g.question_id, g.label, g.question_id, [v.rsplit("_", 1)[0] for v in g.variables], 1, loop)
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
                "notes": self.codebook.notes + [f"Long file of loop {loop}: one row per case and iteration that happened."],
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
    if -127 <= lo and hi <= 100:
        return np.dtype(np.int8)
    if -32767 <= lo and hi <= 32740:
        return np.dtype(np.int16)
    if -2147483647 <= lo and hi <= 2147483620:
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


def _normalise(item: Any) -> _Input:
    if isinstance(item, InterviewRecord):
        return _Input(item.id, item.state, item.is_test, item.status, item.updated_at, item.questionnaire_version_id)
    state, meta = item
    meta = dict(meta or {})
    if "id" not in meta:
        raise DatasetError("an interview given as (state, meta) needs meta['id'] (for its pseudonymous case id)")
    return _Input(
        str(meta["id"]),
        state,
        bool(meta.get("is_test", False)),
        meta.get("status"),
        meta.get("updated_at"),
        meta.get("questionnaire_version_id"),
    )


def _light_state(data: Mapping[str, Any]) -> State:
    """The parts of a stored state that ``Engine.values`` reads, decoded cheaply.

    ``State.from_json`` also rebuilds the page history (every visit, frame and
    timestamp); the values need only the keys on the route, their answers, the
    loop keys, the case, the arms and the clock. Answers off the route are
    left as stored (never decoded): the engine reads an answer only for a key
    on the route. A test checks the two agree on every variable for
    interviews driven through the real engine.
    """
    version = data.get("v")
    if version != STATE_VERSION:
        raise DatasetError(f"interview state version {version!r} is not supported (this engine reads {STATE_VERSION})")
    on_route = set(chain.from_iterable(map(_KEYS, data["history"])))
    raw = data["answers"]
    # Stored answers are plain JSON except don't know, refused, dates and code
    # lists, which are small dicts (``to_json`` and the store's JSON decoding
    # make plain dicts): decode those on the route and share the rest.
    decoded = [key for key, value in raw.items() if type(value) is dict]
    if decoded:
        answers = dict(raw)
        for key in decoded:
            if key in on_route:
                answers[key] = from_json(raw[key])
    else:
        answers = raw
    case = data["case"]
    state = State(
        questionnaire_id=data["questionnaire_id"],
        questionnaire_hash=data["questionnaire_hash"],
        mode=data["mode"],
        language=data["language"],
        seed=data["seed"],
        case={k: (from_json(v) if isinstance(v, dict) else v) for k, v in case.items()} if case else {},
        arms=data["arms"],
        started_at=_time(data["started_at"]),  # type: ignore[arg-type]
        now=_time(data["now"]),  # type: ignore[arg-type]
        answers=answers,
        loop_keys=data["loop_keys"],
        outcome=data["outcome"],
        finished_at=_time(data.get("finished_at")),
        modes_used=data.get("modes_used") or [data["mode"]],
    )
    state.on_route = on_route
    return state


_KEYS = itemgetter("keys")


def _time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value)


def _naive_utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


# ---------------------------------------------------------------- coding, column by column

CHUNK = 2048
"""Interviews coded together, one column at a time. Any size gives the same
result (a test varies it): larger chunks spread the per-column cost over more
rows, smaller ones hold fewer raw values at once (about 60 references per
interview)."""

_ABSENTS = repeat(_ABSENT)
_BAD = object()  # what the fast path gives a value it does not handle: code that column cell by cell
_INT = frozenset({int})
_NUMBER = frozenset({int, float})
_STR = frozenset({str})


@dataclass
class _Cell:
    """How one column of a plan turns engine values into codes (precomputed once per version)."""

    out: int  # the column's index in the dataset
    key: str  # the engine value key
    pos: int  # the index of its value key in the version's row tuples
    kind: int
    extra: Any
    parent: int  # other-specify: the index of its parent question's key; else -1
    absent: Any
    none: Any
    dk: Any
    refused: Any
    unanswered: Any
    routed_past: Any
    ordinal: int
    special: dict[Any, Any]  # _ABSENT, None, DK, REFUSED (and "" for text) -> the code
    plain: frozenset[type]  # the types a coded value may have for the fast path to stand


class _VersionCoder:
    """Codes chunks of interviews of one questionnaire version, column by column.

    A row is the tuple of engine values under :attr:`keys` (``_ABSENT`` where
    a key is not in ``Engine.values``), read with one ``map`` per interview.
    A chunk of rows is transposed with ``zip``, and each column coded by one
    dict lookup per cell done in C (``map(special.get, values, values)``:
    a plain answer is its own code, a missing one maps to its code). Where a
    column holds anything else (a date, other-specify text, a bool, a value
    of an unexpected type) that column is coded by :meth:`exact`, the
    cell-by-cell rules the builder has always applied, in their order. A
    break-off's keys beyond its furthest point are then recoded from routed
    past to unanswered.
    """

    def __init__(self, plan: Plan, index: Mapping[str, int], union: Mapping[str, VariableInfo], frame: Mapping[str, int]) -> None:
        self.keys: list[str] = []
        position: dict[str, int] = {}

        def slot(key: str) -> int:
            if key not in position:
                position[key] = len(self.keys)
                self.keys.append(key)
            return position[key]

        self.cells: list[_Cell] = []
        present = set()
        for col in plan.columns:
            as_text = col.kind in (TEXT, DATE, OTHER)

            def code(entry: str, as_text: bool = as_text) -> Any:
                return str(frame[entry]) if as_text else frame[entry]

            special = {_ABSENT: code(col.absent), None: code(col.none), DK: code("dk"), REFUSED: code("refused")}
            if col.kind == TEXT:
                special[""] = code(col.none)
            self.cells.append(
                _Cell(
                    out=index[col.name], key=col.key, pos=slot(col.key), kind=col.kind, extra=col.extra,
                    parent=slot(col.extra[0]) if col.kind == OTHER else -1,
                    absent=code(col.absent), none=code(col.none), dk=code("dk"), refused=code("refused"),
                    unanswered=code("unanswered"), routed_past=code("routed_past"), ordinal=col.ordinal,
                    special=special, plain={CODE: _INT, FLOAT: _NUMBER, TEXT: _STR}.get(col.kind, _INT),
                )
            )
            present.add(col.name)
        rp = frame["routed_past"]
        # union columns this version does not have: not asked, so routed past
        self.fill = [
            (i, str(rp) if union[name].storage == "str" else rp) for name, i in index.items() if name not in present
        ]
        self.ordinal_of = {c.key: c.ordinal for c in plan.columns}

    def code(self, rows: list[tuple[Any, ...]], partial: list[tuple[int, int]]) -> Iterator[tuple[int, list[Any]]]:
        """``(column index, codes)`` for every dataset column, ``rows`` in order.

        ``partial`` lists ``(row, cutoff)`` for break-offs: a key absent from a
        row whose ordinal lies beyond the cutoff is unanswered, not routed past.
        """
        columns = list(zip(*rows))
        for cell in self.cells:
            values = columns[cell.pos]
            coded = self._fast(cell, values)
            if coded is None:
                parents = columns[cell.parent] if cell.parent >= 0 else repeat(None)
                exact = self.exact
                coded = [exact(cell, v, p) for v, p in zip(values, parents)]
            if partial:
                ordinal, unanswered = cell.ordinal, cell.unanswered
                for row, cutoff in partial:
                    if ordinal > cutoff and values[row] is _ABSENT:
                        coded[row] = unanswered
            yield cell.out, coded
        n = len(rows)
        for out, fill in self.fill:
            yield out, [fill] * n

    @staticmethod
    def _fast(cell: _Cell, values: tuple[Any, ...]) -> list[Any] | None:
        """The column's codes, or None when a value needs :meth:`exact`."""
        kind = cell.kind
        try:
            if kind == MULTI:
                option, get = cell.extra, cell.special.get
                coded = [(1 if option in v else 0) if type(v) is tuple else get(v, _BAD) for v in values]
                return None if _BAD in coded else coded
            if kind == CODE or kind == FLOAT or kind == TEXT:
                get = cell.special.get
                coded = list(map(get, values, values))
                return coded if set(map(type, coded)) <= cell.plain else None
        except TypeError:  # an unhashable value
            return None
        return None

    @staticmethod
    def exact(cell: _Cell, v: Any, parent: Any) -> Any:
        """One cell by the builder's rules (``parent``: the other-specify parent's value)."""
        kind = cell.kind
        t = type(v)
        if t is int and kind == CODE:
            return v
        if v is _ABSENT:
            return cell.absent
        if t is tuple and kind == MULTI:
            return 1 if cell.extra in v else 0
        if kind == OTHER and not (t is str and v):
            # no text: inapplicable unless the other option was chosen
            code = cell.extra[1]
            chosen = parent == code or (type(parent) is tuple and code in parent)
            return cell.unanswered if chosen else cell.routed_past
        if v is None:
            return cell.none
        if v is DK:
            return cell.dk
        if v is REFUSED:
            return cell.refused
        if kind == CODE:
            return int(v)
        if kind == FLOAT:
            return float(v)
        if kind == TEXT:
            return str(v) if v != "" else cell.none
        if kind == DATE:
            return v.isoformat()
        if kind == OTHER:
            return v
        raise DatasetError(f"{cell.key}: unexpected value {v!r} for a multiple choice")


# ---------------------------------------------------------------- the build


ADMIN = ["case_id", "qversion", "language", "mode", "mode_first", "mode_switch", "started", "ended", "duration", "outcome", "interviewer"]


def _admin_infos(q: Questionnaire, frame: dict[str, int], languages: list[str], versions: list[str]) -> list[VariableInfo]:
    rp, un = str(frame["routed_past"]), str(frame["unanswered"])
    return [
        VariableInfo("case_id", "Case identifier (pseudonymous; not the fieldwork id)", "admin", "str", width=17, universe="Everyone"),
        VariableInfo(
            "qversion", "Questionnaire version the interview started on", "admin", "str",
            value_labels={v: v for v in versions}, universe="Everyone",
        ),
        VariableInfo(
            "language", "Language of the interview", "admin", "int",
            value_labels={i + 1: lang for i, lang in enumerate(languages)}, universe="Everyone",
        ),
        VariableInfo("mode", "Mode of completion (last mode used)", "admin", "int", value_labels=dict(MODE_LABELS), universe="Everyone"),
        VariableInfo("mode_first", "Mode the interview started in", "admin", "int", value_labels=dict(MODE_LABELS), universe="Everyone"),
        VariableInfo(
            "mode_switch", "Interview switched mode", "admin", "int",
            value_labels={0: "Single mode", 1: "Switched mode"}, universe="Everyone",
        ),
        VariableInfo("started", "Interview start (UTC)", "admin", "datetime", level="scale", universe="Everyone"),
        VariableInfo("ended", "Interview end (UTC); empty if unfinished", "admin", "datetime", level="scale", universe="Everyone"),
        VariableInfo("duration", "Interview length in seconds (start to end); empty if unfinished", "admin", "float", level="scale", places=0, universe="Everyone"),
        VariableInfo("outcome", "Outcome of the interview", "admin", "int", value_labels=dict(OUTCOME_LABELS), universe="Everyone"),
        VariableInfo(
            "interviewer", "Interviewer (pseudonymous) who last keyed answers", "admin", "str", width=13,
            missing={rp: "Inapplicable: no telephone interviewer", un: "Missing: telephone interview without a recorded interviewer"},
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
    interviews: Iterable[InterviewRecord | tuple[Mapping[str, Any], Mapping[str, Any]]],
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

    ``interviews`` are store records, or ``(state_json, meta)`` pairs where
    meta holds ``id`` and optionally ``is_test``, ``status``, ``updated_at``
    and ``questionnaire_version_id``. Complete interviews only unless
    ``include_partial`` (then partial, unfinished and screened-out ones
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
            raise DatasetError(f"version {q.version} is of questionnaire '{q.id}', not '{questionnaire.id}'")
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
    index = {name: i for i, name in enumerate(names)}
    n_cols = len(names)
    data: list[list[Any]] = [[] for _ in range(n_cols)]

    coders = {h: _VersionCoder(p, index, union_infos, frame_codes) for h, p in plans.items()}
    engines = {h: Engine(q) for h, q in distinct.items()}
    languages = list(questionnaire.languages)
    for q in distinct.values():
        for lang in q.languages:
            if lang not in languages:
                languages.append(lang)
    language_code = {lang: i + 1 for i, lang in enumerate(languages)}
    version_labels = [questionnaire.version] + sorted({q.version for q in distinct.values()} - {questionnaire.version})

    admin: dict[str, list[Any]] = {name: [] for name in ADMIN}
    case_ids, versions_, language_, mode_, mode_first, mode_switch, started, ended, duration, outcomes, interviewer = (
        admin[name].append for name in ADMIN
    )
    loop_ids = list(loops)
    iterations: dict[str, list[tuple[str, ...]]] = {lid: [] for lid in loop_ids}
    loop_appends = [(lid, iterations[lid].append) for lid in loop_ids]
    seen_case_ids: set[str] = set()
    rp_text, un_text = str(frame_codes["routed_past"]), str(frame_codes["unanswered"])
    wanted = {"complete"} | ({"partial", "screened_out"} if include_partial else set())
    pending = 0

    # Rows wait in a chunk, grouped by questionnaire version, until CHUNK of
    # them can be coded column by column (see _VersionCoder.code).
    chunk: dict[str, tuple[list[int], list[tuple[Any, ...]], list[tuple[int, int]]]] = {}
    chunk_size = CHUNK
    in_chunk = 0

    def flush() -> None:
        if not in_chunk:
            return
        if len(chunk) == 1:
            ((h, (_, rows, partial)),) = chunk.items()
            for out, coded in coders[h].code(rows, partial):
                data[out].extend(coded)
        else:
            # versions interleave within the chunk: put each value back at its row
            buffers: list[list[Any]] = [[None] * in_chunk for _ in range(n_cols)]
            for h, (positions, rows, partial) in chunk.items():
                for out, coded in coders[h].code(rows, partial):
                    buffer = buffers[out]
                    for position, value in zip(positions, coded):
                        buffer[position] = value
            for out, buffer in enumerate(buffers):
                data[out].extend(buffer)
        chunk.clear()

    item_id: str
    item_state: Mapping[str, Any]
    status: str | None
    updated_at: dt.datetime | None
    version_id: int | None
    for raw in interviews:
        pending += 1
        if progress is not None and pending >= 1000:
            progress(pending)
            pending = 0
        if type(raw) is InterviewRecord:
            item_id, item_state, is_test, status, updated_at, version_id = (
                raw.id, raw.state, raw.is_test, raw.status, raw.updated_at, raw.questionnaire_version_id
            )
        else:
            item = _normalise(raw)
            item_id, item_state, is_test, status, updated_at, version_id = (
                item.id, item.state, item.is_test, item.status, item.updated_at, item.version_id
            )
        if status == "withdrawn" or not item_state:
            continue
        if is_test and not include_test:
            continue
        if since is not None:
            touched = updated_at or _time(item_state.get("now"))
            if touched is None or touched < since:
                continue
        outcome = item_state.get("outcome") or "partial"
        if outcome not in wanted:
            continue
        q_hash = item_state.get("questionnaire_hash")
        q = None
        if version_id is not None:
            q = by_key.get(version_id)
        if q is None:
            q = by_key.get(q_hash)  # type: ignore[arg-type]
        if q is None or hash_of[id(q)] != q_hash:
            raise DatasetError(
                f"interview {item_id} is on a questionnaire version (hash {str(q_hash)[:12]}...) "
                "that was not given to the export; pass every version stored for it"
            )
        state = _light_state(item_state)
        values = engines[q_hash].values(state)
        coder = coders[q_hash]
        batch = chunk.get(q_hash)
        if batch is None:
            batch = chunk[q_hash] = ([], [], [])
        batch[0].append(in_chunk)
        if outcome == "partial":
            # A break-off: questions beyond the furthest point reached were on no route
            # yet, so they are "on route but unanswered" (-9), not routed past (-8).
            reached = coder.ordinal_of
            cutoff = max((reached.get(key, 0) for key in state.on_route), default=0)
            batch[2].append((len(batch[1]), cutoff))
        batch[1].append(tuple(map(values.get, coder.keys, _ABSENTS)))
        in_chunk += 1
        if in_chunk >= chunk_size:
            flush()
            in_chunk = 0

        case_id = pseudonymiser.case_id(item_id)
        if case_id in seen_case_ids:
            raise DatasetError("two interviews were given the same case id; this should not happen: report it")
        seen_case_ids.add(case_id)
        modes_used = state.modes_used or [state.mode]
        start = _naive_utc(state.started_at)
        end = _naive_utc(state.finished_at)
        case_ids(case_id)
        versions_(q.version)
        language_(language_code.get(state.language, 0))
        mode_(MODE_CODES.get(state.mode, 0))
        mode_first(MODE_CODES.get(modes_used[0], 0))
        mode_switch(1 if len(set(modes_used)) > 1 else 0)
        started(start)
        ended(end)
        duration(round((end - start).total_seconds()) if end and start else np.nan)
        outcomes(OUTCOME_CODES[outcome])
        staff = interviewer_of.get(item_id)
        if staff:
            interviewer(pseudonymiser.interviewer_id(staff))
        elif "cati" in modes_used:
            interviewer(un_text)
        else:
            interviewer(rp_text)
        loop_keys = state.loop_keys
        for lid, append in loop_appends:
            append(tuple(loop_keys.get(lid, ())))
    flush()
    if progress is not None and pending:
        progress(pending)

    # --- columns
    admin_infos = _admin_infos(questionnaire, frame_codes, languages, version_labels)
    columns: dict[str, Any] = {}
    for info in admin_infos:
        values_ = admin[info.name]
        if info.storage == "datetime":
            columns[info.name] = pd.to_datetime(pd.Series(values_, dtype=object)).astype("datetime64[us]")
        elif info.storage == "int":
            columns[info.name] = _int_column(values_)
        elif info.storage == "float":
            columns[info.name] = np.asarray(values_, dtype=np.float64)
        else:
            columns[info.name] = pd.Series(values_, dtype=object)
    for name, values_ in zip(names, data):
        info = union_infos[name]
        if name in columns:
            raise DatasetError(f"the questionnaire has a variable named {name}, which the export uses itself; rename it")
        if info.storage == "int":
            columns[name] = _int_column(values_)
        elif info.storage == "float":
            columns[name] = np.asarray(values_, dtype=np.float64)
        else:
            columns[name] = pd.Series(values_, dtype=object)
    frame = pd.DataFrame(columns, copy=False)
    frame.index = pd.RangeIndex(len(frame))

    variables = {info.name: info for info in admin_infos}
    variables.update(union_infos)
    codebook = Codebook(
        questionnaire_id=questionnaire.id,
        title=questionnaire.title.source(questionnaire.default_language, questionnaire.default_language),
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


def _int_column(values: list[Any]) -> np.ndarray[Any, Any]:
    if not values:
        return np.asarray(values, dtype=np.int8)
    arr = np.asarray(values, dtype=np.int64)
    return arr.astype(int_dtype_for(int(arr.min()), int(arr.max())))


def _notes(versions: Iterable[Questionnaire], frame: dict[str, int]) -> list[str]:
    """Warnings an analyst needs: integer questions whose range reaches the missing codes."""
    notes = []
    lowest_missing = max(frame.values())
    for q in versions:
        for question in q.questions.values():
            if question.type in ("integer", "decimal") and (question.min is None or question.min <= lowest_missing):
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
