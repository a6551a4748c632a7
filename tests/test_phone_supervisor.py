"""The telephone supervisor's pages through Flask's test client (plain forms, no JavaScript).

Only a signed-in supervisor gets in (interviewers and researchers 403); every
figure on the pages equals the call-queue service's own (overview, AAPOR rates
with the e used, interviewer statistics); a change to a case needs a reason
(an error at the reason field otherwise, nothing changed), a CSRF token, is
audited and shown in the log (paged, newest first), answers with a redirect,
and acts once when its form is sent twice, to one server process or to two at
the same moment; the call records download holds no name, number or note;
times follow the zone the supervisor chose. On SQLite and PostgreSQL. Staff
passwords are hashed at a cheap but real cost (tests/staff_passwords.py).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from callqueue_helpers import add_case, run_all
from phone_supervisor_helpers import (
    NAME,
    NOTE,
    NUMBERS,
    PASSWORD,
    add_staff,
    make_history,
)
from staff_passwords import CHEAP_PASSWORDS
from test_web_support import FakeClock, Page, close_app, make_app

from instrument.callqueue import CALL_RECORD_COLUMNS, CallQueue
from instrument.fieldwork.rates import RATE_NAMES, estimate_e
from instrument.server.app import get_host
from instrument_phone.supervisor.display import length, percent, when
from instrument_phone.supervisor.reading import AUDIT_PAGE, day_bounds
from tests.store_fixtures import database_url, postgres_database  # noqa: F401 (fixtures)

BASE = "/cati/supervisor"
COOKIE = "instrument_session"
DOMAIN = "survey.test"  # make_app's SERVER_NAME
T0 = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)  # Friday, 10:00 in London
PAGES = ("/", "/interviewers", "/rates", "/case/c1", "/calls.csv")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def app(database_url: str, clock: FakeClock) -> Iterator[Any]:
    """The app on SQLite and on PostgreSQL (the pages read the store's bulk reports and audit)."""
    app = make_app(database_url, clock, **CHEAP_PASSWORDS)
    add_staff(app)
    yield app
    close_app(app)


@pytest.fixture
def queue(app: Any, clock: FakeClock) -> CallQueue:
    made = make_history(app, T0)
    clock.now = T0 + dt.timedelta(minutes=40)
    return made


class Staff:
    """A browser signed in to the staff area, as far as forms and cookies go."""

    def __init__(self, app: Any, username: str) -> None:
        self.client = app.test_client()
        page = self.get("/staff/login")
        response = self.client.post(
            "/staff/login",
            data={"username": username, "password": PASSWORD, "csrf_token": page.csrf},
        )
        assert response.status_code == 303, response.status_code

    def get(self, path: str) -> Page:
        response = self.client.get(path, follow_redirects=True)
        return Page(response.status_code, response.get_data(as_text=True))

    def form(self, page: Page, action: str) -> dict[str, str]:
        """What a browser sends from the form posting to ``action``: its hidden and filled fields."""
        form = page.tree.xpath(f"//form[contains(@action, '{action}')]")[0]
        return {
            i.get("name"): i.get("value") or ""
            for i in form.xpath(".//input[@name] | .//textarea[@name]")
        }

    def post(self, path: str, data: dict[str, str], *, follow: bool = False) -> Any:
        return self.client.post(path, data=data, follow_redirects=follow)


def figure(page: Page, name: str) -> str:
    return page.text(f"//*[@data-figure='{name}']")


def audit_reasons(app: Any, case_id: str) -> list[tuple[str, str, str | None]]:
    return [(e.action, e.actor, e.reason) for e in get_host(app).store.audit_of(case_id)]


# -- who may see the pages -----------------------------------------------------------


def test_only_supervisors_get_in(app: Any, queue: CallQueue) -> None:
    anonymous = app.test_client()
    for path in PAGES:
        response = anonymous.get(BASE + path)
        assert response.status_code == 303 and "/staff/login" in response.headers["Location"]
    for who in ("ivy", "rita"):  # an interviewer, a researcher
        browser = Staff(app, who)
        for path in PAGES:
            assert browser.get(BASE + path).status == 403, (who, path)
        token = browser.get("/staff/login").csrf
        posted = browser.post(
            BASE + "/case/c4/release", {"csrf_token": token, "release-reason": "x"}
        )
        assert posted.status_code == 403
    assert get_host(app).store.queue_row("c4")["held_by"] == "olga"
    sam = Staff(app, "sam")
    for path in PAGES:
        assert sam.get(BASE + path).status == 200, path
    asked = anonymous.get(BASE + "/rates?e=0.5")  # signing in comes back to the page asked for
    login = Page(200, anonymous.get(asked.headers["Location"]).get_data(as_text=True))
    back = anonymous.post(
        asked.headers["Location"],
        data={"username": "sam", "password": PASSWORD, "csrf_token": login.csrf},
    )
    assert back.status_code == 303 and back.headers["Location"] == BASE + "/rates?e=0.5"


# -- the figures are the service's ---------------------------------------------------------


def test_the_sample_overview_shows_the_services_figures(app: Any, queue: CallQueue) -> None:
    page = Staff(app, "sam").get(BASE + "/")
    overview = queue.sample_overview(T0 + dt.timedelta(minutes=40))
    for name in ("cases", "callable_now", "appointments_today", "held", "final"):
        assert figure(page, name) == str(getattr(overview, name)), name
    shown = {
        row.get("data-outcome"): int(row.xpath("./td")[0].text_content())
        for row in page.tree.xpath("//table[@id='by-outcome']//tr[@data-outcome]")
    }
    assert shown == dict(overview.by_disposition) and sum(shown.values()) == 5
    attempts = {
        int(row.get("data-attempts")): int(row.xpath("./td")[0].text_content())
        for row in page.tree.xpath("//table[@id='attempts']//tr[@data-attempts]")
    }
    assert attempts == dict(overview.attempts_per_case)
    listed = page.tree.xpath("//table[@id='case-list']//tr/@data-case")
    assert sorted(listed) == sorted(NUMBERS)
    refused = Staff(app, "sam").get(f"{BASE}/?outcome=refusal_hard")  # a count's link
    assert refused.tree.xpath("//table[@id='case-list']//tr/@data-case") == ["c2"]
    assert NAME not in page.html and not any(number in page.html for number in NUMBERS.values())
    found = Staff(app, "sam").client.get(BASE + "/?case=c2")
    assert found.status_code == 303 and found.headers["Location"].endswith("/case/c2")
    unknown = Staff(app, "sam").get(BASE + "/?case=c99")
    assert unknown.status == 404
    assert "no case c99" in unknown.text("//*[@id='f-case-error']")


def test_the_case_list_shows_and_filters_the_automated_diallers_cases(
    app: Any, queue: CallQueue
) -> None:
    """Who may take each case (``case_queue.taken_by``) as the service lists it: c5 handed to
    the automated dialler, c6 queued for it; the filter keeps one kind, with a count's outcome."""
    store = get_host(app).store
    assert store.hand_to_dialler("c5", calls=None, spacing=None, dialler="auto", now=T0).handed
    add_case(store, "c6", numbers=("+442071234560",), now=T0, taken_by="automated")
    sam = Staff(app, "sam")

    def listed(page: Page) -> dict[str, str]:
        return {
            row.get("data-case"): row.xpath("./td[@data-taken-by]/@data-taken-by")[0]
            for row in page.tree.xpath("//table[@id='case-list']//tr[@data-case]")
        }

    def filtered(page: Page, **chosen: str) -> Page:
        """The case list's filter sent as a browser sends it: its fields, with ``chosen``."""
        form = page.tree.xpath("//form[@class='case-filter']")[0]
        sent = {i.get("name"): i.get("value") or "" for i in form.xpath(".//input[@name]")}
        for select in form.xpath(".//select[@name]"):
            picked = select.xpath("./option[@selected]/@value")
            sent[select.get("name")] = picked[0] if picked else ""
        return sam.get(form.get("action").split("#")[0] + "?" + urlencode(sent | chosen))

    page = sam.get(BASE + "/")
    takers = {c.case_id: c.taken_by for c in queue.case_list().cases}
    assert listed(page) == takers
    assert takers == {"c1": "interviewer", "c2": "interviewer", "c3": "interviewer",
                      "c4": "interviewer", "c5": "automated", "c6": "automated"}  # fmt: skip
    assert "automated dialler" in page.text("//tr[@data-case='c6']")
    chosen = filtered(page, taken_by="automated")
    assert chosen.status == 200 and listed(chosen) == {"c5": "automated", "c6": "automated"}
    assert "automated dialler" in chosen.text("//h2[@id='cases']")
    outcome = queue.case_list(case_ids=["c6"]).cases[0].disposition
    link = chosen.tree.xpath(f"//tr[@data-outcome='{outcome}']//a/@href")[0]
    assert "taken_by=automated" in link  # a count's link keeps the filter
    both = sam.get(link)
    expected = queue.case_list(outcome=outcome, taken_by="automated").cases
    assert sorted(listed(both)) == [c.case_id for c in expected] and "c6" in listed(both)
    assert both.tree.xpath("//form[@class='case-filter']//input[@name='outcome']/@value") == [
        outcome
    ]  # the filter's form keeps the count's outcome
    others = filtered(both, taken_by="interviewer")
    assert sorted(listed(others)) == [
        c.case_id for c in queue.case_list(outcome=outcome, taken_by="interviewer").cases
    ]
    bad = sam.get(BASE + "/?taken_by=robot")
    assert bad.status == 400 and listed(bad) == takers  # an unknown taker filters nothing
    assert "Not a valid choice" in bad.text("//*[@id='taken_by-error']")
    assert bad.tree.xpath("//div[@class='error-summary']//a/@href") == ["#taken_by"]
    case = sam.get(BASE + "/case/c5")
    assert case.tree.xpath("//*[@data-figure='taken_by']/@data-taken-by") == ["automated"]
    assert "automated dialler" in figure(case, "taken_by")
    assert sam.get(BASE + "/case/c1").tree.xpath("//*[@data-figure='taken_by']/@data-taken-by") == [
        "interviewer"
    ]


def test_rates_equal_the_services_with_the_e_used(app: Any, queue: CallQueue) -> None:
    sam = Staff(app, "sam")
    page = sam.get(BASE + "/rates")
    counts = queue.disposition_counts()
    expected = queue.rates()
    assert {name: page.text(f"//tr[@data-rate='{name}']/td[1]") for name in RATE_NAMES} == {
        name: percent(expected[name]) for name in RATE_NAMES
    }
    assert page.text("//*[@data-count='I']") == str(counts.I) == "1"
    e = estimate_e(counts)
    assert e is not None and f"{e:.4f}" in figure(page, "e") and "estimated" in figure(page, "e")
    given = sam.get(BASE + "/rates?e=0.25")
    half = queue.rates(0.25)
    assert given.text("//tr[@data-rate='RR3']/td[1]") == percent(half["RR3"])
    assert "0.2500" in figure(given, "e") and "given above" in figure(given, "e")
    wrong = sam.get(BASE + "/rates?e=2")
    assert wrong.status == 400
    assert "from 0 to 1" in wrong.text("//*[@id='e-error']")
    assert wrong.tree.xpath("//div[@class='error-summary']//a/@href") == ["#e"]


def test_interviewer_figures_equal_the_services(app: Any, queue: CallQueue) -> None:
    page = Staff(app, "sam").get(BASE + "/interviewers")
    since, until = day_bounds(dt.date(2026, 5, 1), dt.date(2026, 5, 1), dt.UTC)
    stats = {s.interviewer: s for s in queue.interviewer_stats(since, until)}
    assert set(stats) == {"ivy", "olga"}
    ivy = stats["ivy"]
    assert ivy.completes == 1 and ivy.mean_interview_length == dt.timedelta(minutes=20)
    for who, s in stats.items():
        row = f"//tr[@data-interviewer='{who}']"
        assert page.text(row + "/td[@data-figure='calls']") == str(s.calls)
        assert page.text(row + "/td[@data-figure='completes']") == str(s.completes)
        per_hour = "—" if s.completes_per_hour is None else f"{s.completes_per_hour:.2f}"
        assert page.text(row + "/td[@data-figure='completes_per_hour']") == per_hour
        assert page.text(row + "/td[@data-figure='mean_length']") == length(s.mean_interview_length)
    assert (
        page.text("//tr[@data-interviewer='ivy']/td[@data-figure='mean_length']") == "20 min 00 s"
    )
    other_day = Staff(app, "sam").get(BASE + "/interviewers?first=2026-05-02&last=2026-05-03")
    assert other_day.tree.xpath("//tr[@data-interviewer]") == []
    backwards = Staff(app, "sam").get(BASE + "/interviewers?first=2026-05-03&last=2026-05-02")
    assert backwards.status == 400 and "first day or later" in backwards.text(
        "//*[@id='last-error']"
    )


# -- changes to a case -------------------------------------------------------------------


def test_a_changed_outcome_needs_a_reason_is_audited_and_acts_once(
    app: Any, queue: CallQueue
) -> None:
    sam = Staff(app, "sam")
    page = sam.get(BASE + "/case/c3")
    before = audit_reasons(app, "c3")
    form = sam.form(page, "/outcome") | {"outcome-outcome": "not_eligible", "outcome-reason": "  "}
    missing = sam.post(BASE + "/case/c3/outcome", form)
    assert missing.status_code == 422
    shown = Page(422, missing.get_data(as_text=True))
    assert "Give a reason" in shown.text("//*[@id='outcome-reason-error']")
    assert shown.tree.xpath("//textarea[@id='outcome-reason']/@aria-describedby") == [
        "outcome-reason-hint outcome-reason-error"
    ]
    assert shown.title.startswith("Error:")
    assert audit_reasons(app, "c3") == before  # nothing changed

    form["outcome-reason"] = "the number is a business"
    done = sam.post(BASE + "/case/c3/outcome", form)
    assert done.status_code == 303 and done.headers["Location"].endswith("/cati/supervisor/case/c3")
    after = sam.get(BASE + "/case/c3")
    label = queue.settings_for("mini").dispositions["not_eligible"].label
    assert f"is now {label}" in after.text("//div[@class='notice']")
    assert "the number is a business" in after.text("//table[@id='audit-log']")
    assert after.text("//*[@data-figure='outcome']").startswith(label)
    assert audit_reasons(app, "c3")[-1] == ("change_disposition", "sam", "the number is a business")
    assert (
        queue.sample_overview(T0 + dt.timedelta(minutes=41)).by_disposition.get("not_eligible") == 1
    )

    again = sam.post(BASE + "/case/c3/outcome", form)  # the same form sent a second time
    assert again.status_code == 303
    assert len(audit_reasons(app, "c3")) == len(before) + 1
    assert "Nothing was changed" in sam.get(BASE + "/case/c3").text("//div[@class='notice']")


def test_the_audit_log_is_shown_a_page_at_a_time_newest_first(app: Any, queue: CallQueue) -> None:
    for n in range(AUDIT_PAGE + 2):
        queue.change_outcome(
            "c5", "busy", reason=f"check {n}", actor="sam", now=T0 + dt.timedelta(seconds=n)
        )
    sam = Staff(app, "sam")
    newest = sam.get(BASE + "/case/c5")
    reasons = newest.tree.xpath("//table[@id='audit-log']//td[@data-figure='reason']")
    assert [r.text_content() for r in reasons] == [
        f"check {n}" for n in range(AUDIT_PAGE + 1, 1, -1)
    ]
    (older,) = newest.tree.xpath("//a[@id='audit-older']/@href")
    assert "audit_before=" in older
    rest = sam.get(older)
    reasons = rest.tree.xpath("//table[@id='audit-log']//td[@data-figure='reason']")
    assert [r.text_content() for r in reasons] == ["check 1", "check 0"]
    assert rest.tree.xpath("//a[@id='audit-older']") == []
    assert "Newest entries" in rest.text("//p[@class='pager']")
    assert sam.get(BASE + "/case/c5?audit_before=x").status == 200  # a broken link: the newest


def _same_browser(app: Any, browser: Staff) -> Staff:
    """The browser ``browser`` (its cookie) talking to another server process serving ``app``."""
    twin = Staff.__new__(Staff)
    twin.client = app.test_client()
    cookie = browser.client.get_cookie(COOKIE, domain=DOMAIN)
    assert cookie is not None
    twin.client.set_cookie(COOKIE, cookie.value, domain=DOMAIN)
    return twin


def test_a_form_sent_to_two_server_processes_acts_once(
    app: Any, queue: CallQueue, database_url: str, clock: FakeClock
) -> None:
    """Two apps on one database stand for two server processes (their own connection pools,
    nothing shared in memory). The same form reaching both, one after the other (a resent
    form, a second tab) or at the same moment (a double click behind a load balancer),
    changes the case once; the other copy is told nothing was changed."""
    other = make_app(database_url, clock, **CHEAP_PASSWORDS)
    try:
        here = Staff(app, "sam")
        there = _same_browser(other, here)
        for name, action, fields in (
            ("release", "release", {"release-reason": "shift over"}),
            ("reassign", "reassign", {"reassign-interviewer": "ivy", "reassign-reason": "Welsh"}),
            ("outcome", "change_disposition", {"outcome-outcome": "busy", "outcome-reason": "x"}),
        ):
            form = here.form(here.get(BASE + "/case/c4"), f"/{name}") | fields
            before = len(audit_reasons(app, "c4"))
            assert here.post(f"{BASE}/case/c4/{name}", form).status_code == 303
            assert there.post(f"{BASE}/case/c4/{name}", form).status_code == 303  # again
            reason = next(value for key, value in fields.items() if key.endswith("reason"))
            assert audit_reasons(app, "c4")[before:] == [(action, "sam", reason)], name
            notice = there.get(BASE + "/case/c4").text("//div[@class='notice']")
            assert "Nothing was changed" in notice, name

        for case_id in ("c2", "c3", "c5"):  # now both copies at the same moment
            form = here.form(here.get(f"{BASE}/case/{case_id}"), "/outcome") | {
                "outcome-outcome": "not_eligible",
                "outcome-reason": f"sent twice at once ({case_id})",
            }
            codes = _post_together([here, there], f"{BASE}/case/{case_id}/outcome", form)
            assert codes == [303, 303]
            changed = [a for a in audit_reasons(app, case_id) if a[0] == "change_disposition"]
            assert changed == [("change_disposition", "sam", f"sent twice at once ({case_id})")]
    finally:
        close_app(other)


def _post_together(browsers: list[Staff], path: str, form: dict[str, str]) -> list[int]:
    """Each browser posts ``form`` to ``path`` at the same moment; their status codes."""
    codes: list[int] = []
    errors = run_all([lambda b=b: codes.append(b.post(path, form).status_code) for b in browsers])
    assert not errors, errors
    return codes


def test_changes_need_the_csrf_token_and_the_cases_version(app: Any, queue: CallQueue) -> None:
    sam = Staff(app, "sam")
    form = sam.form(sam.get(BASE + "/case/c3"), "/outcome")
    form |= {"outcome-outcome": "not_eligible", "outcome-reason": "wrong number"}
    token = form.pop("outcome-csrf_token")
    assert sam.post(BASE + "/case/c3/outcome", form).status_code == 400
    form["outcome-csrf_token"] = "forged"
    assert sam.post(BASE + "/case/c3/outcome", form).status_code == 400
    form["outcome-csrf_token"] = token
    for version in ("", None):  # a form that does not say which version it was made for
        sent = {k: v for k, v in form.items() if k != "outcome-state"}
        if version is not None:
            sent["outcome-state"] = version
        assert sam.post(BASE + "/case/c3/outcome", sent).status_code == 303
        assert "Nothing was changed" in sam.get(BASE + "/case/c3").text("//div[@class='notice']")
    assert not any(action == "change_disposition" for action, _, _ in audit_reasons(app, "c3"))


def test_release_and_reassign(app: Any, queue: CallQueue) -> None:
    sam = Staff(app, "sam")
    page = sam.get(BASE + "/case/c4")
    assert figure(page, "held_by") == "olga"
    release = sam.form(page, "/release")
    assert sam.post(BASE + "/case/c4/release", release).status_code == 422  # no reason
    release["release-reason"] = "olga's shift ended"
    assert sam.post(BASE + "/case/c4/release", release).status_code == 303
    page = sam.get(BASE + "/case/c4")
    assert figure(page, "held_by") == "nobody" and "released" in page.text("//div[@class='notice']")
    assert sam.post(BASE + "/case/c4/release", release).status_code == 303  # sent twice
    released = [a for a in audit_reasons(app, "c4") if a[0] == "release"]
    assert released == [("release", "sam", "olga's shift ended")]
    page = sam.get(BASE + "/case/c4")
    assert "Nothing was changed" in page.text("//div[@class='notice']")

    give = sam.form(page, "/reassign") | {"reassign-interviewer": "rita", "reassign-reason": "x"}
    refused = Page(422, sam.post(BASE + "/case/c4/reassign", give).get_data(as_text=True))
    assert "rita is not the username of an interviewer" in refused.text(
        "//*[@id='reassign-interviewer-error']"
    )
    assert refused.tree.xpath("//form[@class='zone-form']//input[@name='next']/@value") == [
        BASE + "/case/c4"
    ]  # the zone picker of a page answering a POST comes back to the case, not to the POST
    give["reassign-interviewer"] = "ivy"
    give["reassign-reason"] = "ivy speaks to this family"
    assert sam.post(BASE + "/case/c4/reassign", give).status_code == 303
    page = sam.get(BASE + "/case/c4")
    assert figure(page, "reserved_for") == "ivy"
    assert "is kept for ivy" in page.text("//div[@class='notice']")
    assert "ivy speaks to this family" in page.text("//table[@id='audit-log']")
    assert sam.get(BASE + "/case/nope").status == 404


def test_call_records_download_has_no_personal_data(app: Any, queue: CallQueue) -> None:
    response = Staff(app, "sam").client.get(BASE + "/calls.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert re.fullmatch(
        r'attachment; filename="call-records-\d{8}T\d{6}Z\.csv"',
        response.headers["Content-Disposition"],
    )
    text = response.get_data(as_text=True)
    expected = io.StringIO()
    queue.write_call_records(expected)
    assert text == expected.getvalue()
    rows = list(csv.reader(io.StringIO(text)))
    assert (
        tuple(rows[0]) == CALL_RECORD_COLUMNS and len(rows) == 1 + 4
    )  # four attempts (c1's placed no call)
    assert NAME not in text and NOTE not in text
    digits = [number.lstrip("+") for number in NUMBERS.values()]
    assert not any(d in text or d[2:] in text for d in digits)


def test_times_are_shown_in_the_supervisors_zone(app: Any, queue: CallQueue) -> None:
    sam = Staff(app, "sam")
    page = sam.get(BASE + "/case/c2")
    assert when(T0.astimezone(ZoneInfo("Europe/London"))) == "Fri 1 May 2026 10:00 BST"
    assert "Fri 1 May 2026 10:21 BST" in page.text("//table[@id='attempt-list']")  # c2's attempt
    zone = sam.form(page, "/zone") | {"zone": "Asia/Tokyo"}
    moved = sam.post(BASE + "/zone", zone)
    assert moved.status_code == 303 and moved.headers["Location"].endswith("/case/c2")
    tokyo = sam.get(BASE + "/case/c2")
    assert "Fri 1 May 2026 18:21 JST" in tokyo.text("//table[@id='attempt-list']")
    assert "BST" not in tokyo.text("//table[@id='attempt-list']")
    assert "Asia/Tokyo" in tokyo.text("//div[@class='notice']")
    bad = sam.post(BASE + "/zone", sam.form(tokyo, "/zone") | {"zone": "Mars/Olympus"})
    assert bad.status_code == 303
    assert "JST" in sam.get(BASE + "/case/c2").text("//table[@id='attempt-list']")
    away = sam.post(BASE + "/zone", sam.form(tokyo, "/zone") | {"next": "//evil.example/"})
    assert away.headers["Location"].endswith("/cati/supervisor/")
