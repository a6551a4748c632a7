"""The interviewer console through Flask's test client: plain forms, as without JavaScript.

An interviewer signs in, takes the next case, dials by hand, reads the
flagship's script (read-out text, instructions and optional read-outs set
apart, numbered options, don't know and refused keyed) and answers it with a
soft check, going back, a don't know, a refusal and a note; codes the call
complete; a double press, a stale tab and a second coding change nothing.
Another case gets an appointment and is offered again when it is due.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from phone_console_helpers import Interviewer, add_case, console_app
from test_web_support import FakeClock, close_app

from instrument import catalogue
from instrument.server.app import get_host
from instrument.values import DK, REFUSED

ROOT = Path(__file__).resolve().parent.parent
CONSOLE = ROOT / "modes" / "instrument_phone" / "console"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(tmp_path: Path, clock: FakeClock) -> Iterator[Any]:
    app = console_app(f"sqlite:///{tmp_path / 'console.db'}", clock)
    add_case(app, "c1", clock)
    yield app
    close_app(app)


def first_field(who: Interviewer) -> str:
    """The form name of the first answer field on the script page."""
    assert who.page is not None
    names = who.page.tree.xpath(
        "//*[@data-question]//*[@name and not(starts-with(@name, 'note-'))]/@name"
    )
    return str(names[0])


def answer_page(who: Interviewer) -> Any:
    """Answer whatever the page asks with its first option (keeping answers already given)."""
    page = who.page
    assert page is not None
    data: dict[str, Any] = {}
    for el in page.tree.xpath(
        "//form[@id='script']//*[@data-question]//input | //form[@id='script']//*[@data-question]//textarea"
    ):
        name, kind = el.get("name"), el.get("type")
        if name.startswith("note-") or name.endswith("-missing"):
            continue
        if kind in ("radio", "checkbox"):
            if el.get("checked") is not None or name not in data and el.get("data-key") == "1":
                data[name] = el.get("value")
        elif el.tag == "textarea":
            data[name] = el.text or "Nothing to add."
        else:
            data[name] = el.get("value") or "1"
    return who.answer(data)


def test_only_signed_in_interviewers_and_supervisors(app: Any) -> None:
    anonymous = app.test_client().get("/cati/console/")
    assert anonymous.status_code == 303 and "/staff/login" in anonymous.headers["Location"]
    assert Interviewer(app, "rita").sign_in().status == 403  # a researcher
    assert Interviewer(app, "sam").sign_in().status == 200  # a supervisor may cover a shift
    other = Interviewer(app)
    other.sign_in()
    assert other.get("/cati/console/attempt/1/").status == 404  # never handed this attempt


def test_the_case_screen_and_dialling_by_hand(app: Any) -> None:
    ivy = Interviewer(app)
    ivy.sign_in()
    page = ivy.next_case()
    assert page.status == 200
    text = page.text()
    assert "Case c1" in text and "Ann Example" in text and "+442079460001" in text
    page = ivy.post(ivy.attempt_path + "dial", {"rank": "1"})
    assert "dialling number 1 by hand" in page.text()
    ivy.post(ivy.attempt_path + "dial", {"rank": "1"})  # a second press: the same call
    calls = get_host(app).store.calls_of("c1")
    assert [(c.number_rank, c.provider) for c in calls] == [(1, "manual")]
    again = ivy.next_case()  # "next case" again, or a refresh: the same case, no new attempt
    assert "Case c1" in again.text()
    assert len(get_host(app).store.attempts_of("c1")) == 1


def test_the_script_sets_apart_what_is_read_out_and_keys_every_answer(app: Any) -> None:
    ivy = Interviewer(app)
    ivy.sign_in()
    ivy.next_case()
    page = ivy.get(ivy.attempt_path + "script")
    intro = page.tree.xpath("//*[@id='q-intro']")[0]
    assert "I'm calling from the panel" in intro.xpath("string(.//*[contains(@class,'readout')])")
    assert "If asked how we got the number" in intro.xpath("string(.//*[@class='instruction'])")
    page = ivy.answer({})
    parent = page.tree.xpath("//*[@id='q-parent']")[0]
    assert "First, are you a parent" in parent.xpath("string(.//legend)")  # the read-out wording
    assert "step-children" in parent.xpath("string(.//*[@class='instruction'])")
    assert "part of the time" in parent.xpath("string(.//*[@class='optional-readout'])")
    keys = [(i.get("value"), i.get("data-key")) for i in parent.xpath(".//input[@type='radio']")]
    assert keys == [("1", "1"), ("2", "2")]  # parent allows neither don't know nor refused
    page = ivy.answer({"parent": "1"})
    page = ivy.answer({"n_children": "2"})
    page = ivy.answer({first_field(ivy): "9"})
    page = ivy.answer({first_field(ivy): "4"})
    aware = page.tree.xpath("//*[@id='q-aware_linkage']")[0]
    choices = {i.get("data-key"): i.get("value") for i in aware.xpath(".//input[@type='radio']")}
    assert choices == {"1": "1", "2": "2", "3": "3", "4": "4", "D": "dk", "R": "refused"}
    labels = [
        " ".join(x.text_content().split()) for x in aware.xpath(".//label[@class='choice__label']")
    ]
    assert labels[0].startswith("1 Know a fair amount [I know a fair amount about it]")
    assert labels[-2:] == ["D Don't know do not read out", "R Refused do not read out"]
    # Without JavaScript Enter submits with the form's first button: it must go on.
    first_button = page.tree.xpath("//form[@id='script']//button")[0]
    assert first_button.get("value") == "continue"


def test_the_flagship_by_phone_with_checks_back_dk_refused_and_a_note(app: Any) -> None:
    store = get_host(app).store
    ivy = Interviewer(app)
    ivy.sign_in()
    ivy.next_case()
    ivy.post(ivy.attempt_path + "dial", {"rank": "1"})
    ivy.get(ivy.attempt_path + "script")
    ivy.answer({})
    ivy.answer({"parent": "1", "note-parent": "Asked twice  whether step-children count"})
    page = ivy.answer({"n_children": "3"})  # the panel said 2: a soft check
    assert page.status == 422 and page.warnings and "panel profile shows 2" in page.warnings[0]
    page = ivy.answer({"n_children": "3"}, action="confirm")
    assert page.status == 200 and not page.warnings
    ivy.answer({first_field(ivy): "9"})
    ivy.answer({first_field(ivy): "6"})
    page = ivy.answer({}, action="back")  # back to child 2, its answer still there
    assert page.value(first_field(ivy)) == "6"
    ivy.answer({first_field(ivy): "7"})
    child_3 = first_field(ivy)
    page = ivy.answer({f"{child_3}-missing": "refused"})
    page = ivy.answer({"aware_linkage": "dk"})
    for _ in range(60):
        if page.tree.xpath("//*[@id='code-outcome']"):
            break
        page = answer_page(ivy)
        assert page.status == 200, page.summary
    else:
        raise AssertionError("the script never ended")
    assert "The interview is finished" in page.text()

    end = ivy.get(ivy.attempt_path + "end")
    offered = end.tree.xpath("//input[@name='outcome']/@value")
    assert "complete" in offered and end.checked("outcome") == ["complete"]
    done = ivy.post(ivy.attempt_path + "end", {"outcome": "complete", "note": "Friendly."})
    assert "Case c1 is coded" in done.text()
    again = ivy.post("/cati/console/attempt/1/end", {"outcome": "complete"})  # double click
    assert "had been coded already" in again.text()
    attempts = store.attempts_of("c1")
    assert [(a.disposition, a.note) for a in attempts] == [("complete", "Friendly.")]
    closed = ivy.get("/cati/console/attempt/1/script")  # the script closes with the call
    assert "no longer yours to call" in closed.text()

    [record] = store.interviews_for_case("c1")
    assert record.status == "complete"
    snapshot = get_host(app).service.load(record.id)
    values = snapshot.engine.values(snapshot.state)
    assert values["n_children"] == 3 and values[child_3] is REFUSED
    assert values["aware_linkage"] is DK and values["child_age_2"] == 7
    events = store.events_for(record.id)
    assert {e.mode for e in events if e.kind == "answer"} == {"cati"}
    notes = [e.value.get("notes") for e in events if e.kind == "paradata" and e.value.get("notes")]
    assert {"parent": "Asked twice whether step-children count"} in notes


def test_a_resent_page_records_once_and_a_stale_tab_writes_nothing(app: Any) -> None:
    ivy = Interviewer(app)
    ivy.sign_in()
    ivy.next_case()
    ivy.get(ivy.attempt_path + "script")
    ivy.answer({})
    other_tab = ivy.get(ivy.attempt_path + "script")  # the parent page, opened in a second tab
    parent_page = ivy.get(ivy.attempt_path + "script")
    ivy.answer({"parent": "1"})
    path = ivy.attempt_path + "script"
    # the same form posted again (a double press of Enter): the page it led to, nothing new
    form = {**ivy.script_form(parent_page), "action": "continue", "parent": "1"}
    twice = ivy.client.post(path, data=form, follow_redirects=True)
    assert "How many children" in twice.get_data(as_text=True)
    store = get_host(app).store
    [record] = store.interviews_for_case("c1")

    def parent_answers() -> list[Any]:
        return [
            e.value
            for e in store.events_for(record.id)
            if e.kind == "answer" and e.variable == "parent"
        ]

    assert parent_answers() == [1]
    # the second tab, left on the parent page, answers "no": refused as stale, "yes" stays
    form = {**ivy.script_form(other_tab), "action": "continue", "parent": "2"}
    stale = ivy.client.post(path, data=form, follow_redirects=True)
    text = stale.get_data(as_text=True)
    assert "The script had moved on" in text and "How many children" in text
    assert parent_answers() == [1]


def test_jump_back_to_an_earlier_answered_question(app: Any) -> None:
    ivy = Interviewer(app)
    ivy.sign_in()
    ivy.next_case()
    ivy.get(ivy.attempt_path + "script")
    ivy.answer({})
    ivy.answer({"parent": "1"})
    ivy.answer({"n_children": "2"})
    earlier = ivy.get(ivy.attempt_path + "earlier")
    targets = earlier.tree.xpath("//button[@name='jump_to']/@value")
    assert targets == ["n_children", "parent"]  # most recent first; the intro asks nothing
    form = {**earlier.hidden("earlier-form"), "jump_to": "parent"}
    path = ivy.attempt_path + "script"
    page = ivy._wrap(ivy.client.post(path, data=form, follow_redirects=True))
    assert page.tree.xpath("//*[@id='q-parent']") and page.checked("parent") == ["1"]


def finish_the_script(who: Interviewer) -> Any:
    """Answer every page of the case's script with the first option; the finished page."""
    who.get(who.attempt_path + "script")
    who.answer({})
    who.answer({"parent": "1"})
    page = who.answer({"n_children": "2"})  # as the panel's profile says: no soft check
    for _ in range(80):
        if page.tree.xpath("//*[@id='code-outcome']"):
            return page
        page = answer_page(who)
        assert page.status == 200, page.summary
    raise AssertionError("the script never ended")


