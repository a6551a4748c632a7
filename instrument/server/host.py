"""What the app factory builds once and every host blueprint shares (``app.extensions["instrument"]``).

Modes get only a :class:`~instrument.interviews.ModeContext` (the interview
service and the clock); the host's own blueprints (the staff area) also reach
the store for accounts and counts, the sign-in rate limiter, and the slots that
bound how many staff password hashes run at once (:mod:`instrument.server.sign_in`).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from instrument.interviews import InterviewService, ModeContext, Survey, Surveys
from instrument.plugin_types import ModeSpec
from instrument.ratelimit import RateLimiter
from instrument.store import Store

__all__ = ["Host"]


@dataclass(frozen=True)
class Host:
    """The store, the interview service over it, the clock, and the host's rate limiters."""

    context: ModeContext
    login_limiter: RateLimiter
    password_slots: threading.BoundedSemaphore
    modes: Mapping[str, ModeSpec] = field(default_factory=dict)  # the modes mounted, by name

    @property
    def service(self) -> InterviewService:
        return self.context.service

    @property
    def store(self) -> Store:
        return self.context.service.store

    @property
    def surveys(self) -> Surveys:
        return self.context.service.surveys

    def survey(self, questionnaire_id: str) -> Survey | None:
        return self.surveys.get(questionnaire_id)

    def now(self) -> dt.datetime:
        return self.context.now()
