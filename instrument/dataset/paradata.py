"""The long paradata file: what happened on each page, from the store's event log.

One row per page submitted, back navigation, jump or mode switch, in the
order they happened: pseudonymous case id, event number, what happened, the
page and its questions, the loop iteration, the mode, the time (UTC), the
seconds the page was shown before it was submitted, and where a back or
jump went; the device class (``mobile``, ``tablet``, ``desktop``) a web
page was submitted from, and the order its randomised options and grid rows
were shown in. Also one row per answer changed (a question
answered again with another value: the engine logs an answer only when it is
new or different) and per soft check confirmed, naming the question and, for
a check, which one. Answers are not repeated here (they are in the data
file), and nothing identifies the respondent or the interviewer.

It reads events as the modes store the engine's events: ``kind`` is the
engine's event kind (``page``, ``back``, ``jump``, ``mode``, ``answer``,
``warning_confirmed``) and ``value`` its ``data`` mapping (``page``,
``suffix``, ``seconds``, ``from``, ``to``, ``id``); ``paradata`` events are a
mode's own (the web's ``shown``/``submitted`` with ``device``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import pandas as pd

from instrument.model import Questionnaire

from .pseudonym import Pseudonymiser

__all__ = ["PARADATA_KINDS", "build_paradata", "read_events"]

PARADATA_KINDS = ("page", "back", "jump", "mode", "answer", "warning_confirmed", "paradata")
_EVENT_NAMES = {
    "page": "submit",
    "back": "back",
    "jump": "jump",
    "mode": "mode_switch",
    "answer": "answer_change",
    "warning_confirmed": "warning_confirmed",
}
COLUMNS = [
    "case_id",
    "event_no",
    "event",
    "page",
    "questions",
    "iteration",
    "mode",
    "at",
    "seconds",
    "to_page",
    "check",
    "device",
    "order",
]


def build_paradata(
    events: Iterable[Any],
    questionnaires: Iterable[Questionnaire],
    pseudonymiser: Pseudonymiser,
    case_ids: Iterable[str],
) -> pd.DataFrame:
    """The paradata rows of the cases in ``case_ids`` (the cases in the data file)."""
    frame, _ = read_events(events, questionnaires, pseudonymiser)
    return keep_cases(frame, case_ids)


def keep_cases(frame: pd.DataFrame, case_ids: Iterable[str]) -> pd.DataFrame:
    """Only the rows of the cases in the data file (the export's filters apply to paradata too)."""
    return frame[frame["case_id"].isin(set(case_ids))].reset_index(drop=True)


def read_events(
    events: Iterable[Any],
    questionnaires: Iterable[Questionnaire],
    pseudonymiser: Pseudonymiser,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """One pass over the event log: the paradata rows, and each interview's last interviewer.

    The interviewer is read from the ``actor`` of the events
    (``interviewer:<staff id>``) and returned unhashed, keyed by interview id,
    for :func:`build_dataset` to pseudonymise; it never reaches a file as is.
    """
    interviewers: dict[str, str] = {}
    questions_on: dict[str, str] = {}
    for q in questionnaires:
        for page in q.walk_pages():
            questions_on.setdefault(page.id, " ".join(question.id for question in page.questions))
    rows: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    case_of: dict[str, str] = {}
    counter: dict[str, int] = {}
    answered: set[tuple[str, str]] = set()  # (interview, key) answered before
    last_move: dict[str, int] = {}  # interview -> its latest submit/back/jump row
    for event in events:
        kind = event.kind
        interview = event.interview_id
        if kind == "paradata":
            _client(event, last_move.get(interview), rows)
            continue
        if kind == "answer":
            key = (interview, event.variable or "")
            if key not in answered:  # a first answer is no change
                answered.add(key)
                continue
        elif kind not in _EVENT_NAMES:
            continue
        actor = event.actor or ""
        if actor.startswith("interviewer:"):
            interviewers[interview] = actor.split(":", 1)[1]
        case_id = case_of.get(interview)
        if case_id is None:
            case_id = case_of[interview] = pseudonymiser.case_id(interview)
        data = event.value if isinstance(event.value, dict) else {}
        counter[case_id] = counter.get(case_id, 0) + 1
        if kind == "page":
            page, to_page = data.get("page"), None
        elif kind in ("mode", "answer", "warning_confirmed"):
            page, to_page = None, None
        else:
            page, to_page = data.get("from"), data.get("to")
        if kind in ("page", "back", "jump"):
            last_move[interview] = len(rows["case_id"])
        seconds = data.get("seconds") if kind == "page" else None
        at = event.at
        if at is not None and at.tzinfo is not None:
            at = at.astimezone(dt.UTC).replace(tzinfo=None)
        rows["case_id"].append(case_id)
        rows["event_no"].append(counter[case_id])
        rows["event"].append(
            _EVENT_NAMES[kind]
            if kind != "mode"
            else f"mode_switch:{data.get('from')}->{data.get('to')}"
        )
        rows["page"].append(page or "")
        rows["questions"].append(
            event.variable or ""
            if kind in ("answer", "warning_confirmed")
            else questions_on.get(page or "", "")
        )
        rows["iteration"].append((data.get("suffix") or "") if kind == "page" else "")
        rows["mode"].append(event.mode)
        rows["at"].append(at)
        rows["seconds"].append(float(seconds) if seconds is not None else float("nan"))
        rows["to_page"].append(to_page or "")
        rows["check"].append(str(data.get("id") or "") if kind == "warning_confirmed" else "")
        rows["device"].append("")
        rows["order"].append("")
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["event_no"] = frame["event_no"].astype("int32")
    frame["at"] = pd.to_datetime(frame["at"])
    return frame, interviewers


DEVICES = frozenset({"mobile", "tablet", "desktop"})
"""The device classes a mode may report (the web's, from the User-Agent); anything else is left out."""


def _client(event: Any, row: int | None, rows: dict[str, list[Any]]) -> None:
    """What the mode recorded as the page was submitted (the web's ``submitted`` event), on
    that submit's row: the device class, and the order the page's randomised options and
    rows were shown in (``heard: 3 1 2 96; grid: g_b g_a``)."""
    data = event.value if isinstance(event.value, dict) else {}
    if row is None or data.get("event") != "submitted":
        return
    device = data.get("device")
    if device in DEVICES and not rows["device"][row]:
        rows["device"][row] = str(device)
    order = data.get("order")
    if isinstance(order, str) and not rows["order"][row]:
        rows["order"][row] = order
