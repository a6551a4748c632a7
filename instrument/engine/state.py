"""Interview state: everything an interview has become, as plain data.

The state is the only thing a mode or the store keeps between requests. It is
JSON-serialisable, versioned (``STATE_VERSION``) and round-trips exactly, so a
server restarted between two requests continues where it was.

What is *not* here: the questionnaire (it is identified by its content hash)
and anything derivable from the history (the set of variables on the route is
rebuilt on load rather than stored twice).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from instrument.values import from_json, to_json

STATE_VERSION = 1


class Frame(NamedTuple):
    """One level of the cursor: a container and how far into it the route is.

    Frames and page visits are named tuples rather than frozen dataclasses:
    just as immutable, and built several times per step, where a frozen
    dataclass's ``__init__`` (one ``object.__setattr__`` per field) costs
    several times as much.
    """

    container: str  # "" for the top level, else a section, block or loop id
    pos: int  # index into the container's items in display order; -1 before the first
    iteration: int = 0  # loops: which iteration (index into State.loop_keys[container])

    def to_json(self) -> list[Any]:
        return [self.container, self.pos, self.iteration]

    @classmethod
    def from_json(cls, data: list[Any]) -> "Frame":
        return cls(data[0], data[1], data[2])


class PageVisit(NamedTuple):
    """A page on the route, with the variables it showed and the cursor at that page."""

    page: str
    frames: tuple[Frame, ...]
    keys: tuple[str, ...]  # variable keys shown on this page
    visit: int  # a number never reused within the interview: identifies this visit
    shown_at: dt.datetime | None = None
    suffix: str | None = None  # loop iteration suffix ("1", "2", or an option code)
    entered: tuple[str, ...] = ()  # loops entered on the way here (see engine.loops)

    def to_json(self) -> dict[str, Any]:
        data = {
            "page": self.page,
            "frames": [f.to_json() for f in self.frames],
            "keys": list(self.keys),
            "visit": self.visit,
            "shown_at": self.shown_at.isoformat() if self.shown_at else None,
            "suffix": self.suffix,
        }
        if self.entered:
            data["entered"] = list(self.entered)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "PageVisit":
        return cls(
            page=data["page"],
            frames=tuple([Frame(*f) for f in data["frames"]]),
            keys=tuple(data["keys"]),
            visit=data["visit"],
            shown_at=_time(data.get("shown_at")),
            suffix=data.get("suffix"),
            entered=tuple(data.get("entered", ())),
        )


@dataclass
class State:
    """An interview in progress or finished. Mutated only by the engine."""

    questionnaire_id: str
    questionnaire_hash: str
    mode: str
    language: str
    seed: int
    case: dict[str, Any]
    arms: dict[str, int]
    started_at: dt.datetime
    now: dt.datetime  # the latest time the engine was given
    answers: dict[str, Any] = field(default_factory=dict)
    history: list[PageVisit] = field(default_factory=list)
    loop_keys: dict[str, list[str]] = field(default_factory=dict)
    prompted: set[str] = field(default_factory=set)
    outcome: str | None = None  # complete | screened_out | partial
    finished_at: dt.datetime | None = None
    visits: int = 0
    modes_used: list[str] = field(default_factory=list)
    # after a change from a summary page: that page's id; from a list's summary, page@suffix
    returning: str | None = None
    # derived, rebuilt from history on load:
    on_route: set[str] = field(default_factory=set, repr=False)
    # computed values worked out since the last change (see changed()), and the test of what
    # an unfinished interview has reached (engine.reach); never stored
    computed: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    @property
    def current(self) -> PageVisit | None:
        return self.history[-1] if self.history else None

    def changed(self) -> None:
        """Forget the computed values: called by whatever changes answers, route, loops or language.

        Computed variables are worked out once per state and kept here, because a
        chain of them, each reading the one before more than once, would otherwise
        cost twice as much per link on every read.
        """
        if self.computed:
            self.computed.clear()

    def data(self) -> dict[str, Any]:
        """The answers that count: those on the route (others stay in :attr:`answers` as history)."""
        return {key: self.answers.get(key) for key in self.on_route}

    # --- JSON ---

    def to_json(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "questionnaire_id": self.questionnaire_id,
            "questionnaire_hash": self.questionnaire_hash,
            "mode": self.mode,
            "language": self.language,
            "seed": self.seed,
            "case": {k: to_json(v) for k, v in self.case.items()},
            "arms": dict(self.arms),
            "started_at": self.started_at.isoformat(),
            "now": self.now.isoformat(),
            "answers": {k: to_json(v) for k, v in self.answers.items()},
            "history": [visit.to_json() for visit in self.history],
            "loop_keys": {k: list(v) for k, v in self.loop_keys.items()},
            "prompted": sorted(self.prompted),
            "outcome": self.outcome,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "visits": self.visits,
            "modes_used": list(self.modes_used),
            "returning": self.returning,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "State":
        version = data.get("v")
        if version != STATE_VERSION:
            raise ValueError(
                f"interview state version {version!r} is not supported (this engine reads {STATE_VERSION})"
            )
        state = cls(
            questionnaire_id=data["questionnaire_id"],
            questionnaire_hash=data["questionnaire_hash"],
            mode=data["mode"],
            language=data["language"],
            seed=data["seed"],
            case={k: from_json(v) for k, v in data["case"].items()},
            arms=dict(data["arms"]),
            started_at=_time(data["started_at"]),
            now=_time(data["now"]),
            answers={k: from_json(v) for k, v in data["answers"].items()},
            history=[PageVisit.from_json(v) for v in data["history"]],
            loop_keys={k: list(v) for k, v in data["loop_keys"].items()},
            prompted=set(data["prompted"]),
            outcome=data["outcome"],
            finished_at=_time(data.get("finished_at")),
            visits=data["visits"],
            modes_used=list(data.get("modes_used", [])),
            returning=data.get("returning"),
        )
        for visit in state.history:
            state.on_route.update(visit.keys)
        return state


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None
