"""Flask helpers shared by the host and the modes it mounts.

The server (app factory, staff area) sits above the modes and the modes must
never import it; what both need of Flask lives here, below both.
"""

from __future__ import annotations

ACTIVITY_STEP_SECONDS = 60
"""How finely a signed-in session records activity (see the web mode's
``track_activity``): its cookie lives this much longer than the idle timeout."""

__all__ = ["ACTIVITY_STEP_SECONDS"]
