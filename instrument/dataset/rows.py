"""Export rows: an interview's dataset row, coded when it is saved.

Coding an interview for the dataset means decoding its whole stored state
(much of it the page history), asking the engine for its values and coding
each one into the missing frame. A save codes the one interview it has in
hand for a small part of a page turn's cost; an export would pay the full
cost for every interview, every time (docs/benchmarks.md, "Export", measures
both ways). So the store keeps, beside each state, the row that state gives,
as one line of CSV (``interviews.export_row``), and the build parses all of
a version's rows at once with pandas' C parser.

The row is a cache, never the record: the state stays the source, a save
that does not supply a row stores NULL (so a row is never older than its
state), and the build codes any interview without a usable row from its
state, by the same code. A row is usable when it starts with its version's
:attr:`RowCoder.key`, a hash of this module's :data:`ROW_FORMAT`, the
version's column plan and missing frame: change how interviews are coded
and the rows written before simply stop being used.

Layout (one CSV record; text quoted by the ``csv`` module where needed)::

    key, outcome code, language, mode code, first mode code, switched (0/1),
    used an interviewer-administered mode (0/1), start, end, duration,
    <one field per loop: the iteration suffixes that happened, space-separated>,
    <one field per plan column: its code>

Times are naive UTC in ISO 8601; end and duration are empty while the
interview is unfinished. Everything in it is derived from the state alone:
what depends on the export (the pseudonymous case id, the interviewer's
pseudonym, the language's code among all versions' languages, the version
label) is added by the build.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from itertools import repeat
from typing import Any, Final

from instrument.engine import Engine, State
from instrument.engine.randomisation import Shuffler
from instrument.engine.reach import Beyond
from instrument.model import Questionnaire
from instrument.modes import STANDARD_MODES

from .coding import ABSENT, CHUNK, DatasetError, VersionCoder, light_state, naive_utc
from .orders import order_values, randomised_items
from .plan import Plan, make_plan

__all__ = [
    "HEAD",
    "MODE_CODES",
    "OUTCOME_CODES",
    "ROW_FORMAT",
    "RowCoder",
    "csv_line",
    "parse_rows",
]

ROW_FORMAT: Final = 4
"""Raise this whenever the coding rules or the layout change: rows written
under the old number then no longer match any key and are coded afresh.
2: an open text typed as a missing code gets a leading apostrophe
(:func:`~instrument.dataset.coding.escape_text`).
3: a row is coded from the full state, identifying answers included (they have
no column), so values derived from them are the interview's; format 2 rows of
such questionnaires were coded without them (an age from a date of birth
missing, an adult count 0).
4: an unfinished interview has no computed values beyond the page it is on, and
what lies beyond it is -9 by iteration too (format 3 rows of break-offs held a
later loop iteration's computed values, and coded its questions -8)."""

MODE_CODES: Final = {name: policy.dataset_code for name, policy in STANDARD_MODES.items()}
"""The codes of the standard modes (a plugin's mode has the code its policy gives)."""
OUTCOME_CODES: Final = {"complete": 1, "partial": 2, "screened_out": 3}

HEAD: Final = (
    "key",
    "outcome",
    "language",
    "mode",
    "mode_first",
    "mode_switch",
    "interviewer_used",
    "started",
    "ended",
    "duration",
)
"""The fields before the loop and plan columns."""

_ABSENTS = repeat(ABSENT)


def _nothing_reached(ordinal: int, loop: str | None, suffix: str | None) -> bool:
    """A partial interview with no page yet: everything lies beyond."""
    return True


_KEY_DIGITS = 16


class RowCoder:
    """Codes interviews of one questionnaire version into export rows, and parses them back."""

    def __init__(
        self, questionnaire: Questionnaire, plan: Plan | None = None, engine: Engine | None = None
    ) -> None:
        self.questionnaire = questionnaire
        self.plan = plan if plan is not None else make_plan(questionnaire)
        self.engine = engine if engine is not None else Engine(questionnaire)
        infos = self.plan.infos
        self.names = [info.name for info in infos]
        self.storage = [info.storage for info in infos]
        self.loop_ids = [loop.id for loop in self.plan.loops]
        frame = questionnaire.missing.codes()
        policies = questionnaire.mode_policies
        self._mode_codes = {name: policy.dataset_code for name, policy in policies.items()}
        self._interviewer_modes = frozenset(n for n, p in policies.items() if p.interviewer)
        self._coder = VersionCoder(
            self.plan,
            {name: i for i, name in enumerate(self.names)},
            {info.name: info for info in infos},
            frame,
        )
        # The cells in column order, for coding one interview cell by cell.
        self._cells = sorted(self._coder.cells, key=lambda cell: cell.out)
        self._fill = list(self._coder.fill)
        self._randomised = randomised_items(questionnaire)
        self._shuffler = Shuffler()
        self.key = self._key(frame)
        self._prefix = self.key + ","

    def _key(self, frame: Mapping[str, int]) -> str:
        spec = {
            "format": ROW_FORMAT,
            "frame": sorted(frame.items()),
            "loops": self.loop_ids,
            "columns": [
                [c.name, c.key, c.kind, c.absent, c.none, repr(c.extra), c.ordinal]
                for c in self.plan.columns
            ],
            "storage": list(zip(self.names, self.storage)),
            "modes": sorted(self._mode_codes.items()),
            "outcomes": sorted(OUTCOME_CODES.items()),
        }
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode("utf-8")).hexdigest()
        return f"r{ROW_FORMAT}-{digest[:_KEY_DIGITS]}"

    # ------------------------------------------------------------ writing

    def _values(self, state: State) -> Mapping[str, Any]:
        """``Engine.values``, with the order of each randomised item shown (orders.py)."""
        values = self.engine.values(state)
        if self._randomised:
            values = {
                **values,
                **order_values(self._randomised, self.questionnaire, state, values, self._shuffler),
            }
        return values

    def encode(self, state: State) -> str:
        """The export row of one interview (what a save stores beside the state)."""
        values = self._values(state)
        row = [values.get(key, ABSENT) for key in self._coder.keys]
        exact = VersionCoder.exact
        coded: list[Any] = [None] * len(self.names)
        for cell in self._cells:
            coded[cell.out] = exact(
                cell, row[cell.pos], row[cell.parent] if cell.parent >= 0 else None
            )
        for out, fill in self._fill:
            coded[out] = fill
        if (state.outcome or "partial") == "partial":
            beyond = self._beyond(state)
            for cell in self._cells:
                if row[cell.pos] is ABSENT and beyond(cell.ordinal, cell.loop, cell.suffix):
                    coded[cell.out] = cell.unanswered
        return self._line(state, coded)

    def encode_stored(self, data: Mapping[str, Any]) -> str:
        """The export row of a state as stored (its JSON form)."""
        return self.encode_many([light_state(data)])[0]

    def encode_many(self, states: Sequence[State]) -> list[str]:
        """Export rows of many interviews, coded column by column (the build's way)."""
        lines: list[str] = []
        for start in range(0, len(states), CHUNK):
            chunk = states[start : start + CHUNK]
            rows = []
            partial = []
            keys = self._coder.keys
            for i, state in enumerate(chunk):
                values = self._values(state)
                rows.append(tuple(map(values.get, keys, _ABSENTS)))
                if (state.outcome or "partial") == "partial":
                    partial.append((i, self._beyond(state)))
            columns: list[list[Any]] = [[] for _ in self.names]
            for out, coded in self._coder.code(rows, partial):
                columns[out] = coded
            for i, state in enumerate(chunk):
                lines.append(self._line(state, [column[i] for column in columns]))
        return lines

    def _beyond(self, state: State) -> Beyond:
        # A break-off: questions beyond the page it stopped at (a later section, or a
        # loop's iteration not begun) were on no route yet, so they are "on route but
        # unanswered", not routed past. Without a page, nothing was reached.
        return self.engine.not_reached(state) or _nothing_reached

    def _line(self, state: State, coded: list[Any]) -> str:
        modes_used = state.modes_used or [state.mode]
        start = naive_utc(state.started_at)
        end = naive_utc(state.finished_at)
        loop_keys = state.loop_keys
        head = [
            self.key,
            OUTCOME_CODES[state.outcome or "partial"],
            state.language,
            self._mode_codes.get(state.mode, 0),
            self._mode_codes.get(modes_used[0], 0),
            1 if len(set(modes_used)) > 1 else 0,
            1 if self._interviewer_modes.intersection(modes_used) else 0,
            start.isoformat() if start else "",
            end.isoformat() if end else "",
            round((end - start).total_seconds()) if end and start else "",
        ]
        loops = [" ".join(loop_keys.get(lid, ())) for lid in self.loop_ids]
        return csv_line([*head, *loops, *coded])

    # ------------------------------------------------------------ reading

    def usable(self, line: str | None) -> bool:
        """Whether a stored row was written under this version's key (else: code the state)."""
        return line is not None and line.startswith(self._prefix)

    def parse(self, lines: Sequence[str]) -> dict[str, Any]:
        """Columns of many rows, by field name (``HEAD``, ``loop:<id>``, then the plan's names).

        Plan columns come as numpy arrays: int64 for integer storage, float64
        for float, object (str) for text; ``started``/``ended`` as
        ``datetime64[us]``, ``duration`` as float64 (NaN while unfinished),
        loops as lists of suffix tuples.
        """
        return parse_rows(lines, self.names, self.storage, self.loop_ids)


