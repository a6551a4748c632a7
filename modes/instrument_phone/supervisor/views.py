"""The supervisor's pages: the sample live, interviewers' figures, AAPOR rates, call records.

A thin adapter over the call-queue service (:class:`~instrument.callqueue.CallQueue`),
as the interviewer console is: every figure is the service's, so a page can
never disagree with ``instrument fieldwork status`` or the rates a study
reports. Only staff signed in with the ``supervisor`` role may see them
(anyone else signed in gets 403), because they show every interviewer's work
and let outcomes be changed. Times are shown in the supervisor's zone, chosen
on any page and kept in their session (the study's default zone until then).
A case's page and its changes are in :mod:`instrument_phone.supervisor.case_views`.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from instrument.callqueue import CallQueue
from instrument.fieldwork.rates import RATE_NAMES, estimate_e
from instrument.flask_support.staff_session import add_staff_area, require_staff
from instrument.interviews import ModeContext
from instrument_phone import MODE_NAME
from instrument_phone.supervisor.display import length, percent, when
from instrument_phone.supervisor.forms import (
    TAKER_WORDS,
    CaseFilterForm,
    PeriodForm,
    RatesForm,
    ZoneForm,
    field_errors,
)
from instrument_phone.supervisor.reading import (
    CASE_LIST_LIMIT,
    case_row,
    day_bounds,
    known_zone,
    outcome_labels,
    zone_names,
)

__all__ = ["ROLE", "Supervisor", "create_supervisor_blueprint"]

ROLE = "supervisor"
"""The only staff role that may use these pages."""
ZONE = "supervisor_zone"
"""Session key: the zone the supervisor reads times in."""
NOTICE = "supervisor_notice"
"""Session key: what the last change did, shown once on the page a redirect leads to."""
RATE_GROUPS = (
    ("Response rates", RATE_NAMES[0:6]),
    ("Cooperation rates", RATE_NAMES[6:10]),
    ("Refusal rates", RATE_NAMES[10:13]),
    ("Contact rates", RATE_NAMES[13:16]),
)
NEEDS_E = frozenset({"RR3", "RR4", "REF2", "CON2"})
"""The rates whose denominator counts part of the unknown-eligibility cases through e."""


class Supervisor:
    """The supervisor's views over one app's call-queue service."""

    def __init__(self, context: ModeContext, queue: CallQueue) -> None:
        self.context = context
        self.queue = queue

    # -- who is asking, and in which zone ----------------------------------------

    def require_supervisor(self) -> Any:
        """Every page needs a signed-in supervisor: others signed in get 403, the rest sign in
        (and come back here: the blueprint registers its prefix as a staff area)."""
        if request.endpoint and request.endpoint.endswith(".static"):
            return None
        return require_staff(self.context.service.store, now=self.now(), roles={ROLE})

    @property
    def me(self) -> str:
        return str(g.staff.username)

    def now(self) -> dt.datetime:
        return self.context.now()

    def phone_questionnaires(self) -> list[str]:
        """The served questionnaires fielded by telephone, in a stable order."""
        surveys = self.context.service.surveys
        return sorted(qid for qid, s in surveys.items() if MODE_NAME in s.questionnaire.modes)

    def zone(self) -> ZoneInfo:
        """The supervisor's zone: their choice, else the first telephone study's default zone."""
        chosen = session.get(ZONE)
        found = known_zone(chosen) if isinstance(chosen, str) else None
        if found is not None:
            return found
        studies = self.phone_questionnaires()
        settings = self.queue.settings_for(studies[0]) if studies else None
        return ZoneInfo(settings.calling.default_zone if settings else "Europe/London")

    def tell(self, message: str) -> None:
        """A message for the next page (the one a redirect leads to)."""
        session[NOTICE] = message

    def render(
        self, template: str, status: int = 200, *, here: str | None = None, **values: Any
    ) -> tuple[str, int]:
        """A page with the frame's values; ``here``: where the zone form comes back to (default:
        this GET request's URL; a page answering a POST names the page to come back to)."""
        zone = self.zone()
        back = here or (request.full_path.rstrip("?") if request.method == "GET" else None)
        zone_form = ZoneForm(formdata=None, zone=zone.key, next=back or url_for(".overview"))
        zone_form.zone.choices = [(name, name) for name in zone_names()]
        page = render_template(
            template, staff=g.staff, zone=zone, zone_form=zone_form, when=when, length=length,
            percent=percent, fields_errors=field_errors, notice=session.pop(NOTICE, None), **values,
        )  # fmt: skip
        return page, status

    # -- pages ---------------------------------------------------------------------

    def overview(self) -> Any:
        """The sample now: counts by outcome, callable now, due today, attempts; cases listed,
        all or those of one outcome and of one taker (interviewers or the automated dialler)."""
        now, zone = self.now(), self.zone()
        wanted = request.args.get("case", "").strip()
        if wanted and self.queue.case_summary(wanted) is not None:
            return redirect(url_for(".case", case_id=wanted), 303)
        missing = f"There is no case {wanted} in the call queue" if wanted else None
        form = CaseFilterForm(formdata=request.args)
        valid = form.validate()
        outcome = form.outcome.data
        taken_by = (form.taken_by.data or None) if valid else None
        overview = self.queue.sample_overview(now)
        studies = self.phone_questionnaires()
        labels = outcome_labels(self.queue, studies, overview.by_disposition)
        listing = self.queue.case_list(outcome=outcome, limit=CASE_LIST_LIMIT, taken_by=taken_by)
        rows = [case_row(self.queue, case, zone) for case in listing.cases]
        errors = field_errors([form.taken_by])
        status = 404 if missing else 200 if valid else 400
        return self.render(
            "supervisor/overview.html", status,
            page_title="Error: Sample" if missing or errors else "Sample", overview=overview,
            labels=labels, outcome=outcome, taken_by=taken_by, taker_words=TAKER_WORDS,
            filter_form=form, filter_errors=errors, rows=rows, listed=listing.total,
            now=now.astimezone(zone), wanted=wanted, missing=missing,
        )  # fmt: skip

    def interviewers(self) -> Any:
        """Per interviewer: calls, completes, completes per hour, mean interview length."""
        zone = self.zone()
        form = PeriodForm(formdata=request.args)
        valid = form.validate()
        first, last = form.days(self.now().astimezone(zone).date())
        since, until = day_bounds(first, last, zone)
        stats = self.queue.interviewer_stats(since, until)
        return self.render(
            "supervisor/interviewers.html", 200 if valid else 400, page_title="Interviewers",
            form=form, first=first, last=last, stats=stats,
        )  # fmt: skip

    def rates(self) -> Any:
        """AAPOR RR1-6, COOP1-4, REF1-3, CON1-3 with the counts and the e they were worked out with."""
        form = RatesForm(formdata=request.args)
        studies = self.phone_questionnaires()
        form.questionnaire.choices = [("", "All telephone studies")] + [(q, q) for q in studies]
        valid = form.validate()
        chosen = (form.questionnaire.data or None) if valid else None
        given = form.e.data if valid else None
        counts = self.queue.disposition_counts(chosen)
        e = given if given is not None else estimate_e(counts)
        figures = self.queue.rates(given, questionnaire_id=chosen)
        return self.render(
            "supervisor/rates.html", 200 if valid else 400, page_title="Response rates", form=form,
            counts=counts, e=e, e_given=given is not None, figures=figures, groups=RATE_GROUPS,
            needs_e=NEEDS_E, chosen=chosen,
        )  # fmt: skip

    def call_records(self) -> Response:
        """The call records as a CSV download: numbers by rank only, no names, no notes."""
        out = io.StringIO()
        rows = self.queue.write_call_records(out)
        stamp = f"{self.now():%Y%m%dT%H%M%SZ}"
        self.queue.store.log_staff_action(
            self.me, "export_call_records", detail={"rows": rows}, at=self.now()
        )
        return Response(
            out.getvalue(),
            mimetype="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="call-records-{stamp}.csv"',
                "Cache-Control": "no-store",
            },
        )

    def set_zone(self) -> Any:
        """Keep the zone the supervisor chose, then back to the page they were on (PRG)."""
        form = ZoneForm()
        form.zone.choices = [(name, name) for name in zone_names()]
        if form.validate():
            session[ZONE] = form.zone.data
            self.tell(f"Times are now shown in {form.zone.data}.")
        else:
            self.tell("That time zone is not known; times are shown as before.")
        back = form.next.data or ""
        prefix = url_for(".overview")
        safe = back.startswith(prefix) and "//" not in back and "\\" not in back
        return redirect(back if safe else prefix, 303)


