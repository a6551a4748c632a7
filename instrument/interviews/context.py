"""What the host hands a mode when it mounts it: the interview service and the clock.

A mode's ``ModeSpec.create_blueprint`` is called with a :class:`ModeContext`.
Through it the mode runs interviews (:attr:`service`) and reads the time
(:meth:`now`, a fake clock in tests); it needs nothing else from the host, so
it never imports the server.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from instrument.interviews.service import InterviewService
from instrument.interviews.surveys import Survey

__all__ = ["ModeContext", "utc_now"]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class ModeContext:
    """The interview service and the clock, shared by every mode of one app."""

    service: InterviewService
    clock: Callable[[], dt.datetime] = field(default=utc_now)

    def now(self) -> dt.datetime:
        """The current UTC time (timezone-aware)."""
        return self.clock()

    def survey(self, questionnaire_id: str) -> Survey | None:
        """A served questionnaire, or None."""
        return self.service.surveys.get(questionnaire_id)