def test_a_finished_interview_is_coded_and_the_next_case_taken_in_one_press(
    app: Any, clock: FakeClock
) -> None:
    add_case(app, "c2", clock, name="Bea Example")
    store = get_host(app).store
    ivy = Interviewer(app)
    ivy.sign_in()
    assert "Case c1" in ivy.next_case().text()
    finished = finish_the_script(ivy)
    # the usual end in one press (Enter: the button has the focus); anything else one link away
    quick = finished.tree.xpath("//form[@id='code-finished']")[0]
    assert quick.xpath(".//input[@name='outcome']/@value") == ["complete"]
    [first_button] = quick.xpath(".//button[@autofocus]")
    assert (first_button.get("name"), first_button.get("value")) == ("then", "next")
    assert finished.tree.xpath("//a[@id='code-outcome']/@href") == [ivy.attempt_path + "end"]
    path = ivy.attempt_path + "end"
    form = {"outcome": "complete", "then": "next"}
    taken = ivy.post(path, form)
    assert "Case c1 is coded. This is the next case." in taken.text()
    assert "Case c2" in taken.text() and "Bea Example" in taken.text()
    # a double press: c1 stays coded once, and c2 is shown again rather than a third case held
    again = ivy.post(path, form)
    assert "Case c2" in again.text()
    assert [a.disposition for a in store.attempts_of("c1")] == ["complete"]
    assert len(store.attempts_of("c2")) == 1
    # "save and take the next case" on the end-of-call page, with no case left to call
    end = ivy.get(ivy.attempt_path + "end")
    assert end.tree.xpath("//button[@name='then'][@value='next']")
    home = ivy.post(ivy.attempt_path + "end", {"outcome": "no_answer", "then": "next"})
    assert "Case c2 is coded. No case can be called now" in home.text()
    assert [a.disposition for a in store.attempts_of("c2")] == ["no_answer"]