def create_supervisor_blueprint(
    context: ModeContext, settings_for: Callable[[str], Any]
) -> Blueprint:
    """The supervisor's blueprint (mounted by the phone mode's blueprint under ``/supervisor``).

    :param settings_for: each questionnaire's fieldwork settings (read once by the phone mode).
    """
    from instrument_phone.supervisor.case_views import CaseViews

    queue = CallQueue(context.service.store, context.service, settings_for)
    supervisor = Supervisor(context, queue)
    cases = CaseViews(supervisor)
    bp = Blueprint(
        "supervisor", __name__, template_folder="templates", static_folder="static",
        static_url_path="/static",
    )  # fmt: skip
    bp.before_request(supervisor.require_supervisor)
    # Signing in comes back to the supervisor's page asked for.
    bp.record_once(lambda state: add_staff_area(state.app, f"{state.url_prefix or ''}/"))
    get, post = ["GET"], ["POST"]
    bp.add_url_rule("/", "overview", supervisor.overview, methods=get)
    bp.add_url_rule("/interviewers", "interviewers", supervisor.interviewers, methods=get)
    bp.add_url_rule("/rates", "rates", supervisor.rates, methods=get)
    bp.add_url_rule("/calls.csv", "call_records", supervisor.call_records, methods=get)
    bp.add_url_rule("/zone", "set_zone", supervisor.set_zone, methods=post)
    bp.add_url_rule("/case/<case_id>", "case", cases.page, methods=get)
    bp.add_url_rule("/case/<case_id>/release", "release", cases.release, methods=post)
    bp.add_url_rule("/case/<case_id>/reassign", "reassign", cases.reassign, methods=post)
    bp.add_url_rule("/case/<case_id>/outcome", "change_outcome", cases.change_outcome, methods=post)
    return bp