def csv_line(fields: Sequence[Any]) -> str:
    """One CSV record without its line end (fields with a comma, quote, CR or LF quoted)."""
    buffer = io.StringIO()
    # "\r\n" as the terminator makes the writer quote a field holding either
    # character (with "" it would quote neither); the terminator is then cut.
    csv.writer(buffer, lineterminator="\r\n").writerow(fields)
    return buffer.getvalue()[:-2]


def parse_rows(
    lines: Sequence[str], names: Sequence[str], storage: Sequence[str], loop_ids: Sequence[str]
) -> dict[str, Any]:
    """Parse export rows of one layout in one pass of pandas' C CSV parser."""
    import numpy as np  # here, not at the top: savers code rows without pandas
    import pandas as pd

    fields = [*HEAD, *(f"loop:{lid}" for lid in loop_ids), *names]
    n_head = len(HEAD)
    dtypes: dict[int, Any] = {0: object, 2: object, 7: object, 8: object}
    for i in (1, 3, 4, 5, 6):
        dtypes[i] = np.int64
    dtypes[9] = np.float64
    for j in range(len(loop_ids)):
        dtypes[n_head + j] = object
    base = n_head + len(loop_ids)
    for j, kind in enumerate(storage):
        dtypes[base + j] = np.int64 if kind == "int" else np.float64 if kind == "float" else object
    if not lines:
        table = {i: np.empty(0, dtype=dtype) for i, dtype in dtypes.items()}
    else:
        try:
            frame = pd.read_csv(
                io.StringIO("\n".join(lines)),
                header=None,
                names=list(range(len(fields))),
                dtype=dtypes,
                keep_default_na=False,
                na_values={9: [""]},
                quoting=csv.QUOTE_MINIMAL,
                engine="c",
            )
        except (ValueError, pd.errors.ParserError) as exc:
            raise DatasetError(
                f"stored export rows could not be read back ({exc}); report this"
            ) from exc
        if len(frame) != len(lines):
            raise DatasetError(
                f"{len(lines)} stored export rows read back as {len(frame)}; report this"
            )
        table = {i: frame[i].to_numpy() for i in range(len(fields))}
    out: dict[str, Any] = {}
    for i, name in enumerate(fields):
        column = table[i]
        if name in ("started", "ended"):
            column = (
                pd.to_datetime(pd.Series(column, dtype=object).replace("", None), format="ISO8601")
                .astype("datetime64[us]")
                .to_numpy()
            )
        elif name.startswith("loop:"):
            column = [tuple(text.split()) for text in column]
        out[name] = column
    return out
