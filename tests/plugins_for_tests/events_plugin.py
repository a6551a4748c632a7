"""An event subscriber written as a class, so each test gets its own log."""

from __future__ import annotations

from instrument import hookimpl
from instrument.plugin_types import InterviewEvent


class EventLog:
    def __init__(self) -> None:
        self.events: list[InterviewEvent] = []

    @hookimpl
    def interview_event(self, event: InterviewEvent) -> None:
        self.events.append(event)
