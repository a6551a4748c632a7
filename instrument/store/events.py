"""The one mapping from the engine's events to rows of the store's event log.

Every mode, the simulator and the importers save engine events through this
function, so the paradata export can read them back the same way whoever
wrote them: ``kind`` is the engine's event kind; answers keep their variable,
JSON value, actor and mode; other events carry their ``data`` as the value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from instrument.store.records import NewEvent

if TYPE_CHECKING:
    from instrument.engine import Event


def jsonable(value: Any) -> Any:
    """Event data as JSON: dates as ISO text, anything unexpected as its text."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def engine_events(
    events: Iterable["Event"], *, actor: str = "respondent", mode: str | None = None
) -> list[NewEvent]:
    """Rows for :meth:`Store.save_interview` from what :class:`~instrument.engine.Engine` returned.

    ``actor`` is who acted (``respondent``, ``interviewer:<pseudonymous id>``,
    ``system``); an answer's own actor, set by the engine from ``submit(actor=)``,
    wins. A finish that closes a break-off is recorded as the system's doing.
    """
    rows: list[NewEvent] = []
    for event in events:
        data = event.data
        if event.kind == "answer":
            rows.append(
                NewEvent(
                    variable=event.key or None,
                    value=event.value,
                    kind="answer",
                    actor=data.get("actor", actor),
                    mode=data.get("mode", mode),
                    at=event.at,
                )
            )
            continue
        value: Any = jsonable(data) if data else None
        if event.value is not None:
            value = {**(value or {}), "value": event.value}
        event_mode = data.get("mode") if isinstance(data.get("mode"), str) else mode
        who = "system" if event.kind == "finish" and data.get("outcome") == "partial" else actor
        rows.append(
            NewEvent(
                variable=event.key or None,
                value=value,
                kind=event.kind,
                actor=who,
                mode=event_mode,
                at=event.at,
            )
        )
    return rows
