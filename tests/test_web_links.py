"""Personal links and resume links in the browser, as an attacker and as a panel member use them.

* a case's preload values reach the web interview its personal link starts,
  so a check against the panel profile fires on the web as it does by phone;
* a link opened from another site never silently replaces the interview in
  progress in this browser: the respondent is asked, and the answer is a
  POST with the CSRF token;
* "save and continue later" shows the resume link once and keeps it nowhere
  in the (readable) session cookie;
* interviews started from an open link are throttled per address.
"""

from __future__ import annotations

import json
from typing import Any

from test_web_support import (
    FLAGSHIP,
    FakeClock,
    Respondent,
    close_app,
    interview_of,
    make_app,
)

from instrument.server.app import get_host
from tests.test_web_support import *


def cookie_text(respondent: Respondent) -> str:
    """Everything the browser holds in its session cookie, decoded (it is signed, not encrypted)."""
    with respondent.client.session_transaction() as session:
        return json.dumps(dict(session))


def test_a_personal_link_carries_the_case_preloads_to_the_web(
    sqlite_url: str, clock: FakeClock
) -> None:
    app = make_app(sqlite_url, clock, FLAGSHIP)
    try:
        host = get_host(app)
        host.service.put_case(
            "social_licence",
            "member-4",
            {"profile_n_children": 1, "profile_age_band": 3, "profile_lone_parent": 2},
            now=clock.now,
        )
        token = host.service.issue_link("social_licence", case_id="member-4", now=clock.now)
        r = Respondent(app, "social_licence")
        page = r.get(f"/web/t/{token}")
        record = interview_of(app, r)
        assert record.case_id == "member-4"
        assert host.service.load(record.id).state.case["profile_n_children"] == 1
        # answer until the number of children, and say 3: the panel profile says 1
        for _ in range(10):
            if "n_children" in page.keys:
                break
            page = r.post({page.keys[0]: "1"} if page.keys else {})  # an info page has no keys
        else:
            raise AssertionError(f"never reached n_children (last page {page.keys})")
        warned = r.post({"n_children": "3"})
        assert any("panel profile shows 1" in w for w in warned.warnings), warned.warnings
    finally:
        close_app(app)


def test_a_link_from_elsewhere_asks_before_replacing_the_interview_in_progress(
    web_app: Any,
) -> None:
    mine = Respondent(web_app)
    mine.start()
    mine.answer({"parent": "1"})
    my_interview = interview_of(web_app, mine).id
    store = get_host(web_app).store
    foreign = store.issue_token("mini", case_id="someone-else")
    page = mine.get(f"/web/t/{foreign}")
    assert page.status == 200
    (form,) = page.tree.xpath(
        f"//form[@method='post'][substring-after(@action, '/web/t/') = '{foreign}']"
    )
    assert form.xpath(".//input[@name='csrf_token']")
    assert interview_of(web_app, mine).id == my_interview  # nothing replaced yet
    assert store.find_token(foreign).interview_id is None  # and nothing started
    # a cross-site POST without the CSRF token is refused
    assert mine.client.post(f"/web/t/{foreign}").status_code == 400
    # keeping mine: the link back leads to my page, unchanged
    assert mine.get().keys == ["n_kids"]
    # choosing the link: a POST with the page's CSRF token
    page = mine.get(f"/web/t/{foreign}")
    response = mine.client.post(f"/web/t/{foreign}", data={"csrf_token": page.csrf})
    assert response.status_code == 303
    assert interview_of(web_app, mine).case_id == "someone-else"


def test_opening_my_own_link_again_does_not_ask(web_app: Any) -> None:
    store = get_host(web_app).store
    token = store.issue_token("mini", case_id="case-3")
    r = Respondent(web_app)
    r.get(f"/web/t/{token}")
    r.answer({"parent": "1"})
    assert r.get(f"/web/t/{token}").keys == ["n_kids"]


def test_the_resume_link_is_shown_once_and_never_kept_in_the_cookie(web_app: Any) -> None:
    r = Respondent(web_app)
    r.start()
    r.answer({"parent": "1"})
    page = r.post({"n_kids": "2"}, action="save_later")
    link = page.tree.xpath("//a[@id='resume-link']")[0].get("href")
    token = link.rsplit("/", 1)[1]
    assert token not in cookie_text(r)
    # the old address of the saved page shows nothing of it
    later = r.get("/web/mini/saved")
    assert token not in later.html and "Start now" in later.text()


def test_open_link_starts_are_throttled_per_address(sqlite_url: str, clock: FakeClock) -> None:
    app = make_app(sqlite_url, clock, START_ATTEMPTS=3)
    try:
        statuses = []
        for _ in range(5):
            r = Respondent(app)
            page = r.get()
            statuses.append(
                r.client.post("/web/mini/start", data={"csrf_token": page.csrf}).status_code
            )
        assert statuses == [303, 303, 303, 429, 429]
        assert get_host(app).store.count_by_status("mini")["active"] == 3
    finally:
        close_app(app)