def test_complete_is_offered_only_for_a_finished_interview(app: Any) -> None:
    ivy = Interviewer(app)
    ivy.sign_in()
    ivy.next_case()
    end = ivy.get(ivy.attempt_path + "end")
    offered = end.tree.xpath("//input[@name='outcome']/@value")
    assert "complete" not in offered and "partial" not in offered and "no_answer" in offered
    refused = ivy.post(ivy.attempt_path + "end", {"outcome": "complete"})
    assert refused.status == 422 and "needs a finished interview" in refused.text()
    assert get_host(app).store.attempts_of("c1")[0].disposition is None


def test_an_appointment_is_offered_again_when_it_is_due(app: Any, clock: FakeClock) -> None:
    ivy = Interviewer(app)
    ivy.sign_in()
    ivy.next_case()
    ivy.post(ivy.attempt_path + "dial", {"rank": "1"})
    ivy.get(ivy.attempt_path + "end")
    missing = ivy.post(ivy.attempt_path + "end", {"outcome": "appointment"})
    assert missing.status == 422 and "needs the appointment's time" in missing.text()
    booked = ivy.post(
        ivy.attempt_path + "end",
        {"outcome": "appointment", "appt_kind": "hard", "appt_date": "2026-05-01",
         "appt_time": "18:30", "only_me": "1"},
    )  # fmt: skip
    assert "Case c1 is coded" in booked.text()
    [appointment] = get_host(app).store.appointments_of("c1")
    assert appointment.at == dt.datetime(2026, 5, 1, 17, 30, tzinfo=dt.UTC)  # 18:30 in London (BST)
    assert "No case can be called now" in ivy.next_case().text()
    clock.now = dt.datetime(2026, 5, 1, 17, 30, tzinfo=dt.UTC)
    sam = Interviewer(app, "sam")
    sam.sign_in()
    assert "No case can be called now" in sam.next_case().text()  # booked for ivy only
    ivy.sign_in()  # a new shift: the morning's staff session timed out
    page = ivy.next_case()
    assert "Case c1" in page.text() and "18:30 your time" in page.text()


