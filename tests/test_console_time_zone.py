"""The interviewer console on the interviewer's own clock (Flask's test client, plain forms).

An interviewer in Berlin calls respondents in London. Berlin is an hour
ahead all year (both change clocks at 01:00 UTC on the same Sundays), so
what matters is a time typed on one side of a clock change for the other: on
Friday 23 October 2026 (CEST, UTC+2) Ivy books Monday 26 October at 11:00 on
her clock, which is CET by then (UTC+1), so 10:00 UTC, 10:00 in London
(GMT). Read on the study's clock it would be 11:00 UTC; read at today's
offset, 09:00 UTC. The same in March, the other way. Times she is shown carry
their zone's abbreviation, "your time" and "respondent's time" both, and a
time her clock skips or shows twice is refused in her zone's words.

The zone is chosen on the console's home page (a list of the studies' zones
and a box for any IANA name, CSRF-protected, POST then redirect; an unknown
name comes back at its field, 422) and kept on the staff account.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from phone_console_helpers import Interviewer, add_case, console_app
from test_web_support import FakeClock, close_app

from instrument.server.app import get_host
from instrument.store.schema import staff_users

HOME = "/cati/console/"
BEFORE_OCTOBER = dt.datetime(2026, 10, 23, 9, 0, tzinfo=dt.UTC)  # Fri: 10:00 BST, 11:00 CEST
BEFORE_MARCH = dt.datetime(2026, 3, 27, 10, 0, tzinfo=dt.UTC)  # Fri: 10:00 GMT, 11:00 CET


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(BEFORE_OCTOBER)


@pytest.fixture
def app(tmp_path: Path, clock: FakeClock) -> Iterator[Any]:
    app = console_app(f"sqlite:///{tmp_path / 'console.db'}", clock)
    add_case(app, "c1", clock)  # a respondent in Europe/London
    yield app
    close_app(app)


def zone_of(app: Any, username: str = "ivy") -> str | None:
    return get_host(app).store.staff_time_zone(username)


def in_berlin(app: Any) -> Interviewer:
    get_host(app).store.set_staff_time_zone("ivy", "Europe/Berlin")
    ivy = Interviewer(app)
    ivy.sign_in()
    return ivy


def chosen(page: Any) -> str:
    """The zone list's value as a browser would send it (the first option when none is selected)."""
    options = page.tree.xpath("//select[@name='time_zone']/option")
    picked = [o for o in options if o.get("selected") is not None] or options[:1]
    return str(picked[0].get("value"))


def fact(page: Any, name: str) -> str:
    """One line of the case screen's facts (the ``dd`` after the ``dt`` called ``name``)."""
    [dd] = page.tree.xpath(f"//dl[@class='case-facts']/dt[.=\"{name}\"]/following-sibling::dd[1]")
    return " ".join(dd.text_content().split())


def cells(page: Any, column: int) -> list[str]:
    """The call history's cells of one column (1: when, 4: outcome)."""
    return [
        " ".join(td.text_content().split()) for td in page.tree.xpath(f"//tbody/tr/td[{column}]")
    ]


# -- choosing the zone ----------------------------------------------------------------------


