"""The web mode through Flask's test client: pages, errors, navigation, links, security.

Runs on SQLite; the parts whose correctness depends on the store (saving,
replays, stale tabs, restarts) are in test_web_integrity.py and run on
PostgreSQL as well.
"""

from __future__ import annotations

import datetime as dt
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from test_web_support import *

from instrument.ratelimit import RateLimiter
from instrument.server.app import get_host
from instrument.values import DK
from instrument_web.devices import device_class


def to_kids_page(r: Respondent, n: str = "2") -> Any:
    r.start()
    r.answer({"parent": "1"})
    return r.answer({"n_kids": n})


# -- pages -------------------------------------------------------------------------


def test_open_link_shows_a_start_page_and_start_creates_one_interview(web_app: Any) -> None:
    r = Respondent(web_app)
    page = r.get()
    assert page.status == 200
    assert "Start now" in page.text()
    assert get_host(web_app).store.count_by_status("mini")["active"] == 0
    page = r.start()
    assert page.keys == ["parent"]
    assert get_host(web_app).store.count_by_status("mini")["active"] == 1
    # starting again from the same browser resumes rather than starting a second interview
    again = r.client.post("/web/mini/start", data={"csrf_token": page.csrf})
    assert again.status_code == 303
    assert get_host(web_app).store.count_by_status("mini")["active"] == 1


def test_question_is_a_fieldset_with_legend_heading_and_labelled_radios(web_app: Any) -> None:
    page = Respondent(web_app).start()
    fieldset = page.tree.xpath("//fieldset")[0]
    assert fieldset.xpath("./legend/h1")[0].text_content().strip() == "Are you a parent?"
    for radio in page.tree.xpath("//input[@type='radio']"):
        assert page.tree.xpath(f"//label[@for='{radio.get('id')}']"), radio.get("id")
    assert page.title == "Are you a parent? – A small questionnaire with every construct"
    assert "About 0% complete" in page.text("//body")
    assert page.tree.xpath("//progress[@max='100']")


def test_hard_error_has_summary_message_by_field_and_error_title(web_app: Any) -> None:
    r = Respondent(web_app)
    r.start()
    page = r.post({})
    assert page.title.startswith("Error: Are you a parent?")
    assert page.summary == [("#f-parent", "Select an answer")]
    message = page.tree.xpath("//p[@class='error-message']")[0]
    assert message.get("id") == "err-parent"
    assert "Select an answer" in message.text_content()
    fieldset = page.tree.xpath("//fieldset")[0]
    assert "err-parent" in fieldset.get("aria-describedby")
    assert page.tree.xpath("//*[@id='f-parent']")  # the summary link has a target


def test_entered_value_is_kept_when_it_is_wrong(web_app: Any) -> None:
    r = Respondent(web_app)
    r.start()
    r.answer({"parent": "1"})
    page = r.post({"n_kids": "twelve"})
    assert page.summary == [("#f-n_kids", "Enter a whole number, like 12")]
    assert page.value("n_kids") == "twelve"
    page = r.post({"n_kids": "11"})
    assert page.summary == [("#f-n_kids", "Enter a number between 1 and 10")]
    assert page.value("n_kids") == "11"


def test_soft_warning_can_be_confirmed(web_app: Any) -> None:
    r = Respondent(web_app)
    r.start()
    r.answer({"parent": "1"})
    page = r.post({"n_kids": "7"})
    assert page.warnings == ["7 children: is that right? Change my answer"]
    assert page.tree.xpath("//button[@value='confirm']")[0].text_content() == "Continue anyway"
    assert page.tree.xpath("//div[contains(@class,'warning-panel')]//a[@href='#f-n_kids']")
    assert page.value("n_kids") == "7"
    page = r.post({"n_kids": "7"}, action="confirm")
    assert page.keys == ["kid_age_1"]
    record = interview_of(web_app, r)
    confirmed = events_of(web_app, record.id, "warning_confirmed")
    assert [e.variable for e in confirmed] == ["n_kids"]


def test_changing_a_warned_answer_is_checked_again(web_app: Any) -> None:
    r = Respondent(web_app)
    r.start()
    r.answer({"parent": "1"})
    r.post({"n_kids": "7"})
    # a different answer submitted with "continue anyway" is checked afresh, not waved through
    page = r.post({"n_kids": "8"}, action="confirm")
    assert page.warnings == ["8 children: is that right? Change my answer"]
    page = r.post({"n_kids": "3"}, action="confirm")
    assert page.keys == ["kid_age_1"]