def test_dialling_through_the_twilio_bridge(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from twilio_fake import FakeTwilioHttp

    env = {
        "INSTRUMENT_TWILIO_ACCOUNT_SID": "AC" + "0" * 31 + "1",
        "INSTRUMENT_TWILIO_AUTH_TOKEN": "0123456789abcdef" * 2,
        "INSTRUMENT_TWILIO_CALLER_ID": "+442071234567",
        "INSTRUMENT_PUBLIC_URL": "https://survey.example.org",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    http = FakeTwilioHttp()
    app = console_app(f"sqlite:///{tmp_path / 'twilio.db'}", clock, TWILIO_HTTP_CLIENT=http)
    try:
        add_case(app, "c1", clock)
        ivy = Interviewer(app)
        ivy.sign_in()
        ivy.post("/cati/console/phone", {"my_phone": "+441632960999"})
        ivy.next_case()
        page = ivy.post(ivy.attempt_path + "dial", {"rank": "1"})
        assert "your phone rings first" in page.text()
        ivy.post(ivy.attempt_path + "dial", {"rank": "1"})  # pressed twice: one call
        [request] = http.requests
        assert request.values("To") == ["+441632960999"]  # the interviewer's phone, not theirs
        assert request.values("Url") == ["https://survey.example.org/cati/phone/twiml/bridge/1"]
        [call] = get_host(app).store.calls_of("c1")
        assert call.provider == "twilio" and call.provider_sid is not None
        page = ivy.get(ivy.attempt_path)
        hang = page.tree.xpath("//form[contains(@action, 'hangup')]//input[@name='call']/@value")
        assert hang == [str(call.id)]
        ivy.post(ivy.attempt_path + "hangup", {"call": hang[0]})
        assert http.requests[-1].values("Status") == ["completed"]
    finally:
        close_app(app)


def test_every_console_text_is_in_the_catalogue_in_english_and_welsh() -> None:
    keys = catalogue.keys("phone")
    used: set[str] = set()
    for path in (CONSOLE / "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"\bt\('([a-z_]+)'", text))
        used |= set(re.findall(r"\bw\.([a-z_]+)", text))  # the word table (words.word_table)
    for path in CONSOLE.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"(?:tell|say\(\)|say)\(\"([a-z_]+)\"", source))
        used |= set(re.findall(r"say\('([a-z_]+)'", source))
        used |= set(re.findall(r'return "(bad_[a-z]+)"', source))
    used |= {"day", "month", "year", "not_both", "one_missing"}  # t(part), the step form's words
    assert len(used) > 60
    assert sorted(used - set(keys)) == []
    assert catalogue.CATALOGUE.missing("cy") == []
    assert catalogue.text("cy", "phone", "next_case") == "Yr achos nesaf"


def test_a_soft_appointment_and_a_time_that_cannot_be_read(app: Any) -> None:
    ivy = Interviewer(app)
    ivy.sign_in()
    ivy.next_case()
    ivy.get(ivy.attempt_path + "end")
    bad = ivy.post(
        ivy.attempt_path + "end",
        {"outcome": "appointment", "appt_kind": "hard", "appt_date": "4 May", "appt_time": "6pm"},
    )
    assert bad.status == 422 and "Enter the appointment's date and time" in bad.text()
    assert bad.value("appt_date") == "4 May"  # what was typed comes back to be corrected
    booked = ivy.post(
        ivy.attempt_path + "end",
        {"outcome": "appointment", "appt_kind": "soft", "soft_day": "2026-05-04",
         "soft_part": "evening", "note": "Call after the school run."},
    )  # fmt: skip
    assert "Case c1 is coded" in booked.text()
    [appointment] = get_host(app).store.appointments_of("c1")
    assert (appointment.kind, appointment.day, appointment.part) == (
        "soft", dt.date(2026, 5, 4), "evening",
    )  # fmt: skip


def test_a_fieldwork_file_with_errors_stops_the_server_at_start_up(
    tmp_path: Path, clock: FakeClock
) -> None:
    from test_web_support import MINI, make_app

    from instrument.plugin_types import ModeSetupError

    questionnaire = tmp_path / "mini.yaml"
    questionnaire.write_text(MINI.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "mini.fieldwork.yaml").write_text(
        "calling:\n  max_attempts_per_case: lots\n", encoding="utf-8"
    )
    with pytest.raises(ModeSetupError, match="fieldwork settings of mini have errors"):
        make_app(f"sqlite:///{tmp_path / 'bad.db'}", clock, questionnaire)


def test_signing_in_comes_back_to_the_console_page_asked_for(app: Any) -> None:
    from phone_console_helpers import INTERVIEWER, PASSWORD

    from instrument.server.sign_in import staff_next

    client = app.test_client()
    asked = client.get("/cati/console/")
    login = asked.headers["Location"]
    assert login.endswith("/staff/login?next=/cati/console/")
    form = client.get(login).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    data = {"username": INTERVIEWER, "password": PASSWORD, "csrf_token": token.group(1)}
    signed_in = client.post(login, data=data)
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/cati/console/"
    # only the areas the app registered, and still no way out of them
    assert staff_next("/cati/console/") is None
    assert staff_next("/cati/console/", ["/cati/console/"]) == "/cati/console/"
    assert staff_next("/cati/console/../../web/x/", ["/cati/console/"]) is None
    assert staff_next("//evil.example/cati/console/", ["/cati/console/"]) is None


def test_the_script_form_state_is_the_answer_forms_csrf_token(app: Any) -> None:
    """As on the web, the signed form state (interview, revision, a nonce used once) is the
    script's CSRF token: no second token, and a form state that is not this interview's, or
    tampered with, is refused with nothing saved."""
    ivy = Interviewer(app)
    ivy.sign_in()
    ivy.next_case()
    page = ivy.get(ivy.attempt_path + "script")
    path = ivy.attempt_path + "script"
    form = {k: v for k, v in ivy.script_form(page).items() if k != "csrf_token"}
    store = get_host(app).store
    [record] = store.interviews_for_case("c1")
    before = store.load_interview(record.id).revision
    tampered = {**form, "form_state": form["form_state"][:-3] + "AAA", "action": "continue"}
    assert ivy.client.post(path, data=tampered).status_code == 400
    assert ivy.client.post(path, data={"action": "continue"}).status_code == 400  # none at all
    assert store.load_interview(record.id).revision == before
    answered = ivy.client.post(path, data={**form, "action": "continue"})
    assert answered.status_code == 303  # no csrf_token field, accepted on the form state
    assert store.load_interview(record.id).revision == before + 1
    # other console forms still need Flask-WTF's token
    assert ivy.client.post("/cati/console/next", data={}).status_code == 400