def test_the_home_page_sets_the_interviewers_zone(app: Any) -> None:
    ivy = Interviewer(app)
    home = ivy.sign_in()
    assert "Your time zone" in home.text()
    assert "times are shown in the study's zone (Europe/London)" in home.text()
    options = home.tree.xpath("//select[@name='time_zone']/option")
    assert [o.get("value") for o in options] == ["", "Europe/London"]  # the flagship's zone
    assert options[0].text_content() == "The study's zone (Europe/London)"
    assert chosen(home) == ""
    label = home.tree.xpath("//label[@for='f-time-zone-other']")[0].text_content()
    assert label == "Or type another time zone"

    typo = ivy.post(HOME + "zone", {"time_zone": "", "time_zone_other": " Europe/Berln "})
    assert typo.status == 422 and typo.title.startswith("Error:")
    message = "'Europe/Berln' is not a time zone this server knows: type an IANA name such as Europe/Berlin"
    assert typo.summary == [("#f-time-zone-other", message)]
    field = typo.tree.xpath("//input[@id='f-time-zone-other']")[0]
    assert field.get("value") == " Europe/Berln "  # what was typed comes back to be corrected
    assert "err-time-zone-other" in field.get("aria-describedby")
    assert message in typo.text("//p[@id='err-time-zone-other']")
    assert zone_of(app) is None

    saved = ivy.post(
        HOME + "zone", {"time_zone": "", "time_zone_other": "Europe/Berlin"}, follow=False
    )
    assert saved.status == 303 and saved.location == HOME
    home = ivy.get(HOME)
    assert "Times are now shown in Europe/Berlin." in home.text()
    assert "Times on these pages are shown on your clock: Europe/Berlin." in home.text()
    assert chosen(home) == "Europe/Berlin"  # the list now has it, chosen
    assert zone_of(app) == "Europe/Berlin"

    ivy.post(HOME + "zone", {"time_zone": "Europe/London", "time_zone_other": ""})
    assert zone_of(app) == "Europe/London"  # the list, when nothing is typed
    cleared = ivy.post(HOME + "zone", {"time_zone": "", "time_zone_other": ""})
    assert "Times are now shown in the study's zone." in cleared.text()
    assert zone_of(app) is None
    assert zone_of(app, "sam") is None  # only the signed-in account's zone is set


def test_a_zone_is_set_only_with_the_forms_token_and_only_when_signed_in(app: Any) -> None:
    ivy = Interviewer(app)
    ivy.sign_in()
    forged = ivy.client.post(HOME + "zone", data={"time_zone_other": "Asia/Tokyo"})
    assert forged.status_code == 400
    wrong = ivy.client.post(
        HOME + "zone", data={"time_zone_other": "Asia/Tokyo", "csrf_token": "not-the-token"}
    )
    assert wrong.status_code == 400
    assert zone_of(app) is None
    stranger = Interviewer(app)
    stranger.get("/staff/login")  # a CSRF token, but nobody signed in
    refused = stranger.post(HOME + "zone", {"time_zone_other": "Asia/Tokyo"}, follow=False)
    assert refused.status == 303 and "/staff/login" in (refused.location or "")
    assert zone_of(app) is None


# -- times on the interviewer's clock -------------------------------------------------------


def test_a_berlin_interviewer_books_across_the_october_change(app: Any, clock: FakeClock) -> None:
    ivy = in_berlin(app)
    case = ivy.next_case()
    assert fact(case, "Respondent's time now") == "Fri 23 Oct 10:00 BST (Europe/London)"
    assert fact(case, "Your time zone") == "Europe/Berlin"
    assert case.text("//thead").startswith("When (your time)")
    assert cells(case, 1) == ["23 Oct 11:00 CEST"]  # the attempt just opened, on her clock
    ivy.post(ivy.attempt_path + "dial", {"rank": "1"})
    end = ivy.get(ivy.attempt_path + "end")
    assert "Time on your clock (Europe/Berlin)" in end.text()
    path = ivy.attempt_path + "end"

    def book(day: str, time: str) -> Any:
        return ivy.post(
            path, {"outcome": "appointment", "appt_kind": "hard", "appt_date": day,
                   "appt_time": time, "only_me": "1"},
        )  # fmt: skip

    twice = book("2026-10-25", "02:30")  # Berlin: 03:00 CEST goes back to 02:00 CET
    assert twice.status == 422
    assert "25 October 02:30 happens twice in Europe/Berlin (the clocks go back)" in twice.text()
    booked = book("2026-10-26", "11:00")
    assert "Case c1 is coded" in booked.text()
    [appointment] = get_host(app).store.appointments_of("c1")
    assert appointment.at == dt.datetime(2026, 10, 26, 10, 0, tzinfo=dt.UTC)
    assert appointment.interviewer == "ivy"

    clock.now = dt.datetime(2026, 10, 26, 10, 0, tzinfo=dt.UTC)  # due: Monday 10:00 in London
    ivy.sign_in()  # a new shift
    again = ivy.next_case()
    assert "Case c1" in again.text()
    [shown] = again.tree.xpath("//h2[.='Appointments']/following-sibling::ul[1]/li")
    assert " ".join(shown.text_content().split()) == (
        "Mon 26 Oct 11:00 your time (CET); Mon 26 Oct 10:00 respondent's time (GMT) (ivy)"
    )
    assert fact(again, "Respondent's time now") == "Mon 26 Oct 10:00 GMT (Europe/London)"
    # both attempts on her clock, each with the offset of its own day
    assert sorted(cells(again, 1)) == ["23 Oct 11:00 CEST", "26 Oct 11:00 CET"]