def test_dont_know_is_offered_after_a_skip_and_accepted(web_app: Any) -> None:
    r = Respondent(web_app)
    page = to_kids_page(r)
    assert "kid_age_1-missing" not in page.names()
    page = r.post({})
    assert page.summary[0][0] == "#f-kid_age_1"
    assert "kid_age_1-missing" in page.names()
    labels = [
        el.text_content()
        for el in page.tree.xpath("//label[starts-with(@for,'f-kid_age_1-missing')]")
    ]
    assert labels == ["Don't know", "Prefer not to say"]
    page = r.post({"kid_age_1": "4", "kid_age_1-missing": "dk"})
    assert page.summary == [
        ("#f-kid_age_1", "Either give an answer or choose 'Don't know', not both")
    ]
    page = r.answer({"kid_age_1-missing": "dk"})
    assert page.keys == ["kid_age_2"]
    loaded = get_host(web_app).service.load(interview_of(web_app, r).id)
    assert loaded.state.answers["kid_age_1"] is DK
    # going back shows the don't know box ticked
    page = r.back()
    assert page.checked("kid_age_1-missing") == ["dk"]


def test_exclusive_option_other_specify_and_two_questions_on_a_page(web_app: Any) -> None:
    r = Respondent(web_app)
    to_kids_page(r, "1")
    page = r.answer({"kid_age_1": "9"})
    assert page.keys == ["heard", "comment"]
    assert page.tree.xpath("//h1")[0].text_content().strip() == "Your views"
    assert [el.tag for el in page.tree.xpath("//legend/*")] == ["h2", "h2"]
    page = r.post({"heard": ["1", "97"]})
    assert page.summary == [
        ("#f-heard", "You cannot select 'None of these' together with other answers")
    ]
    assert sorted(page.checked("heard")) == ["1", "97"]
    page = r.post({"heard": ["96"], "comment": "ok"})
    assert page.summary == [("#f-heard_other", "Tell us what 'Somewhere else' is")]
    # the other-specify box sits with its option and has its own label
    assert page.tree.xpath("//label[@for='f-heard_other']")
    assert page.value("comment") == "ok"
    page = r.answer({"heard": ["96"], "heard_other": "a poster", "comment": "ok"})
    assert page.keys == ["trust_source_96"]
    assert page.text("//legend") == "Do you trust Somewhere else?"


def test_date_is_three_labelled_fields_and_keeps_what_was_typed(web_app: Any) -> None:
    r = Respondent(web_app)
    to_kids_page(r, "1")
    r.answer({"kid_age_1": "9"})
    r.answer({"heard": ["97"], "comment": "x"})
    for _ in range(2):  # b1, b2 in random order
        key = r.page.keys[0]
        r.answer({key: "1"})
    r.answer({"g_a": "1", "g_b": "2"})
    page = r.page
    assert page.keys == ["born"]
    for part, label in (("day", "Day"), ("month", "Month"), ("year", "Year")):
        assert page.tree.xpath(f"//label[@for='f-born-{part}']")[0].text_content() == label
    page = r.post({"born-day": "31", "born-month": "2", "born-year": "1980"})
    assert page.summary == [("#f-born-day", "Enter a real date, like 27 3 2019")]
    assert (page.value("born-day"), page.value("born-month"), page.value("born-year")) == (
        "31",
        "2",
        "1980",
    )
    page = r.answer({"born-day": "28", "born-month": "2", "born-year": "1980"})
    assert page.keys == ["height"]
    assert page.text("//span[@class='input-suffix']") == "metres"


