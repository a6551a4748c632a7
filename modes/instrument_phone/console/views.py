"""The interviewer console: next case, the case screen, dialling and the end of a call.

A thin adapter between HTTP and two services, as the web mode is for
respondents: the call-queue service (:class:`~instrument.callqueue.CallQueue`)
decides which case is called, what may be dialled and which outcomes fit,
and codes each attempt once; the interview service runs the script
(:mod:`instrument_phone.console.script_views`). The console never reads or
writes the store itself.

What keeps a double click, a refresh or a second tab from doing anything
twice is the services' own answer, not the page: "next case" gives an
interviewer who holds a case that case back, a second "dial" on a number
still ringing gets the same call, and coding an attempt coded already is
:class:`~instrument.callqueue.AlreadyCoded`. Every POST answers with a
redirect (POST/redirect/GET), so a refresh only reloads a page.

Which attempts this browser took is kept in the signed session cookie; a
case screen is shown only while the signed-in interviewer holds the case.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from instrument.callqueue import (
    AlreadyCoded,
    AppointmentRequest,
    CallPlaced,
    CallQueue,
    CallView,
    CaseView,
    Claimed,
    Coded,
)
from instrument.fieldwork.settings import FieldworkSettings, settings_for
from instrument.flask_support.staff_session import add_staff_area, require_staff
from instrument.interviews import ModeContext
from instrument.plugin_types import ModeSetupError
from instrument_phone import MODE_NAME
from instrument_phone.console.dates import local_day, local_time
from instrument_phone.console.dialer import TwilioDialer
from instrument_phone.console.live_views import LiveViews, suggested_outcome
from instrument_phone.console.words import (
    Say,
    interviewer_language,
    outcome_label,
    word_table,
    words,
)
from instrument_phone.console.zone_views import TimeZoneViews, viewer_zone

__all__ = ["ROLES", "Console", "create_console_blueprint", "fieldwork_settings"]

ROLES = frozenset({"interviewer", "supervisor"})
"""Who may use the console (supervisors too, to cover a shift or listen in)."""
HELD = "cati_taken"
"""Session key: attempt id -> [case id, questionnaire id, interview id or None, language or None]
of the cases this browser was handed (the last few). The interview id is learnt from the case
screen or when the script starts it; the language is the case's, from the claim. An earlier,
closed attempt keeps only [case id, questionnaire id] (see ``Console._remember``); entries of
three items, written before the language was kept, are read too."""
PHONE = "cati_phone"
"""Session key: the interviewer's own phone or SIP address, which a Twilio bridge rings."""
MESSAGE = "cati_message"
KEEP_TAKEN = 8
CHECKED = "cati_checked"
"""Session key: attempt id -> until when (seconds since 1970) its hold counts as confirmed."""
RECHECK_SECONDS = 30


def fieldwork_settings(
    context: ModeContext, mode: str = MODE_NAME
) -> Callable[[str], FieldworkSettings]:
    """Each served questionnaire's fieldwork settings, read once (its ``.fieldwork.yaml``).

    Those of the questionnaires fielded in ``mode`` (the interviewers' by
    default; the automated calls' callbacks ask for ``ivr``'s); others get the defaults.

    :raises ModeSetupError: a fieldwork file has errors, so the server stops at
        start-up with them rather than scheduling calls on rules nobody meant.
    """
    chosen: dict[str, FieldworkSettings] = {}
    for survey in context.service.surveys.values():
        q = survey.questionnaire
        if mode not in q.modes:
            continue
        found, diagnostics = settings_for(q.source_path)
        if diagnostics.has_errors():
            errors = "\n".join(str(d) for d in diagnostics.errors)
            raise ModeSetupError(f"the fieldwork settings of {q.id} have errors:\n{errors}")
        chosen[q.id] = found
    default = FieldworkSettings()
    return lambda questionnaire_id: chosen.get(questionnaire_id, default)