def test_a_berlin_interviewer_books_across_the_march_change(app: Any, clock: FakeClock) -> None:
    clock.now = BEFORE_MARCH
    ivy = in_berlin(app)
    ivy.next_case()
    path = ivy.attempt_path + "end"
    ivy.get(path)
    skipped = ivy.post(
        path, {"outcome": "appointment", "appt_kind": "hard", "appt_date": "2026-03-29",
               "appt_time": "02:30"},
    )  # fmt: skip  # Berlin: 02:00 CET jumps to 03:00 CEST (London's 02:30 exists)
    assert skipped.status == 422
    assert (
        "29 March 02:30 does not exist in Europe/Berlin (the clocks go forward)" in skipped.text()
    )
    assert skipped.value("appt_time") == "02:30"
    ivy.post(
        path, {"outcome": "appointment", "appt_kind": "hard", "appt_date": "2026-03-30",
               "appt_time": "11:00"},
    )  # fmt: skip
    [appointment] = get_host(app).store.appointments_of("c1")
    assert appointment.at == dt.datetime(2026, 3, 30, 9, 0, tzinfo=dt.UTC)  # 10:00 BST in London


def test_without_a_zone_of_their_own_the_studys_clock_is_used(app: Any) -> None:
    ivy = Interviewer(app)
    ivy.sign_in()
    case = ivy.next_case()
    path = ivy.attempt_path
    assert fact(case, "Your time zone") == "Europe/London"
    assert cells(case, 1) == ["23 Oct 10:00 BST"]
    ivy.get(HOME)
    ivy.post(HOME + "zone", {"time_zone_other": "Asia/Tokyo"})
    again = ivy.get(path)
    assert cells(again, 1) == ["23 Oct 18:00 JST"]  # the next page, no new sign-in
    ivy.get(path + "end")
    ivy.post(
        path + "end",
        {"outcome": "appointment", "appt_kind": "hard", "appt_date": "2026-10-26",
         "appt_time": "19:00"},
    )  # fmt: skip  # 19:00 in Tokyo (no summer time) is 10:00 UTC, 10:00 GMT in London
    [appointment] = get_host(app).store.appointments_of("c1")
    assert appointment.at == dt.datetime(2026, 10, 26, 10, 0, tzinfo=dt.UTC)


def test_a_stored_zone_this_server_does_not_know_falls_back_to_the_studys(app: Any) -> None:
    store = get_host(app).store
    with store.engine.begin() as connection:  # e.g. stored by a server with a newer zone database
        connection.execute(
            sa.update(staff_users)
            .where(staff_users.c.username == "ivy")
            .values(time_zone="Mars/Olympus")
        )
    ivy = Interviewer(app)
    ivy.sign_in()
    case = ivy.next_case()
    assert case.status == 200 and cells(case, 1) == ["23 Oct 10:00 BST"]
    assert fact(case, "Your time zone") == "Europe/London"
