"""A sliding-window rate limiter per key, in one process, for anything that can be guessed at.

Used for personal-link look-ups, interview starts from open links and staff
sign-ins; it knows nothing of HTTP, so a telephone webhook can use it too.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """Counts events per key (an IP address) in a sliding window, in this process only.

    Under gunicorn each worker keeps its own counts, so the effective limit
    is ``limit`` times the number of workers; behind a proxy, set
    ``TRUSTED_PROXIES`` so the client address is the real one. That is
    enough to make guessing a 256-bit token or a password by brute force
    hopeless from one address; a distributed attack needs limits at the proxy.
    """

    def __init__(
        self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        return hits

    def blocked(self, key: str) -> bool:
        """True when ``key`` has used up its attempts in the window."""
        with self._lock:
            now = self._clock()
            hits = self._recent(key, now)
            if not hits:
                self._hits.pop(key, None)
            return len(hits) >= self.limit

    def take(self, key: str) -> bool:
        """Count one attempt for ``key`` unless it is blocked; False if it was.

        Checking and counting under one lock, so concurrent requests cannot all
        pass the check before any is counted (``blocked`` then ``hit`` can).
        """
        with self._lock:
            now = self._clock()
            hits = self._recent(key, now)
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            self._bound(now)
            return True

    def give_back(self, key: str) -> None:
        """Uncount the latest attempt of ``key`` (one that turned out not to be a guess)."""
        with self._lock:
            hits = self._hits.get(key)
            if hits:
                hits.pop()
                if not hits:
                    del self._hits[key]

    def hit(self, key: str) -> None:
        """Count one (failed) attempt for ``key``."""
        with self._lock:
            now = self._clock()
            self._recent(key, now).append(now)
            self._bound(now)

    def _bound(self, now: float) -> None:
        if len(self._hits) > 100_000:  # never grow without bound under a flood
            self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - self.window}