class Console:
    """The console's views over one app's services (see the module docstring)."""

    def __init__(self, context: ModeContext, queue: CallQueue, telephony: Any) -> None:
        self.context = context
        self.queue = queue
        self.telephony = telephony  # TwilioSettings, or None: dialled by hand
        self.zones = TimeZoneViews(self)

    # -- who is asking -----------------------------------------------------------

    def require_staff(self) -> Any:
        """Every console page needs a signed-in interviewer or supervisor."""
        if request.endpoint and request.endpoint.endswith(".static"):
            return None
        return require_staff(self.context.service.store, now=self.now(), roles=ROLES)

    @property
    def me(self) -> str:
        return str(g.staff.username)

    def now(self) -> dt.datetime:
        return self.context.now()

    def say(self) -> Say:
        return words(interviewer_language())

    def render(self, template: str, **values: Any) -> str:
        language = interviewer_language()
        say = words(language)
        return render_template(
            template, t=say, w=word_table(language), language=language, staff=g.staff,
            notice=session.pop(MESSAGE, None),
            outcome=partial(outcome_label, say), when=partial(local_time, language=language),
            day=partial(local_day, language=language),
            **values,
        )  # fmt: skip

    def tell(self, key: str, **values: Any) -> None:
        """A message for the next page (the page a redirect leads to)."""
        session[MESSAGE] = self.say()(key, **values)

    # -- the cases this browser took ---------------------------------------------

    def _taken(self, attempt_id: int) -> list[Any]:
        """The session's entry for an attempt this browser was handed, as four items (404 else)."""
        taken = session.get(HELD) or {}
        found = taken.get(str(attempt_id)) if isinstance(taken, dict) else None
        if not (isinstance(found, list) and 2 <= len(found) <= 4):
            abort(404)
        return [*found, None, None][:4]

    def taken_case(self, attempt_id: int) -> tuple[str, str]:
        """(case id, questionnaire id) of an attempt this browser was handed (404 for any other)."""
        found = self._taken(attempt_id)
        return str(found[0]), str(found[1])

    def _remember(self, taken: Claimed) -> None:
        """Keep the claimed attempt; earlier ones keep only their case and questionnaire.

        An interviewer holds one case at a time (a claim gives back the case
        already held), so an earlier attempt is closed: its pages only say so,
        which needs no interview or language. The cookie, read and verified
        on every request, stays small.
        """
        attempt = str(taken.attempt_id)
        held = {
            key: found[:2] if key != attempt and isinstance(found, list) else found
            for key, found in (session.get(HELD) or {}).items()
        }
        known = held.get(attempt)
        if not (isinstance(known, list) and len(known) >= 3 and known[2]):  # keep a known interview
            held[attempt] = [taken.case_id, taken.questionnaire_id, None, taken.language]
        session[HELD] = dict(list(held.items())[-KEEP_TAKEN:])

    def _know_interview(self, attempt_id: int, interview_id: str) -> None:
        """Keep the case's interview id with the attempt (a session write only when it is new)."""
        found = self._taken(attempt_id)
        if found[2] != interview_id:
            held = dict(session.get(HELD) or {})
            held[str(attempt_id)] = [found[0], found[1], interview_id, found[3]]
            session[HELD] = held

    def interview_of(self, attempt_id: int) -> str:
        """The case's one interview: kept with the attempt once known (from the case screen, or
        started here with the case's language from the claim, so nothing is read first)."""
        case_id, _questionnaire_id, interview_id, language = self._taken(attempt_id)
        if isinstance(interview_id, str) and interview_id:
            return interview_id
        interview_id = self.queue.interview_for(
            case_id, mode=MODE_NAME, actor=self.me, now=self.now(),
            language=language if isinstance(language, str) else None, look_first=False,
        )  # fmt: skip
        self._know_interview(attempt_id, interview_id)
        return interview_id

    def still_held(self, attempt_id: int) -> bool:
        """Whether the attempt is still open and this interviewer's, confirmed at most 30 s ago.

        The script's page turns do not read the whole case screen each time
        (the interview service keeps the answers safe on its own): a case
        released or coded elsewhere closes its script within that time, and
        coding it here closes it at once.
        """
        now = self.now().timestamp()
        checked = session.get(CHECKED) or {}
        until = checked.get(str(attempt_id)) if isinstance(checked, dict) else None
        if isinstance(until, (int, float)) and now < until <= now + RECHECK_SECONDS:
            return True
        if not self.holding(attempt_id):
            return False
        kept = {k: v for k, v in dict(checked).items() if isinstance(v, (int, float)) and v > now}
        kept[str(attempt_id)] = now + RECHECK_SECONDS
        session[CHECKED] = kept
        return True

    def forget_check(self, attempt_id: int) -> None:
        checked = dict(session.get(CHECKED) or {})
        if checked.pop(str(attempt_id), None) is not None:
            session[CHECKED] = checked

    def case_view(self, attempt_id: int) -> CaseView:
        """The case screen's data, times on the interviewer's clock (their zone, else the study's)."""
        case_id, questionnaire_id = self.taken_case(attempt_id)
        zone = viewer_zone(g.staff, self.queue.settings_for(questionnaire_id).calling)
        return self.queue.case_view(case_id, viewer_zone=zone, now=self.now())

    def holding(self, attempt_id: int) -> bool:
        """Whether the signed-in interviewer holds the case through this attempt (one small read)."""
        self.taken_case(attempt_id)  # 404 for an attempt this browser was not handed
        return self.queue.holds(attempt_id, self.me)

    def held(self, attempt_id: int) -> CaseView | None:
        """The case screen of an attempt still open and held by the signed-in interviewer."""
        view = self.case_view(attempt_id)
        open_attempt = any(a.attempt_id == attempt_id and a.ended_at is None for a in view.attempts)
        return view if open_attempt and view.held_by == self.me else None

    # -- pages -------------------------------------------------------------------

    def home(self, zone_problem: str | None = None) -> Any:
        say = self.say()
        title = say("home_title")
        return self.render(
            "phone/home.html", page_title=f"{say('error_prefix')}: {title}" if zone_problem else title,
            telephony=self.telephony, my_phone=session.get(PHONE, ""),
            zone_form=self.zones.form(zone_problem),
        ), (422 if zone_problem else 200)  # fmt: skip

    def next_case(self) -> Any:
        return self._take_next()

    def _take_next(self, coded: str | None = None) -> Any:
        """Claim the next case and show it; ``coded``: the case just coded, for the message.

        The claim resumes a case this interviewer already holds, so a second
        press of "next case" (or of "save and take the next case", whose
        second press finds the attempt already coded) shows the same case
        rather than holding another.
        """
        taken = self.queue.next_case(self.me, now=self.now())
        if not isinstance(taken, Claimed):
            if coded is None:
                self.tell("no_case")
            else:
                self.tell("coded_no_case", case=coded)
            return redirect(url_for(".home"), 303)
        if coded is not None and taken.case_id != coded:
            self.tell("coded_next", case=coded)
        self._remember(taken)
        return redirect(url_for(".case", attempt_id=taken.attempt_id), 303)

    def my_phone(self) -> Any:
        """The interviewer's own phone (or SIP address) that Twilio rings before the respondent."""
        number = " ".join(request.form.get("my_phone", "").split())[:200]
        if number:
            session[PHONE] = number
        else:
            session.pop(PHONE, None)
        return redirect(url_for(".home"), 303)

    def case(self, attempt_id: int) -> Any:
        view = self.held(attempt_id)
        if view is None:
            return self.gone(attempt_id)
        if view.interview_id is not None:  # the script then opens it without asking again
            self._know_interview(attempt_id, view.interview_id)
        going = [
            call
            for call in _calls_of(view, attempt_id)
            if call.ended_at is None and call.provider == "twilio"
        ]
        return self.render(
            "phone/case.html", page_title=self.say()("case_title", case=view.case_id), view=view,
            attempt_id=attempt_id, going=going, by_phone=self.dialer() is not None,
            provider_calls=_through_provider(view, attempt_id),
        )  # fmt: skip

    def gone(self, attempt_id: int) -> Any:
        """An attempt this browser took that is no longer open or held: back to the start."""
        self.tell("case_closed")
        return redirect(url_for(".home"), 303)

    def dialer(self) -> TwilioDialer | None:
        """Twilio when the study configured it and the interviewer gave their phone, else by hand."""
        phone = session.get(PHONE)
        if self.telephony is None or not phone:
            return None
        http = current_app.config.get("TWILIO_HTTP_CLIENT")  # tests: a fake REST API
        return TwilioDialer(self.telephony, str(phone), http)

    def dial(self, attempt_id: int) -> Any:
        if not self.holding(attempt_id):
            return self.gone(attempt_id)
        try:
            rank = int(request.form.get("rank", ""))
        except ValueError:
            abort(400)
        placed = self.queue.place_call(attempt_id, rank, dialer=self.dialer(), now=self.now())
        if isinstance(placed, CallPlaced):
            self.tell("dialled_by_hand" if placed.provider == "manual" else "ringing_you", n=rank)
        else:
            self.tell("not_dialled", reason="; ".join(placed.messages))
        return redirect(url_for(".case", attempt_id=attempt_id), 303)

    def hang_up(self, attempt_id: int) -> Any:
        if not self.holding(attempt_id):
            return self.gone(attempt_id)
        try:
            call_id = int(request.form.get("call", ""))
        except ValueError:
            abort(400)
        ended = self.queue.hang_up(call_id, dialer=self.dialer())
        self.tell("hung_up" if ended else "nothing_to_hang_up")
        return redirect(url_for(".case", attempt_id=attempt_id), 303)

    # -- the end of the call -------------------------------------------------------

    def end(self, attempt_id: int) -> Any:
        if request.method == "POST":
            return self._code(attempt_id)
        view = self.held(attempt_id)
        if view is None:
            return self.gone(attempt_id)
        return self._end_page(attempt_id, view, request.form, ())

    def _end_page(
        self, attempt_id: int, view: CaseView, form: Mapping[str, str], problems: tuple[str, ...]
    ) -> Any:
        offered = self.queue.outcomes_fitting(view)
        chosen = form.get("outcome") or (
            "complete" if any(d.code == "complete" for d in offered) else ""
        )
        suggested = None
        if not chosen and _through_provider(view, attempt_id):  # a call by hand suggests nothing
            suggested = suggested_outcome(self, attempt_id, offered)
        chosen = chosen or (suggested.code if suggested else "")
        settings = self.queue.settings_for(view.questionnaire_id)
        say = self.say()
        title = say("end_title", case=view.case_id)
        return self.render(
            "phone/end.html", page_title=f"{say('error_prefix')}: {title}" if problems else title,
            view=view, attempt_id=attempt_id, offered=offered, chosen=chosen, form=form,
            suggested=suggested,
            problems=problems, parts=[p.name for p in settings.calling.parts_of_day],
        ), (422 if problems else 200)  # fmt: skip

    def _code(self, attempt_id: int) -> Any:
        """Code the call; the case screen is read again only to show the form with its problems."""
        form = request.form
        case_id, questionnaire_id = self.taken_case(attempt_id)
        zone = viewer_zone(g.staff, self.queue.settings_for(questionnaire_id).calling)
        appointment = appointment_from(form, zone)
        if isinstance(appointment, str):
            return self._end_page(
                attempt_id, self.case_view(attempt_id), form, (self.say()(appointment),)
            )
        note = " ".join(form.get("note", "").split())[:2000] or None
        coded = self.queue.code_outcome(
            attempt_id, disposition=form.get("outcome", ""), note=note, appointment=appointment,
            actor=self.me, now=self.now(),
        )  # fmt: skip
        self.forget_check(attempt_id)
        if not isinstance(coded, (Coded, AlreadyCoded)):
            return self._end_page(attempt_id, self.case_view(attempt_id), form, coded.messages)
        if form.get("then") == "next":  # "save and take the next case": one request fewer
            return self._take_next(coded=case_id)
        self.tell("coded" if isinstance(coded, Coded) else "already_coded", case=case_id)
        return redirect(url_for(".home"), 303)


