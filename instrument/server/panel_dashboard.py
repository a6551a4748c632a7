"""The panel's fieldwork dashboard in the staff area: the waves, and one wave's figures.

``/staff/panel/`` lists the waves; ``/staff/panel/wave/<key>`` is the page a
fieldwork manager keeps open all day: every figure as a server-drawn SVG chart
with its numbers in a table beside it and a CSV link
(``/staff/panel/wave/<key>/<figure>.csv``). A small script reloads the figures
every minute while the tab is visible (``/staff/panel/wave/<key>/figures``, the
same HTML without the page around it); without JavaScript the page is the same
and a link reloads it. Supervisors, researchers and admins may read it;
interviewers get 403, as for the audit log.

The figures are read from the database (instrument/store/panel_reports.py)
and kept for ``PANEL_FIGURES_MAX_AGE`` seconds (default 30, or
``$INSTRUMENT_PANEL_FIGURES_MAX_AGE``; 0 reads them for every request): a
wave of 100,000 members costs the database a second or two to count, so each
server process counts it at most once in that time, and when the kept figures
are older the request still answers at once with them while one thread counts
afresh (:class:`FiguresCache`). The page says when its figures were read.

A wave whose key two panels share is chosen with ``?panel=``. The target
number of completes comes from ``?target=``, the wave file's ``target:`` or
the app's ``PANEL_TARGETS`` (``{"panel/wave": n}``), the panel's recruitment
and profile rates from ``PANEL_RATES`` (``{"panel": {"recruitment": 0.1,
"profile": 0.8}}``), which a wave file does not hold (docs/dashboard.md).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request
from markupsafe import Markup

from instrument.fieldwork.settings import FieldworkSettings, settings_for
from instrument.panel.wave_file import load_wave_text
from instrument.panel.waves import Wave
from instrument.server.host import Host
from instrument.server.panel_dashboard_figures import (
    FIGURE_NAMES,
    Dashboard,
    PanelRates,
    build_dashboard,
    day_starts,
    step_starts,
)
from instrument.server.staff import staff_required
from instrument.store.panel_reports import PhoneClasses, WaveFigures, WaveListing

__all__ = [
    "DASHBOARD_READERS",
    "FIGURES_MAX_AGE",
    "REFRESH_SECONDS",
    "FiguresCache",
    "add_panel_dashboard_views",
]

DASHBOARD_READERS = ("admin", "supervisor", "researcher")
"""The staff roles that may read the dashboard."""

REFRESH_SECONDS = 60
"""How often the page's script reloads the figures while the tab is visible (the app's
``PANEL_REFRESH_SECONDS`` changes it: the browser test waits one second, not sixty)."""


FIGURES_MAX_AGE = 30.0
"""Seconds a wave's figures are shown before they are read again (see the module's docstring)."""

_TOO_OLD = 10
"""Figures older than this many times the maximum age are not shown while new ones are read:
the request waits for them (a server that nobody asked for an hour)."""


class FiguresCache:
    """Each wave's figures as last read, refreshed in the background when they are stale.

    One per app (so per server process). A request finds figures younger than
    ``max_age``: they are used. Older (but not ten times older): they are used,
    and one thread reads new ones for the next request, so no request waits on
    the database's count. None yet, or far too old: the request reads them.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: dict[Hashable, tuple[float, WaveFigures]] = {}
        self._reading: set[Hashable] = set()

    def get(self, key: Hashable, read: Callable[[], WaveFigures], max_age: float) -> WaveFigures:
        if max_age <= 0:
            return read()
        now = self._clock()
        with self._lock:
            kept = self._kept.get(key)
            stale = kept is not None and now - kept[0] > max_age
            start = stale and key not in self._reading
            if start:
                self._reading.add(key)
        if kept is None or now - kept[0] > _TOO_OLD * max_age:
            return self._read(key, read, now)
        if start:
            threading.Thread(target=self._refresh, args=(key, read), daemon=True).start()
        return kept[1]

    def _read(self, key: Hashable, read: Callable[[], WaveFigures], now: float) -> WaveFigures:
        figures = read()
        with self._lock:
            self._kept[key] = (now, figures)
        return figures

    def _refresh(self, key: Hashable, read: Callable[[], WaveFigures]) -> None:
        try:
            self._read(key, read, self._clock())
        finally:
            with self._lock:
                self._reading.discard(key)


def _max_age() -> float:
    configured = current_app.config.get("PANEL_FIGURES_MAX_AGE")
    if configured is None:
        configured = os.environ.get("INSTRUMENT_PANEL_FIGURES_MAX_AGE", FIGURES_MAX_AGE)
    try:
        return max(float(configured), 0.0)
    except (TypeError, ValueError):
        return FIGURES_MAX_AGE


@functools.lru_cache(maxsize=64)
def _wave_of(digest: str, text: str) -> Wave | None:
    """The wave file as opened (kept by its digest: the stored text never changes)."""
    wave, _ = load_wave_text(text, f"wave-{digest[:8]}.wave.yaml")
    return wave


@functools.lru_cache(maxsize=64)
def _phone_classes(source_path: str | None) -> PhoneClasses:
    settings = settings_for(source_path)[0] if source_path else FieldworkSettings()
    return {code: (d.aapor, d.label, d.rate_class) for code, d in settings.dispositions.items()}


