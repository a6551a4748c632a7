"""Coding engine values into the missing frame, column by column.

Shared by the two places that code interviews: the store's export row
written with every save (:mod:`instrument.dataset.rows`) and the dataset
build for interviews that have none. Kept apart from the build so that the
save path does not load the whole builder.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

from instrument.engine.reach import Beyond
from instrument.engine.state import STATE_VERSION, PageVisit, State
from instrument.values import DK, REFUSED, from_json

from .codebook import VariableInfo
from .plan import CODE, DATE, FLOAT, MULTI, OTHER, TEXT, Plan

__all__ = [
    "ABSENT",
    "CHUNK",
    "DatasetError",
    "VersionCoder",
    "escape_text",
    "light_state",
    "naive_utc",
    "parse_time",
]

_ABSENT = object()
ABSENT = _ABSENT
"""The engine value of a key that ``Engine.values`` does not hold (routed past, or no preload)."""


class DatasetError(Exception):
    """The interviews cannot be put into one dataset as asked (the message says why)."""


def light_state(data: Mapping[str, Any]) -> State:
    """The parts of a stored state that ``Engine.values`` reads, decoded cheaply.

    ``State.from_json`` also rebuilds the page history (every visit, frame and
    timestamp); the values need only the keys on the route, their answers, the
    loop keys, the case, the arms, the clock and the page it is on (its last
    visit: what an unfinished interview has reached). Answers off the route are
    left as stored (never decoded): the engine reads an answer only for a key
    on the route. A test checks the two agree on every variable for
    interviews driven through the real engine.
    """
    version = data.get("v")
    if version != STATE_VERSION:
        raise DatasetError(
            f"interview state version {version!r} is not supported (this engine reads {STATE_VERSION})"
        )
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
        case={k: (from_json(v) if isinstance(v, dict) else v) for k, v in case.items()}
        if case
        else {},
        arms=data["arms"],
        started_at=parse_time(data["started_at"]),  # type: ignore[arg-type]
        now=parse_time(data["now"]),  # type: ignore[arg-type]
        answers=answers,
        loop_keys=data["loop_keys"],
        outcome=data["outcome"],
        finished_at=parse_time(data.get("finished_at")),
        modes_used=data.get("modes_used") or [data["mode"]],
    )
    state.on_route = on_route
    history = data["history"]
    if history:  # the page it is on: how far an unfinished interview got (engine.reach)
        state.history = [PageVisit.from_json(history[-1])]
    return state


_KEYS = itemgetter("keys")


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value)


def naive_utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def escape_text(text: str, codes: frozenset[str]) -> str:
    """A typed text, with one more leading apostrophe if it reads as a missing code.

    Text variables hold the missing codes as text (``"-8"``), so an answer
    typed as ``-8`` would be taken for the code by SPSS, Stata and R alike.
    It is exported as ``'-8`` (the spreadsheet convention for "this is
    text"), and ``'-8`` as typed becomes ``''-8``, so every answer can be
    recovered by dropping one apostrophe from a text that reads as a code
    after its apostrophes, and a text equal to a code is always that code.
    """
    return "'" + text if text.lstrip("'") in codes else text


# ---------------------------------------------------------------- coding, column by column

CHUNK = 2048
"""Interviews coded together, one column at a time. Any size gives the same
result (a test varies it): larger chunks spread the per-column cost over more
rows, smaller ones hold fewer raw values at once (about 60 references per
interview)."""

_ABSENTS = repeat(_ABSENT)
_BAD = (
    object()
)  # what the fast path gives a value it does not handle: code that column cell by cell
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
    loop: str | None  # the loop and iteration of its key, for a break-off's cutoff
    suffix: str | None
    special: dict[Any, Any]  # _ABSENT, None, DK, REFUSED (and "" for text) -> the code
    plain: frozenset[type]  # the types a coded value may have for the fast path to stand
    codes: frozenset[str]  # typed text: the codes as text, which an answer must not read as


class VersionCoder:
    """Codes chunks of interviews of one questionnaire version, column by column.

    A row is the tuple of engine values under :attr:`keys` (``_ABSENT`` where
    a key is not in ``Engine.values``), read with one ``map`` per interview.
    A chunk of rows is transposed with ``zip``, and each column coded by one
    dict lookup per cell done in C (``map(special.get, values, values)``:
    a plain answer is its own code, a missing one maps to its code). Where a
    column holds anything else (a date, other-specify text, a bool, a value
    of an unexpected type) that column is coded by :meth:`exact`, the
    cell-by-cell rules the builder has always applied, in their order. A
    break-off's keys beyond the page it stopped at (a later iteration of a
    loop too) are then recoded from routed past to unanswered.
    """

    def __init__(
        self,
        plan: Plan,
        index: Mapping[str, int],
        union: Mapping[str, VariableInfo],
        frame: Mapping[str, int],
    ) -> None:
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

            special = {
                _ABSENT: code(col.absent),
                None: code(col.none),
                DK: code("dk"),
                REFUSED: code("refused"),
            }
            if col.kind == TEXT:
                special[""] = code(col.none)
            self.cells.append(
                _Cell(
                    out=index[col.name],
                    key=col.key,
                    pos=slot(col.key),
                    kind=col.kind,
                    extra=col.extra,
                    parent=slot(col.extra[0]) if col.kind == OTHER else -1,
                    absent=code(col.absent),
                    none=code(col.none),
                    dk=code("dk"),
                    refused=code("refused"),
                    unanswered=code("unanswered"),
                    routed_past=code("routed_past"),
                    ordinal=col.ordinal,
                    loop=union[col.name].loop,
                    suffix=union[col.name].iteration,
                    special=special,
                    plain={CODE: _INT, FLOAT: _NUMBER, TEXT: _STR}.get(col.kind, _INT),
                    codes=frozenset(map(str, frame.values()))
                    if col.kind in (TEXT, OTHER)
                    else frozenset(),
                )
            )
            present.add(col.name)
        rp = frame["routed_past"]
        # union columns this version does not have: not asked, so routed past
        self.fill = [
            (i, str(rp) if union[name].storage == "str" else rp)
            for name, i in index.items()
            if name not in present
        ]

    def code(
        self, rows: list[tuple[Any, ...]], partial: list[tuple[int, Beyond]]
    ) -> Iterator[tuple[int, list[Any]]]:
        """``(column index, codes)`` for every dataset column, ``rows`` in order.

        ``partial`` lists ``(row, beyond)`` for unfinished interviews: a key absent
        from such a row that lies beyond the page it stopped at (``beyond(ordinal,
        loop, iteration)``, :meth:`Engine.not_reached`) is unanswered, not routed past.
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
                where, unanswered = (cell.ordinal, cell.loop, cell.suffix), cell.unanswered
                for row, beyond in partial:
                    if values[row] is _ABSENT and beyond(*where):
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
                coded = [
                    (1 if option in v else 0) if type(v) is tuple else get(v, _BAD) for v in values
                ]
                return None if _BAD in coded else coded
            if kind in (CODE, FLOAT, TEXT):
                get = cell.special.get
                coded = list(map(get, values, values))
                if not set(map(type, coded)) <= cell.plain:
                    return None
                if kind == TEXT:
                    codes = cell.codes
                    if any(type(v) is str and v.lstrip("'") in codes for v in values):
                        return None  # a text typed as a code: escaped cell by cell
                return coded
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
            return escape_text(str(v), cell.codes) if v != "" else cell.none
        if kind == DATE:
            return v.isoformat()
        if kind == OTHER:
            return escape_text(v, cell.codes)
        raise DatasetError(f"{cell.key}: unexpected value {v!r} for a multiple choice")