def _calls_of(view: CaseView, attempt_id: int) -> list[CallView]:
    return [call for a in view.attempts if a.attempt_id == attempt_id for call in a.calls]


def _through_provider(view: CaseView, attempt_id: int) -> bool:
    """Whether the attempt placed a call through telephony: only such a call has a live status.

    A call dialled by hand has no status callbacks, so neither the case
    screen's status region nor the end page's suggestion has anything to read.
    """
    return any(call.provider != "manual" for call in _calls_of(view, attempt_id))


def appointment_from(form: Mapping[str, str], zone: str) -> AppointmentRequest | str | None:
    """The appointment the end-of-call form asks for (None: none), or the key of what is wrong.

    Hard: a date and a time on the interviewer's clock (``zone``), optionally
    for them only; soft: a day and a part of the day, the respondent's.
    """
    kind = form.get("appt_kind", "hard")
    if kind == "soft":
        day, part = form.get("soft_day", "").strip(), form.get("soft_part", "").strip()
        if not day and not part:
            return None
        try:
            return AppointmentRequest("soft", day=dt.date.fromisoformat(day), part=part or None)
        except ValueError:
            return "bad_day"
    day, time = form.get("appt_date", "").strip(), form.get("appt_time", "").strip()
    if not day and not time:
        return None
    try:
        at = dt.datetime.combine(dt.date.fromisoformat(day), dt.time.fromisoformat(time))
    except ValueError:
        return "bad_time"
    return AppointmentRequest("hard", at=at, zone=zone, only_me=form.get("only_me") == "1")