def _target(listing: WaveListing, wave: Wave | None) -> int | None:
    """Completes aimed for: ``?target=``, else the wave file's ``target:``, else ``PANEL_TARGETS``."""
    asked = request.args.get("target", type=int)
    if asked is not None and asked > 0:
        return asked
    if wave is not None and wave.target:
        return wave.target
    configured: Mapping[str, Any] = current_app.config.get("PANEL_TARGETS") or {}
    value = configured.get(f"{listing.panel}/{listing.key}")
    return int(value) if isinstance(value, int | float) and value > 0 else None


def _panel_rates(panel: str) -> PanelRates:
    configured: Mapping[str, Any] = (current_app.config.get("PANEL_RATES") or {}).get(panel) or {}

    def rate(name: str) -> float | None:
        value = configured.get(name)
        return float(value) if isinstance(value, int | float) and 0 <= value <= 1 else None

    return PanelRates(rate("recruitment"), rate("profile"))


def add_panel_dashboard_views(bp: Blueprint, host: Host) -> None:
    """``/staff/panel/``, ``/staff/panel/wave/<key>`` (+ ``/figures``, ``/<figure>.csv``)."""

    def find(key: str) -> WaveListing:
        panel = (request.args.get("panel") or "").strip() or None
        found = host.store.panel_wave_by_key(key, panel)
        if not found:
            abort(404)
        if len(found) > 1:
            abort(404, description="Several panels have this wave: add ?panel=<name>.")
        return found[0]

    cache = FiguresCache()

    def plan(wave: Wave | None, listing: WaveListing, now: dt.datetime) -> tuple[Any, ...]:
        """Day starts, steps, today and profile variables of the wave at ``now``."""
        if wave is not None:
            local = now.astimezone(wave.tz)
            start = dt.datetime.combine(local.date(), dt.time(0), wave.tz)
            today = (start, start + dt.timedelta(days=1), local.date())
            return day_starts(wave, now), step_starts(wave), today, list(wave.profile)
        # a file this server cannot read (a plugin's channel): figures without the plan
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        today = (midnight, midnight + dt.timedelta(days=1), midnight.date())
        return [listing.starts_at], [], today, []

    def read(listing: WaveListing, wave: Wave | None) -> WaveFigures:
        now = host.now()
        days, steps, today, variables = plan(wave, listing, now)
        return host.store.wave_figures(
            listing.id,
            now=now,
            day_starts=days,
            step_starts=[when for _, _, when in steps],
            today=today,
            profile_variables=variables,
        )

    def dashboard(listing: WaveListing) -> tuple[Dashboard, Wave | None, dt.datetime]:
        wave = _wave_of(listing.file_digest, listing.source_text)
        figures = cache.get(listing.id, lambda: read(listing, wave), _max_age())
        now = figures.now  # when the figures were read: the page says so
        days, steps, _, _ = plan(wave, listing, now)
        survey = host.survey(listing.questionnaire_id)
        source = survey.questionnaire.source_path if survey is not None else None
        built = build_dashboard(
            figures,
            wave,
            _phone_classes(source),
            days=days,
            steps=steps,
            target=_target(listing, wave),
            panel_rates=_panel_rates(listing.panel),
        )
        return built, wave, now

    def context(listing: WaveListing) -> dict[str, Any]:
        built, wave, now = dashboard(listing)
        zone = wave.tz if wave is not None else dt.UTC
        args = {
            k: v
            for k, v in (
                ("panel", request.args.get("panel")),
                ("target", request.args.get("target")),
            )
            if v
        }
        return {
            "wave": listing,
            "dashboard": built,
            "charts": {f.name: Markup(f.svg) for f in built.figures},
            "as_of": now.astimezone(zone),
            "zone": getattr(zone, "key", "UTC"),
            "args": args,
            "refresh_seconds": int(
                current_app.config.get("PANEL_REFRESH_SECONDS") or REFRESH_SECONDS
            ),
        }

    @bp.get("/panel/")
    @staff_required(*DASHBOARD_READERS)
    def panel_waves() -> Any:
        return render_template(
            "instrument/staff/panel_waves.html",
            waves=host.store.panel_wave_list(),
            page_title="Panel waves",
        )

    @bp.get("/panel/wave/<key>")
    @staff_required(*DASHBOARD_READERS)
    def panel_wave(key: str) -> Any:
        listing = find(key)
        return render_template(
            "instrument/staff/panel_wave.html",
            page_title=f"Wave {listing.key} fieldwork",
            **context(listing),
        )

    @bp.get("/panel/wave/<key>/figures")
    @staff_required(*DASHBOARD_READERS)
    def panel_wave_figures(key: str) -> Any:
        listing = find(key)
        body = render_template("instrument/staff/panel_figures.html", **context(listing))
        return Response(body, mimetype="text/html", headers={"Cache-Control": "no-store"})

    @bp.get("/panel/wave/<key>/<name>.csv")
    @staff_required(*DASHBOARD_READERS)
    def panel_wave_csv(key: str, name: str) -> Response:
        if name not in FIGURE_NAMES:
            abort(404)
        listing = find(key)
        built, _, now = dashboard(listing)
        figure = built.figure(name)
        if figure is None:
            abort(404)
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{listing.panel}-{listing.key}-{name}")
        filename = f"{stem}-{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}.csv"
        return Response(
            figure.table.csv(),
            mimetype="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
            },
        )