def test_grid_rows_are_labelled_radio_groups_with_errors_per_row(web_app: Any) -> None:
    r = Respondent(web_app)
    to_kids_page(r, "1")
    r.answer({"kid_age_1": "3"})  # youngest under 5: the grid shows row C too
    r.answer({"heard": ["97"], "comment": "x"})
    for _ in range(2):
        r.answer({r.page.keys[0]: "2"})
    page = r.page
    rows = page.tree.xpath("//div[contains(@class,'grid__row')]")
    assert len(rows) == 3
    for row in rows:
        assert row.get("role") == "radiogroup"
        heading = page.tree.xpath(f"//*[@id='{row.get('aria-labelledby')}']")[0]
        assert heading.text_content().startswith("Row")
        for radio in row.xpath(".//input"):
            assert page.tree.xpath(f"//label[@for='{radio.get('id')}']")
    page = r.post({"g_a": "1"})  # after_skip: the first skip is a prompt for the rows left
    assert len(page.summary) == 1 and page.summary[0][0].startswith("#f-g_")
    assert page.checked("g_a") == ["1"]


def test_grid_offers_dont_know_columns_after_a_skip(web_app: Any) -> None:
    r = Respondent(web_app)
    to_kids_page(r, "1")
    r.answer({"kid_age_1": "3"})
    r.answer({"heard": ["97"], "comment": "x"})
    for _ in range(2):
        r.answer({r.page.keys[0]: "2"})
    page = r.post({"g_a": "1"})
    assert page.tree.xpath("//input[@id='f-g_b-dk']") and page.tree.xpath(
        "//input[@id='f-g_c-refused']"
    )
    page = r.answer({"g_a": "1", "g_b": "dk", "g_c": "2"})
    assert page.keys == ["born"]


def test_back_keeps_answers_and_a_changed_answer_reroutes(web_app: Any) -> None:
    r = Respondent(web_app)
    r.start()
    page = r.answer({"parent": "1"})
    assert page.keys == ["n_kids"]
    page = r.back()
    assert page.keys == ["parent"]
    assert page.checked("parent") == ["1"]
    assert not page.tree.xpath("//form[contains(@class,'back-form')]")  # first page: no back
    page = r.answer({"parent": "2"})
    assert "Thank you" in page.text()
    record = interview_of(web_app, r)
    assert record.status == "screened_out"
    assert [e.kind for e in events_of(web_app, record.id) if e.kind in ("back", "answer")] == [
        "answer",
        "back",
        "answer",
    ]


def test_finished_interview_says_thank_you_and_shows_no_answers(web_app: Any) -> None:
    r = Respondent(web_app)
    r.start()
    page = r.answer({"parent": "2"})
    assert page.title.startswith("Thank you")
    assert "Thank you." in page.text()  # the end item's own text, right after finishing
    again = r.get()
    assert "already completed" in again.text()
    assert not again.tree.xpath("//form[contains(@class,'question-form')]")
    # posting to a finished interview changes nothing
    response = r.client.post("/web/mini/", data={"csrf_token": again.csrf, "form_state": "x"})
    assert response.status_code in (303, 400)


def test_fills_are_escaped(sqlite_url: str, clock: FakeClock, tmp_path: Path) -> None:
    source = tmp_path / "fills.yaml"
    source.write_text(
        textwrap.dedent("""\
        meta: {id: fills, version: "1", title: Fills, languages: [en], modes: [web]}
        items:
          - {id: name, type: text, text: "What is your name?"}
          - {id: hello, type: info, text: "Hello {{ name }}, welcome."}
        """),
        encoding="utf-8",
    )
    app = make_app(sqlite_url, clock, source)
    try:
        r = Respondent(app, "fills")
        r.start()
        page = r.answer({"name": "<script>alert(1)</script>"})
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.html
        assert "<script>alert(1)" not in page.html
    finally:
        close_app(app)


def test_language_switcher_changes_the_interview_language(web_app: Any) -> None:
    r = Respondent(web_app)
    page = r.start()
    switch = page.tree.xpath("//form[contains(@class,'language-switcher')]//button")
    assert [b.get("value") for b in switch] == ["cy"]
    response = r.client.post("/web/mini/language", data={"csrf_token": page.csrf, "lang": "cy"})
    assert response.status_code == 303
    page = r.get()
    assert page.keys == ["parent"]
    assert page.text("//legend") == "Ydych chi'n rhiant?"
    assert page.tree.xpath("/html")[0].get("lang") == "cy"
    assert page.tree.xpath("//button[@value='continue']")[0].text_content() == "Parhau"
    record = interview_of(web_app, r)
    assert [e.value for e in events_of(web_app, record.id, "language")] == [
        {"from": "en", "to": "cy"}
    ]