def _exempt_from_csrf(app: Any, view: Callable[..., Any]) -> None:
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(view)


def create_console_blueprint(context: ModeContext, telephony: Any) -> Blueprint:
    """The console's blueprint (mounted by the phone mode's blueprint under ``/console``).

    :param telephony: the Twilio settings, or None when calls are dialled by hand.
    """
    from instrument_phone.console.recording_views import RecordingViews
    from instrument_phone.console.script_views import ScriptViews

    queue = CallQueue(context.service.store, context.service, fieldwork_settings(context))
    console = Console(context, queue, telephony)
    script = ScriptViews(console)
    recording = RecordingViews(console)
    bp = Blueprint(
        "console", __name__, template_folder="templates", static_folder="static",
        static_url_path="/static",
    )  # fmt: skip
    bp.before_request(console.require_staff)
    # Signing in comes back to the console page asked for.
    bp.record_once(lambda state: add_staff_area(state.app, f"{state.url_prefix or ''}/"))
    # The script's answer form carries a signed form state naming the interview, with a nonce
    # used once: that is its CSRF token, as the web's answer form's is (docs/web.md, CSRF).
    bp.record_once(lambda state: _exempt_from_csrf(state.app, script.submit))
    rules: list[tuple[str, str, Callable[..., Any], list[str]]] = [
        ("/", "home", console.home, ["GET"]),
        ("/next", "next_case", console.next_case, ["POST"]),
        ("/phone", "my_phone", console.my_phone, ["POST"]),
        ("/zone", "time_zone", console.zones.submit, ["POST"]),
        ("/attempt/<int:attempt_id>/", "case", console.case, ["GET"]),
        ("/attempt/<int:attempt_id>/dial", "dial", console.dial, ["POST"]),
        ("/attempt/<int:attempt_id>/hangup", "hang_up", console.hang_up, ["POST"]),
        ("/attempt/<int:attempt_id>/end", "end", console.end, ["GET", "POST"]),
        ("/attempt/<int:attempt_id>/script", "script", script.page, ["GET"]),
        ("/attempt/<int:attempt_id>/script", "answer", script.submit, ["POST"]),
        ("/attempt/<int:attempt_id>/earlier", "earlier", script.earlier, ["GET"]),
        ("/attempt/<int:attempt_id>/recording", "recording", recording.page, ["GET"]),
        ("/attempt/<int:attempt_id>/recording", "record_consent", recording.submit, ["POST"]),
    ]
    for rule, endpoint, view, methods in rules:
        bp.add_url_rule(rule, endpoint, view, methods=methods)
    LiveViews(console).register(bp)  # the case screen's live call status (live_views.py)
    return bp
