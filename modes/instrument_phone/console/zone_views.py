"""The interviewer's own clock: which zone the console shows times in, and the form that sets it.

Appointments are the respondent's (stored in UTC, checked against their
calling hours in their zone), but an interviewer reads and types times on
their own clock: one in Berlin calling London is an hour ahead most of the
year. Each staff account may have a zone of its own (``staff_users.time_zone``,
set here on the console's home page or with ``instrument staff set-zone``);
without one, a case is shown on its study's default zone, as before.

The choice is a plain form: a list of the zones the served studies' fieldwork
settings use, and a box for any other IANA name (what is typed wins). It is
a CSRF-protected POST (Flask-WTF refuses it without the token before this code
runs) answered with a redirect; a name this server does not know comes back
at its field, with what was typed, as a 422.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import g, redirect, request, url_for

from instrument.fieldwork import CallingRules
from instrument.store.staff import known_time_zone
from instrument_phone import MODE_NAME

if TYPE_CHECKING:
    from instrument_phone.console.views import Console

__all__ = ["TimeZoneForm", "TimeZoneViews", "viewer_zone"]

MAX_TYPED = 64
"""The longest zone name kept from the form (the column's width; real names are shorter)."""


def viewer_zone(staff: Any, rules: CallingRules) -> str:
    """The zone the signed-in staff member reads and types times in: their own, else the study's.

    A stored zone this server's zone database does not know (one stored by a
    newer server) falls back to the study's zone rather than failing every page.
    """
    own = getattr(staff, "time_zone", None)
    if own:
        try:
            rules.zone(own)
        except ValueError:
            return rules.default_zone
        return str(own)
    return rules.default_zone


@dataclass(frozen=True)
class TimeZoneForm:
    """What the home page's "Your time zone" form shows.

    ``choices`` are (value, zone) pairs for the list after its first entry,
    "the study's zone" (value ""); ``chosen`` is the list's value and
    ``typed`` the box's; ``problem`` the message shown at the box.
    """

    own: str | None
    study_zones: tuple[str, ...]
    choices: tuple[str, ...]
    chosen: str
    typed: str
    problem: str | None = None


class TimeZoneViews:
    """The form's values for the home page, and the POST that stores the choice."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._study_zones: tuple[str, ...] | None = None

    def study_zones(self) -> tuple[str, ...]:
        """The default zones of the telephone studies served (read once: they are fixed at start)."""
        if self._study_zones is None:
            found: dict[str, None] = {}
            for survey in self.console.context.service.surveys.values():
                q = survey.questionnaire
                if MODE_NAME in q.modes:
                    found[self.console.queue.settings_for(q.id).calling.default_zone] = None
            self._study_zones = tuple(found)
        return self._study_zones

    def form(self, problem: str | None = None) -> TimeZoneForm:
        """The form as stored for the signed-in person, or as posted when it has a problem."""
        own = getattr(g.staff, "time_zone", None)
        studies = self.study_zones()
        if problem is not None:
            chosen = request.form.get("time_zone", "")[:MAX_TYPED]
            typed = request.form.get("time_zone_other", "")[:MAX_TYPED]
        else:
            chosen, typed = own or "", ""
        choices = tuple(dict.fromkeys([*studies, *([own] if own else [])]))
        return TimeZoneForm(own, studies, choices, chosen, typed, problem)

    def submit(self) -> Any:
        """Store the zone chosen (what is typed wins over the list; nothing: the study's zone)."""
        console = self.console
        typed = " ".join(request.form.get("time_zone_other", "").split())
        name = typed or request.form.get("time_zone", "").strip()
        zone: str | None = None
        if name:
            try:
                zone = known_time_zone(name[: MAX_TYPED + 1])
            except ValueError:
                problem = console.say()("zone_unknown", zone=name[:MAX_TYPED])
                return console.home(zone_problem=problem)
        console.context.service.store.set_staff_time_zone(console.me, zone)
        if zone is None:
            console.tell("zone_saved_default")
        else:
            console.tell("zone_saved", zone=zone)
        return redirect(url_for(".home"), 303)