def test_save_and_continue_later_gives_a_link_that_resumes_on_another_device(web_app: Any) -> None:
    first = Respondent(web_app)
    first.start()
    first.answer({"parent": "1"})
    page = first.post({"n_kids": "3"}, action="save_later")
    assert "Your answers have been saved" in page.text()
    link = page.tree.xpath("//a[@id='resume-link']")[0].get("href")
    assert re.search(r"/web/t/[A-Za-z0-9_-]{40,}$", link)
    # this browser is signed out (a shared computer must not show the answers)
    assert "Start now" in first.get().text()
    other = Respondent(web_app, user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148")
    page = other.get(link.replace("http://survey.test", ""))
    assert page.keys == ["kid_age_1"]  # the answer given with "save" was kept
    page = other.back()
    assert page.value("n_kids") == "3"


def test_personal_link_starts_once_and_resumes_on_any_device(web_app: Any) -> None:
    store = get_host(web_app).store
    token = store.issue_token("mini", case_id="case-17")
    phone = Respondent(web_app)
    page = phone.get(f"/web/t/{token}")
    assert page.keys == ["parent"]
    phone.answer({"parent": "1"})
    laptop = Respondent(web_app)
    page = laptop.get(f"/web/t/{token}")
    assert page.keys == ["n_kids"]
    interviews = store.interviews_for_case("case-17")
    assert len(interviews) == 1 and not interviews[0].is_test
    assert store.find_token(token).interview_id == interviews[0].id
    # a later "save and continue later" shows the same personal link again
    page = laptop.post({"n_kids": "2"}, action="save_later")
    assert page.tree.xpath("//a[@id='resume-link']")[0].get("href").endswith(token)


def test_test_link_creates_a_test_interview_not_counted(web_app: Any) -> None:
    store = get_host(web_app).store
    token = store.issue_token("mini", purpose="test")
    Respondent(web_app).get(f"/web/t/{token}")
    assert store.count_by_status("mini")["active"] == 0
    assert store.count_by_status("mini", include_test=True)["active"] == 1


def test_bad_and_expired_links(web_app: Any, clock: FakeClock) -> None:
    store = get_host(web_app).store
    r = Respondent(web_app)
    page = r.get("/web/t/not-a-real-token")
    assert page.status == 404
    assert "This link does not work" in page.text()
    token = store.issue_token("mini", expires_at=clock.now + dt.timedelta(days=1))
    clock.advance(2 * 86400)
    page = r.get(f"/web/t/{token}")
    assert page.status == 410
    assert "expired" in page.text()


def test_token_guessing_is_rate_limited(sqlite_url: str, clock: FakeClock) -> None:
    app = make_app(sqlite_url, clock, TOKEN_ATTEMPTS=3)
    try:
        store = get_host(app).store
        good = store.issue_token("mini")
        client = app.test_client()
        statuses = [client.get(f"/web/t/guess{i}").status_code for i in range(5)]
        assert statuses == [404, 404, 404, 429, 429]
        assert (
            client.get(f"/web/t/{good}").status_code == 429
        )  # even a good one, until the window passes
        other = app.test_client()
        assert (
            other.get(f"/web/t/{good}", environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 303
        )
    finally:
        close_app(app)


def test_rate_limiter_window() -> None:
    now = [0.0]
    limiter = RateLimiter(2, 60, clock=lambda: now[0])
    limiter.hit("a")
    limiter.hit("a")
    assert limiter.blocked("a") and not limiter.blocked("b")
    now[0] = 61
    assert not limiter.blocked("a")


def test_session_times_out_on_the_server(web_app: Any, clock: FakeClock) -> None:
    r = Respondent(web_app)
    r.start()
    page = r.answer({"parent": "1"})
    assert "sign you out if you do nothing for 30 minutes" in page.text()
    assert page.tree.xpath("//body")[0].get("data-timeout") == "1800"
    clock.advance(32 * 60)  # 30 minutes, plus the minute activity is stamped to
    page = r.get()
    assert "You were signed out" in page.text()
    assert "Start now" in page.text()
    with r.client.session_transaction() as session:
        assert "mini" not in (session.get("iv") or {})


def test_activity_is_stamped_to_the_minute_and_never_signs_out_early(
    web_app: Any, clock: FakeClock
) -> None:
    r = Respondent(web_app)
    r.start()
    cookie = r.client.get_cookie("instrument_session", domain="survey.test").value
    clock.advance(50)
    r.get()  # within the minute: the cookie is not re-signed
    assert r.client.get_cookie("instrument_session", domain="survey.test").value == cookie
    clock.advance(29 * 60 + 50)  # 29m50s after the last request, 30m40s after the stamp
    assert r.get().keys == ["parent"]
    clock.advance(30 * 60 + 61)
    assert "You were signed out" in r.get().text()


def test_activity_keeps_the_session(web_app: Any, clock: FakeClock) -> None:
    r = Respondent(web_app)
    r.start()
    for _ in range(3):
        clock.advance(20 * 60)
        assert r.client.get("/web/mini/keepalive").status_code == 204
    assert r.get().keys == ["parent"]


def test_paradata_shown_submitted_device_and_back(web_app: Any, clock: FakeClock) -> None:
    r = Respondent(web_app, user_agent="Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile Safari")
    r.start()
    clock.advance(12)
    r.answer({"parent": "1"})
    clock.advance(5)
    r.back()
    record = interview_of(web_app, r)
    paradata = [e.value for e in events_of(web_app, record.id, "paradata")]
    assert [p["event"] for p in paradata] == ["shown", "submitted", "shown", "submitted"]
    assert {p["device"] for p in paradata} == {"mobile"}
    shown, submitted = (e for e in events_of(web_app, record.id, "paradata")[:2])
    assert (submitted.at - shown.at).total_seconds() == 12
    assert [e.value["from"] for e in events_of(web_app, record.id, "back")] == ["n_kids"]


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148", "mobile"),
        ("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)", "tablet"),
        ("Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit Safari", "tablet"),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile Safari", "mobile"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120", "desktop"),
        (None, "desktop"),
    ],
)
def test_device_class(agent: str | None, expected: str) -> None:
    assert device_class(agent) == expected


