"""What the interview service tells listeners (plugins' ``interview_event``) after a save.

The service knows nothing of the plugin host: the host passes a
:data:`Listener` and turns each notice into its own event type. A notice is
sent only after what it reports is stored, so a listener that fails can never
cost an answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from instrument.engine import Event
from instrument.store.events import jsonable

__all__ = ["Listener", "notices_for"]

Listener = Callable[[str, str, dt.datetime, str, Mapping[str, Any]], None]
"""``listener(kind, interview_id, at, mode, data)``; kinds as in ``plugin_types.EVENT_KINDS``."""


def notices_for(
    events: Sequence[Event], mode: str
) -> list[tuple[str, dt.datetime, str, Mapping[str, Any]]]:
    """The notices a save of ``events`` gives: ``(kind, at, mode, data)`` each."""
    notices: list[tuple[str, dt.datetime, str, Mapping[str, Any]]] = []
    for event in events:
        if event.kind == "answer":
            notices.append(("answered", event.at, mode, {"variable": event.key}))
        elif event.kind in ("back", "jump"):
            notices.append(("moved_back", event.at, mode, jsonable(event.data)))
        elif event.kind == "mode":
            notices.append(("mode_switched", event.at, mode, jsonable(event.data)))
        elif event.kind == "finish":
            outcome = event.data.get("outcome")
            kind = "breakoff" if outcome == "partial" else "completed"
            notices.append((kind, event.at, mode, {"outcome": outcome}))
    return notices