def test_complete_interview_end_to_end(web_app: Any) -> None:
    r = Respondent(web_app)
    to_kids_page(r, "2")
    r.answer({"kid_age_1": "3"})
    r.answer({"kid_age_2": "12"})
    r.answer({"heard": ["1", "96"], "heard_other": "a poster", "comment": "fine"})
    r.answer({"trust_source_1": "1"})
    r.answer({"trust_source_96": "3"})
    for _ in range(2):
        r.answer({r.page.keys[0]: "2"})
    r.answer({"g_a": "1", "g_b": "2", "g_c": "3"})
    r.answer({"born-day": "1", "born-month": "5", "born-year": "1980"})
    r.answer({"height": "1.7"})
    page = r.answer({})  # the info screen
    assert page.title.startswith("Thank you")
    record = interview_of(web_app, r)
    assert record.status == "complete"
    loaded = get_host(web_app).service.load(record.id)
    values = loaded.engine.values(loaded.state)
    assert (
        values["kid_age_2"] == 12
        and values["heard"] == (1, 96)
        and values["heard_other"] == "a poster"
    )
    assert (
        values["born"] == dt.date(1980, 5, 1)
        and values["height"] == 1.7
        and values["youngest"] == 3
    )
    assert loaded.state.modes_used == ["web"]


# -- security ------------------------------------------------------------------------


def test_security_headers_and_no_inline_code(web_app: Any) -> None:
    r = Respondent(web_app)
    r.start()
    response = r.client.get("/web/mini/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert not re.search(r"\sstyle=", html) and "<style" not in html
    assert not re.search(r"\son[a-z]+=", html)


def test_cookies_are_httponly_lax_and_secure_when_configured(
    sqlite_url: str, clock: FakeClock
) -> None:
    app = make_app(sqlite_url, clock, SESSION_COOKIE_SECURE=True)
    try:
        response = app.test_client().get("/web/mini/")
        cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
        assert "Strict-Transport-Security" in response.headers
    finally:
        close_app(app)


def test_session_cookie_is_flasks_signed_cookie_with_plain_json(
    web_app: Any, sqlite_url: str, clock: FakeClock
) -> None:
    """Our session interface (instrument.server.sessions) changes the cost, not the cookie.

    A respondent's cookie written by Flask's own interface opens with ours
    (so an upgrade signs nobody out) and ours writes one Flask's opens; a
    cookie signed with another key opens as an empty session; a value plain
    JSON cannot hold is refused when written instead of coming back changed.
    """
    from flask.sessions import SecureCookieSessionInterface

    from instrument.server.sessions import PlainJSONSessionInterface

    assert isinstance(web_app.session_interface, PlainJSONSessionInterface)
    ours = web_app.session_interface.get_signing_serializer(web_app)
    assert web_app.session_interface.get_signing_serializer(web_app) is ours  # built once
    flasks = SecureCookieSessionInterface().get_signing_serializer(web_app)
    data = {
        "iv": {"mini": "3f1c"},
        "tok": {},
        "seen": 1777626000,
        "stale": True,
        "_permanent": True,
    }
    assert ours.loads(flasks.dumps(data)) == data
    assert flasks.loads(ours.dumps(data)) == data

    r = Respondent(web_app)
    r.start()
    cookie = r.client.get_cookie("instrument_session", domain="survey.test")
    assert cookie is not None
    assert flasks.loads(cookie.value)["iv"]["mini"] == interview_of(web_app, r).id

    other = make_app(sqlite_url, clock, SECRET_KEY="another-key")
    try:
        client = other.test_client()
        client.set_cookie("instrument_session", cookie.value, domain="survey.test")
        page = client.get("/web/mini/")
        assert page.status_code == 200 and 'action="/web/mini/start"' in page.get_data(as_text=True)
    finally:
        close_app(other)
    with pytest.raises(TypeError, match="only JSON values"):
        ours.dumps({"when": dt.date(2026, 5, 1)})


def test_a_remembered_session_cookie_opens_only_as_flask_would_open_it(
    web_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cookies verified once are remembered: the same data, fresh objects, the expiry still kept."""
    from werkzeug.test import EnvironBuilder

    from instrument.server import sessions

    interface = web_app.session_interface
    serializer = interface.get_signing_serializer(web_app)
    lifetime = int(web_app.permanent_session_lifetime.total_seconds())

    def opened(cookie: str) -> dict[str, Any]:
        builder = EnvironBuilder(path="/", headers={"Cookie": f"instrument_session={cookie}"})
        try:
            request = web_app.request_class(builder.get_environ())
        finally:
            builder.close()
        return interface.open_session(web_app, request)

    data = {"iv": {"mini": "3f1c"}, "tok": {"mini": "t0k"}, "seen": 1777626000}
    cookie = serializer.dumps(data)
    first, second = opened(cookie), opened(cookie)
    assert first == second == data
    assert second is not first and second["iv"] is not first["iv"]  # nobody shares a dict
    second["iv"]["mini"] = "changed"
    assert opened(cookie) == data
    assert any(known == cookie for _serializer, known in interface._verified)

    tampered = cookie[:-3] + ("AAA" if not cookie.endswith("AAA") else "BBB")
    assert opened(tampered) == {} and opened(tampered) == {}
    assert all(known != tampered for _serializer, known in interface._verified)

    # Past its lifetime a remembered cookie opens empty, as Flask's own interface would.
    later = sessions.time.time() + lifetime + 5
    monkeypatch.setattr(sessions.time, "time", lambda: later)
    assert opened(cookie) == {}


def test_csrf_is_required_on_every_form(web_app: Any) -> None:
    """Start and language need Flask-WTF's token; answers need the signed form state instead.

    The answer form carries no second token: its form state is signed, names
    the session's own interview and is the only way to have an answer
    accepted. Without one, or with one that is not this page's, nothing is
    written. (Another respondent's form state: see
    test_nobody_reaches_another_respondents_interview; a tampered one:
    test_form_state_cannot_be_tampered_with.)
    """
    r = Respondent(web_app)
    page = r.start()
    assert set(page.hidden("question-form")) == {"form_state"}
    assert set(
        page.hidden("back-form") if page.tree.xpath("//form[@class='back-form']") else {}
    ) <= {"form_state"}
    for forged in (
        {"parent": "1"},
        {"form_state": "", "parent": "1"},
        {"csrf_token": page.csrf, "parent": "1"},
    ):
        response = r.client.post("/web/mini/", data=forged)
        assert response.status_code == 400
        assert "Traceback" not in response.get_data(as_text=True)
    assert r.client.post("/web/mini/start").status_code == 400
    assert r.client.post("/web/mini/language", data={"lang": "cy"}).status_code == 400
    assert interview_of(web_app, r).revision == 0
    # The form state alone is what the page sends, and it is accepted.
    assert (
        r.client.post("/web/mini/", data={"form_state": page.form_state, "parent": "1"}).status_code
        == 303
    )
    assert interview_of(web_app, r).revision == 1


def test_error_pages_show_no_traceback(sqlite_url: str, clock: FakeClock) -> None:
    app = make_app(sqlite_url, clock, PROPAGATE_EXCEPTIONS=False)
    try:

        @app.get("/boom")
        def boom() -> str:
            raise RuntimeError("secret internals")

        client = app.test_client()
        response = client.get("/boom")
        body = response.get_data(as_text=True)
        assert response.status_code == 500
        assert "secret internals" not in body and "Traceback" not in body
        assert "Sorry, there is a problem" in body
        missing = client.get("/web/no-such-survey/")
        assert missing.status_code == 404 and "Page not found" in missing.get_data(as_text=True)
    finally:
        close_app(app)


def test_nobody_reaches_another_respondents_interview(web_app: Any) -> None:
    alice = Respondent(web_app)
    alice.start()
    alice_page = alice.answer({"parent": "1"})
    bob = Respondent(web_app)
    bob_page = bob.start()
    assert bob_page.keys == ["parent"]  # his own, new interview
    # Alice's form replayed with Bob's cookie is refused and changes neither interview
    response = bob.client.post(
        "/web/mini/",
        data={"form_state": alice_page.form_state, "n_kids": "2"},
    )
    assert response.status_code == 400
    assert interview_of(web_app, alice).revision == 1
    assert interview_of(web_app, bob).revision == 0
    # a forged cookie naming Alice's interview is not accepted
    forged = web_app.test_client()
    alice_id = interview_of(web_app, alice).id
    forged.set_cookie(
        "instrument_session", f'{{"iv": {{"mini": "{alice_id}"}}}}', domain="survey.test"
    )
    assert "Start now" in forged.get("/web/mini/", follow_redirects=True).get_data(as_text=True)


def test_form_state_round_trips_exactly_and_refuses_anything_else() -> None:
    from instrument.flask_support.form_state import BadFormState, FormState, FormStateSigner

    signer = FormStateSigner("key-one")
    shown = dt.datetime(2026, 5, 1, 9, 0, 1, 123456, tzinfo=dt.UTC)
    state = FormState.new("8426c558-1b87-49f2-a651-016f086a48eb", 12, "14", shown)
    text = signer.dumps(state)
    assert signer.loads(text) == state and signer.loads(text).shown_at == shown
    assert FormState.new(state.interview_id, 12, "14", shown).nonce != state.nonce
    rotated = FormStateSigner(["key-one", "key-two"])  # signs with the last, accepts both
    assert rotated.loads(text) == state and rotated.loads(rotated.dumps(state)) == state
    body, signature = text.rsplit(".", 1)
    forged = [
        "",
        "nonsense",
        FormStateSigner("another-key").dumps(state),
        body.replace("~12~", "~13~") + "." + signature,
        body + "~extra." + signature,
        body + "." + signature[:-1],
        signer._signer.sign("a~b~c~d").decode(),  # signed, but not five fields
        signer._signer.sign("a~x~c~d~1").decode(),  # signed, but not numbers
    ]
    for bad in forged:
        with pytest.raises(BadFormState):
            signer.loads(bad)
    with pytest.raises(ValueError):
        signer.dumps(state._replace(nonce="has~tilde"))


def test_form_state_cannot_be_tampered_with(web_app: Any) -> None:
    r = Respondent(web_app)
    page = r.start()
    state = page.form_state
    tampered = state[:-2] + ("AA" if not state.endswith("AA") else "BB")
    response = r.client.post("/web/mini/", data={"form_state": tampered, "parent": "1"})
    assert response.status_code == 400
    assert interview_of(web_app, r).revision == 0


def test_open_links_can_be_switched_off(sqlite_url: str, clock: FakeClock) -> None:
    app = make_app(sqlite_url, clock, OPEN_LINKS=False)
    try:
        r = Respondent(app)
        page = r.get()
        assert "invitation only" in page.text()
        assert r.client.post("/web/mini/start", data={"csrf_token": page.csrf}).status_code == 403
        token = get_host(app).store.issue_token("mini")
        assert r.get(f"/web/t/{token}").keys == ["parent"]
    finally:
        close_app(app)


def test_home_lists_surveys_and_health_check(web_app: Any) -> None:
    client = web_app.test_client()
    assert "/web/mini/" in client.get("/").get_data(as_text=True)
    assert client.get("/healthz").get_data(as_text=True) == "ok"


def test_theme_dir_overrides_templates_and_adds_css(
    sqlite_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    theme = tmp_path / "theme"
    (theme / "templates" / "instrument").mkdir(parents=True)
    (theme / "static").mkdir()
    (theme / "static" / "theme.css").write_text(":root { --colour-brand: #6a1b9a; }")
    base = (
        Path(__file__).resolve().parent.parent
        / "instrument"
        / "server"
        / "templates"
        / "instrument"
        / "base.html"
    )
    (theme / "templates" / "instrument" / "base.html").write_text(
        re.sub(
            r"{% block footer %}.*?{% endblock %}",
            "{% block footer %}<p>Run by the Example Research Unit.</p>{% endblock %}",
            base.read_text(),
        )
    )
    app = make_app(sqlite_url, clock, THEME_DIR=str(theme))
    try:
        client = app.test_client()
        html = client.get("/web/mini/").get_data(as_text=True)
        assert "Run by the Example Research Unit." in html
        assert '<link rel="stylesheet" href="/theme/theme.css">' in html
        assert b"#6a1b9a" in client.get("/theme/theme.css").data
    finally:
        close_app(app)


# -- serving -------------------------------------------------------------------------


def test_serve_prints_links_and_a_demo_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner
    from flask import Flask

    from instrument.commands.serve import serve

    ran: list[tuple[str, int]] = []
    # Flask's development server would block the test; record how it would be started instead.
    monkeypatch.setattr(Flask, "run", lambda self, host, port, **kw: ran.append((host, port)))
    database = f"sqlite:///{tmp_path / 'served.db'}"
    args = [
        str(Path(__file__).parent / "data" / "mini.yaml"),
        "--database",
        database,
        "--port",
        "5099",
    ]
    result = CliRunner().invoke(serve, args)
    assert result.exit_code == 0, result.output
    assert "mini: open link      http://localhost:5099/web/mini/" in result.output
    token = re.search(r"/web/t/(\S+)", result.output).group(1)
    password = re.search(r"user 'demo', password '([^']+)'", result.output).group(1)
    assert ran == [("127.0.0.1", 5099)]
    from instrument.store import open_store

    with open_store(database) as store:
        assert store.find_token(token).purpose == "test"
        assert store.verify_staff_password("demo", password).role == "admin"
    again = CliRunner().invoke(serve, args)
    new_password = re.search(r"user 'demo', password '([^']+)'", again.output).group(1)
    with open_store(database) as store:  # serving again prints a fresh, working password
        assert store.verify_staff_password("demo", new_password).role == "admin"
        assert new_password == password or store.verify_staff_password("demo", password) is None


def test_wsgi_config_comes_from_the_environment(tmp_path: Path) -> None:
    from instrument.server.wsgi import config_from_env

    with pytest.raises(RuntimeError, match="INSTRUMENT_QUESTIONNAIRES"):
        config_from_env({})
    with pytest.raises(RuntimeError, match="INSTRUMENT_SECRET_KEY"):
        config_from_env({"INSTRUMENT_QUESTIONNAIRES": "a.yaml"})
    config = config_from_env(
        {
            "INSTRUMENT_QUESTIONNAIRES": "a.yaml:b.yaml",
            "INSTRUMENT_SECRET_KEY": "k",
            "INSTRUMENT_SECURE_COOKIES": "1",
            "INSTRUMENT_OPEN_LINKS": "0",
            "INSTRUMENT_TRUSTED_PROXIES": "1",
        }
    )
    assert config["QUESTIONNAIRES"] == ["a.yaml", "b.yaml"]
    assert config["SESSION_COOKIE_SECURE"] is True and config["OPEN_LINKS"] is False
    assert config["TRUSTED_PROXIES"] == 1
