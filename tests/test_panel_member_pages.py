"""Panel members in the staff area (issue 13), through Flask's test client on SQLite and PostgreSQL.

Finding a member (exact match, a field-level error otherwise), their record,
who may see it (not interviewers) and their contact details (supervisors and
admins, each view in the audit log, only with the panel keys), and the
withdrawal done by staff: each choice's effect on the store, the confirmation
that says what will be deleted, a second press that writes nothing, CSRF, a
member already withdrawn, and a form with mistakes that keeps what was typed.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from phone_supervisor_helpers import PASSWORD, add_staff
from staff_passwords import CHEAP_PASSWORDS
from test_phone_supervisor import Staff
from test_web_support import FakeClock, Page, close_app, make_app

from instrument.interviews.phone_sample import parse_number
from instrument.panel.crypto import PanelKeys, new_key
from instrument.panel.members import seal_row
from instrument.panel.members_csv import parse_members
from instrument.server.app import get_host
from instrument.store import Store
from instrument.store.schema import interviews, panel_messages
from tests.panel_withdrawal_helpers import PHONES, SECRET_ANSWER, T0, Panel, set_up_panel
from tests.store_fixtures import database_url, postgres_database  # noqa: F401 (fixtures)

NOW = T0 + dt.timedelta(days=5)
REASON = "phoned the helpline on 6 November"


@dataclass
class Served:
    app: Any
    panel: Panel
    store: Store

    def pseudonym(self, external_id: str) -> str:
        member = self.store.member_by_id(self.panel.member_ids[external_id])
        assert member is not None
        return member.pseudonym

    def path(self, external_id: str, tail: str = "") -> str:
        return f"/staff/panel/members/{self.pseudonym(external_id)}{tail}"

    def audit(self, action: str) -> list[Any]:
        return list(self.store.staff_audit_page(action=action).entries)


@pytest.fixture
def served(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """The app with the withdrawal tests' panel, an email sent to Ann, and staff of every role."""
    key = new_key()
    monkeypatch.setenv("INSTRUMENT_PANEL_KEYS", key)
    monkeypatch.delenv("INSTRUMENT_PANEL_KEY_FILE", raising=False)
    app = make_app(database_url, FakeClock(NOW), **CHEAP_PASSWORDS)
    store = get_host(app).store
    panel = set_up_panel(store, PanelKeys.parse([key], source="INSTRUMENT_PANEL_KEYS"))
    add_staff(app)  # sam supervisor, ivy and olga interviewers, rita researcher
    store.create_staff_user("ada", PASSWORD, role="admin")
    emailed_ann(store, panel, "invitation", "delivered", T0, T0 + dt.timedelta(minutes=1))
    try:
        yield Served(app, panel, store)
    finally:
        close_app(app)


def emailed_ann(
    store: Store, panel: Panel, kind: str, state: str, at: dt.datetime, sent_at: dt.datetime
) -> None:
    """A message of ``kind`` emailed to Ann (R001, case K0001) in the panel's wave, recorded."""
    step = "invite" if kind == "invitation" else "remind"
    with store.engine.begin() as connection:
        connection.execute(
            panel_messages.insert().values(
                wave_id=panel.wave_id, member_id=panel.member_ids["R001"], case_id="K0001",
                kind=kind, step=step, channel="email", template=kind, language="en",
                contact_kind="email", contact_rank=1, idempotency_key=f"w1-K0001-{step}-email",
                state=state, attempts=1, created_at=at, sent_at=sent_at, updated_at=at,
            )
        )  # fmt: skip


def _post(staff: Staff, path: str, data: dict[str, str]) -> Page:
    response = staff.post(path, data)
    return Page(
        response.status_code, response.get_data(as_text=True), response.headers.get("Location")
    )


def _withdraw_form(page: Page, **fields: str) -> dict[str, str]:
    return {"csrf_token": page.csrf, **fields}


def _field_error(page: Page, field_id: str) -> str:
    """The error message inside the form group of the field ``field_id`` (its id + '-error')."""
    return page.text(f"//*[@id='{field_id}-error']")


# ----------------------------------------------------------------------------- finding


def test_a_member_is_found_by_external_id_or_pseudonym_exactly(served: Served) -> None:
    sam = Staff(served.app, "sam")
    found = sam.client.get("/staff/panel/members?q=R001")
    assert found.status_code == 303 and found.headers["Location"].endswith(served.path("R001"))
    by_pseudonym = sam.client.get(f"/staff/panel/members?q={served.pseudonym('R002')}")
    assert by_pseudonym.headers["Location"].endswith(served.path("R002"))

    blank = sam.get("/staff/panel/members")
    assert blank.status == 200
    assert blank.tree.xpath("string(//label[@for='f-q'])").strip() == "External id or pseudonym"
    assert "ann@example.org" not in blank.html and "R002" not in blank.html

    for query, status, message in (
        ("R00", 404, "No member has this external id or pseudonym"),  # no prefix search
        ("", 400, "Enter a member's external id or pseudonym"),
    ):
        page = sam.get(f"/staff/panel/members?q={query}")
        assert page.status == status
        assert page.title.startswith("Error: ")
        assert page.summary == [("#f-q", page.summary[0][1])]
        assert message in page.summary[0][1] and message in _field_error(page, "f-q")
        assert "f-q-error" in (page.tree.xpath("//input[@id='f-q']")[0].get("aria-describedby"))
        assert page.tree.xpath("//input[@id='f-q']")[0].get("value") == query  # kept
    assert "Find a panel member" in sam.get("/staff/").text()
    assert "Find a panel member" in sam.get("/staff/panel/").text()


def test_an_external_id_two_panels_share_lists_both_members(served: Served) -> None:
    rows = parse_members(
        "external_id,email\nR001,someone@example.org\n", source="other.csv",
        parse_phone=functools.partial(parse_number, region="GB"), now=T0,
    )  # fmt: skip
    served.store.import_members(
        "otherpanel", [seal_row(r, served.panel.sealer, recorded_by="t") for r in rows],
        now=T0, actor="t",
    )  # fmt: skip
    other = served.store.get_member("otherpanel", external_id="R001")
    assert other is not None
    page = Staff(served.app, "sam").get("/staff/panel/members?q=R001")
    assert page.status == 200
    listed = [
        [cell.text_content() for cell in row.xpath("th|td")]
        for row in page.tree.xpath("//table[@id='member-matches']/tbody/tr")
    ]
    assert listed == [
        [served.pseudonym("R001"), "natpanel", "R001", "active"],
        [other.pseudonym, "otherpanel", "R001", "active"],
    ]
    assert "someone@example.org" not in page.html


def test_the_member_page_shows_the_record_without_contact_details(served: Served) -> None:
    rita = Staff(served.app, "rita")  # a researcher: the record, never the contact details
    page = rita.get(served.path("R001"))
    assert page.status == 200
    assert page.tree.xpath("string(//dd[@data-field='status'])") == "active"
    summary = page.text("//dl[@id='member-summary']")
    assert "R001" in summary and "en" in summary and "none" in summary
    waves = page.text("//table[@id='member-waves']")
    assert "w1: Wave 1" in waves and "K0001" in waves and "complete (web)" in waves
    cells = page.tree.xpath("//table[@id='member-messages']/tbody/tr[1]/td")
    assert [td.text_content() for td in cells] == [
        "w1", "invite", "invitation", "email", "email 1", "delivered", "2026-11-02 09:01",
    ]  # fmt: skip
    assert "added" in page.text("//table[@id='member-history']")
    assert page.text("//*[@id='contacts-stored']") == (
        "1 postal address, 1 email, 1 name, 1 phone stored, hidden."
    )  # counted by kind
    for secret in ("ann@example.org", "Ann Example", "07911", PHONES["R001"], "High St"):
        assert secret not in page.html
    assert not page.tree.xpath("//form[contains(@action, '/contacts')]")
    assert not page.tree.xpath("//form[contains(@action, '/withdraw')]")  # nor withdraw
    assert (
        rita.client.post(
            served.path("R001", "/contacts"), data={"csrf_token": page.csrf}
        ).status_code
        == 403
    )
    assert (
        rita.client.post(
            served.path("R001", "/withdraw"),
            data={"csrf_token": page.csrf, "choice": "stop_contact", "reason": REASON},
        ).status_code
        == 403
    )
    assert served.audit("contacts_viewed") == []
    assert served.store.withdrawal_in_force(served.panel.member_ids["R001"]) is None


def test_interviewers_are_refused_and_strangers_sent_to_sign_in(served: Served) -> None:
    ivy = Staff(served.app, "ivy")
    token = ivy.get("/staff/login").csrf
    for path in ("/staff/panel/members", "/staff/panel/members?q=R001", served.path("R001"),
                 served.path("R001", "/withdrawal")):  # fmt: skip
        assert ivy.client.get(path).status_code == 403, path
    for tail in ("/contacts", "/withdraw"):
        data = {"csrf_token": token, "choice": "stop_contact", "reason": REASON}
        assert ivy.client.post(served.path("R001", tail), data=data).status_code == 403
    anonymous = served.app.test_client().get(served.path("R001"))
    assert anonymous.status_code == 303 and "/staff/login" in anonymous.headers["Location"]
    assert served.audit("contacts_viewed") == []


def test_an_unknown_pseudonym_is_404(served: Served) -> None:
    sam = Staff(served.app, "sam")
    token = sam.get("/staff/").csrf
    assert sam.get("/staff/panel/members/PNOSUCHONE2").status == 404
    assert sam.get("/staff/panel/members/R001").status == 404  # an external id is not a pseudonym
    for tail in ("/contacts", "/withdraw"):
        data = {"csrf_token": token, "choice": "stop_contact", "reason": REASON}
        assert sam.post(f"/staff/panel/members/PNOSUCHONE2{tail}", data).status_code == 404


# ----------------------------------------------------------------------------- contact details


@pytest.mark.parametrize("who", ["sam", "ada"])
def test_contact_details_are_shown_on_request_and_the_view_is_audited(
    served: Served, who: str
) -> None:
    staff = Staff(served.app, who)
    page = staff.get(served.path("R001"))
    assert "ann@example.org" not in page.html
    button = page.tree.xpath("//form[contains(@action, '/contacts')]//button")[0]
    assert button.text_content().strip() == "Show contact details"

    response = staff.post(served.path("R001", "/contacts"), staff.form(page, "/contacts"))
    shown = Page(response.status_code, response.get_data(as_text=True))
    assert shown.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    table = shown.text("//table[@id='member-contacts']")
    for value in ("Ann Example", "ann@example.org", PHONES["R001"], "1 High St", "SW1A 1AA"):
        assert value in table
    assert "recorded in the audit log" in shown.text()
    [entry] = served.audit("contacts_viewed")
    assert (entry.actor, entry.subject) == (who, f"member:{served.pseudonym('R001')}")
    assert entry.detail == {"contacts": 4}
    assert entry.at == NOW


def test_contacts_are_not_shown_nor_audited_without_csrf_or_keys(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    sam = Staff(served.app, "sam")
    assert sam.post(served.path("R001", "/contacts"), {}).status_code == 400
    page = sam.get(served.path("R001"))
    monkeypatch.delenv("INSTRUMENT_PANEL_KEYS")
    refused = _post(sam, served.path("R001", "/contacts"), {"csrf_token": page.csrf})
    assert refused.status == 503
    assert "no panel key: set INSTRUMENT_PANEL_KEYS" in refused.text()
    assert "ann@example.org" not in refused.html
    monkeypatch.setenv("INSTRUMENT_PANEL_KEYS", new_key())  # a key, but not this database's
    wrong = _post(sam, served.path("R001", "/contacts"), {"csrf_token": page.csrf})
    assert wrong.status == 503 and "ann@example.org" not in wrong.html
    assert served.audit("contacts_viewed") == []


# ----------------------------------------------------------------------------- withdrawal


def test_stop_contact_is_done_at_once_with_its_evidence(served: Served) -> None:
    sam = Staff(served.app, "sam")
    ann = served.panel.member_ids["R001"]
    page = sam.get(served.path("R001"))
    (fieldset,) = page.tree.xpath("//form[contains(@action, '/withdraw')]//fieldset")
    assert fieldset.xpath("string(legend)").strip() == "What did the member ask for?"
    radios = fieldset.xpath(".//input[@type='radio']")
    assert [r.get("value") for r in radios] == ["stop_contact", "delete_contacts", "delete_all"]
    for radio in radios:
        assert page.tree.xpath(f"//label[@for='{radio.get('id')}']")
        assert page.tree.xpath(f"//*[@id='{radio.get('aria-describedby')}']")

    done = _post(sam, served.path("R001", "/withdraw"),
                 _withdraw_form(page, choice="stop_contact", reason=REASON))  # fmt: skip
    assert done.status == 303 and done.location.endswith(served.path("R001", "/withdrawal"))
    store = served.store
    member = store.member_by_id(ann)
    assert member is not None and member.status == "withdrawn"
    assert store.queue_row(served.panel.cases["R001"]) is None
    assert len(store.member_contacts(ann)) == 4  # kept
    entry = store.member_history(ann)[-1]
    assert (entry.action, entry.actor, entry.at) == ("withdrawal", "sam", NOW)
    assert entry.after is not None
    assert (entry.after["choice"], entry.after["via"], entry.after["reason"]) == (
        "stop_contact", "staff", REASON,
    )  # fmt: skip
    [audit] = served.audit("withdraw_member")
    assert (audit.actor, audit.subject) == ("sam", f"member:{member.pseudonym}")
    assert audit.detail is not None and audit.detail["reason"] == REASON

    result = sam.get(served.path("R001", "/withdrawal"))
    assert result.tree.xpath("string(//h1)").strip() == "Contact stopped"
    evidence = result.text("//dl[@id='withdrawal-evidence']")
    assert "sam" in evidence and REASON in evidence and "2026-11-07 09:00" in evidence
    assert result.text("//dd[@data-count='queue_rows_removed']") == "1"
    # now only the stronger choices are offered
    again = sam.get(served.path("R001"))
    assert "In force: contact stopped on 2026-11-07 09:00 UTC" in again.text()
    assert [r.get("value") for r in again.tree.xpath("//input[@name='choice']")] == [
        "delete_contacts", "delete_all",
    ]  # fmt: skip


def test_deleting_contact_details_is_confirmed_first_and_says_what_goes(served: Served) -> None:
    sam = Staff(served.app, "sam")
    ann = served.panel.member_ids["R001"]
    page = sam.get(served.path("R001"))
    data = _withdraw_form(page, choice="delete_contacts", reason=REASON)
    check = _post(sam, served.path("R001", "/withdraw"), data)
    assert check.status == 200
    assert check.tree.xpath("string(//h1)").strip().endswith("Check before withdrawing")
    listed = check.text("//ul[@id='will-delete']")
    assert (
        "delete 4 contact details of the member (1 postal address, 1 email, 1 name, 1 phone)"
        in listed
    )
    assert "1 name and number record, 1 phone number and 0 appointments" in listed
    assert "keep their answers (1 interview)" in listed
    assert len(served.store.member_contacts(ann)) == 4  # nothing done yet
    assert served.store.withdrawal_in_force(ann) is None

    # "No, go back": the form again, with what was entered
    back = _post(
        sam, served.path("R001", "/withdraw"), {**sam.form(check, "/withdraw"), "back": "1"}
    )
    assert back.status == 200 and back.checked("choice") == ["delete_contacts"]
    assert back.value("reason") == REASON
    assert served.store.withdrawal_in_force(ann) is None

    confirm = sam.form(check, "/withdraw")
    assert confirm["confirm"] == "yes"
    done = _post(sam, served.path("R001", "/withdraw"), confirm)
    assert done.status == 303
    assert served.store.member_contacts(ann) == ()
    assert served.store.get_contact(served.panel.cases["R001"]) is None
    result = sam.get(done.location or "")
    assert result.tree.xpath("string(//h1)").strip() == (
        "Contact stopped and contact details deleted"
    )
    assert result.text("//dd[@data-count='contacts_deleted']") == "4"
    assert result.text("//dd[@data-count='answer_events_deleted']") == "0"


def test_deleting_answers_too_and_a_second_press_writes_nothing(served: Served) -> None:
    sam = Staff(served.app, "sam")
    bryn = served.panel.member_ids["R002"]
    case = served.panel.cases["R002"]
    page = sam.get(served.path("R002"))
    check = _post(sam, served.path("R002", "/withdraw"),
                  _withdraw_form(page, choice="delete_all", reason=REASON))  # fmt: skip
    listed = check.text("//ul[@id='will-delete']")
    events = len(served.store.events_for(_interview_of(served, case)))
    assert events >= 1
    assert f"answers of 1 interview ({events} entries in the answer log) in case {case}" in listed
    confirm = sam.form(check, "/withdraw")

    first = _post(sam, served.path("R002", "/withdraw"), confirm)
    history = served.store.member_history(bryn)
    second = _post(sam, served.path("R002", "/withdraw"), confirm)  # the button pressed again

    assert first.status == second.status == 303 and first.location == second.location
    assert served.store.member_history(bryn) == history
    assert len(served.audit("withdraw_member")) == 1
    with served.store.engine.connect() as connection:
        status = connection.execute(
            sa.select(interviews.c.status).where(interviews.c.case_id == case)
        ).scalar_one()
    assert status == "withdrawn"
    assert served.store.member_contacts(bryn) == ()
    assert SECRET_ANSWER not in repr(served.store.load_interview(_interview_of(served, case)).state)
    result = sam.get(first.location or "")
    assert result.tree.xpath("string(//h1)").strip() == (
        "Contact stopped, contact details and answers deleted"
    )
    assert result.text("//dd[@data-count='cases_withdrawn']") == "1"
    assert result.text("//dd[@data-count='answer_events_deleted']") == str(events)
    page = sam.get(served.path("R002"))
    assert not page.tree.xpath("//form[contains(@action, '/withdraw')]")
    assert "Nothing more can be withdrawn" in page.text()
    assert "withdrawn" in page.text("//table[@id='member-waves']")


def _interview_of(served: Served, case_id: str) -> str:
    with served.store.engine.connect() as connection:
        return str(
            connection.execute(
                sa.select(interviews.c.id).where(interviews.c.case_id == case_id)
            ).scalar_one()
        )


def test_a_weaker_choice_than_the_one_in_force_changes_nothing(served: Served) -> None:
    sam = Staff(served.app, "sam")
    ann = served.panel.member_ids["R001"]
    served.store.withdraw_member(
        ann, "delete_contacts", actor="member:link", by_staff=False, via="link", now=T0
    )
    history = served.store.member_history(ann)
    page = sam.get(served.path("R001"))
    assert [r.get("value") for r in page.tree.xpath("//input[@name='choice']")] == ["delete_all"]
    stale = _post(sam, served.path("R001", "/withdraw"),
                  _withdraw_form(page, choice="stop_contact", reason=REASON))  # fmt: skip
    assert stale.status == 303 and stale.location and stale.location.endswith("/withdrawal")
    assert served.store.member_history(ann) == history
    assert served.audit("withdraw_member") == []
    result = sam.get(stale.location)
    assert "member:link (the member)" in result.text() and "link" in result.text()


def test_a_form_with_mistakes_says_where_and_keeps_what_was_typed(served: Served) -> None:
    sam = Staff(served.app, "sam")
    page = sam.get(served.path("R001"))
    nothing = _post(sam, served.path("R001", "/withdraw"), _withdraw_form(page, reason=REASON))
    assert nothing.status == 400 and nothing.title.startswith("Error: ")
    assert [href for href, _ in nothing.summary] == ["#f-choice"]
    assert "Choose what the member asked for" in _field_error(nothing, "f-choice")
    assert nothing.value("reason") == REASON

    no_reason = _post(sam, served.path("R001", "/withdraw"),
                      _withdraw_form(page, choice="delete_all", reason="   "))  # fmt: skip
    assert no_reason.status == 400
    assert [href for href, _ in no_reason.summary] == ["#f-reason"]
    assert "Write how the member asked" in _field_error(no_reason, "f-reason")
    assert no_reason.checked("choice") == ["delete_all"]

    long = _post(sam, served.path("R001", "/withdraw"),
                 _withdraw_form(page, choice="stop_contact", reason="x" * 501))  # fmt: skip
    assert long.status == 400 and "501 characters long" in _field_error(long, "f-reason")
    assert served.store.withdrawal_in_force(served.panel.member_ids["R001"]) is None


def test_a_withdrawal_without_its_csrf_token_is_refused(served: Served) -> None:
    sam = Staff(served.app, "sam")
    data = {"choice": "delete_all", "reason": REASON, "confirm": "yes"}
    assert sam.post(served.path("R001", "/withdraw"), data).status_code == 400
    forged = sam.post(served.path("R001", "/withdraw"), {**data, "csrf_token": "forged"})
    assert forged.status_code == 400
    ann = served.panel.member_ids["R001"]
    assert served.store.withdrawal_in_force(ann) is None
    assert len(served.store.member_contacts(ann)) == 4


def test_a_spam_complaint_shows_on_its_message_in_the_messages_table(served: Served) -> None:
    """The complaint kept on the message (instrument/store/panel_complaints.py) is told on its
    row of the messages table, not only by the opt-out in the history; other rows say nothing."""
    store = served.store
    three_days = T0 + dt.timedelta(days=3)
    emailed_ann(store, served.panel, "reminder", "sent", three_days, three_days)
    rita = Staff(served.app, "rita")

    def states() -> list[str]:
        page = rita.get(served.path("R001"))
        assert page.status == 200
        return [
            row.xpath("string(td[6])")
            for row in page.tree.xpath("//table[@id='member-messages']/tbody/tr")
        ]

    assert states() == ["delivered", "sent"]
    message = store.email_message_quoted(keys=["w1-K0001-remind-email"], message_ids=[])
    assert message is not None
    recorded = store.record_complaint(
        message,
        complaint={"feedback_type": "abuse", "reported_by": "feedback-loop"},
        now=T0 + dt.timedelta(days=4, hours=2, minutes=5),
        actor="cli:intake",
    )
    assert recorded.new
    # a complaint proves the reminder arrived: delivered, and marked as spam, with when
    assert states() == ["delivered", "delivered: marked as spam (abuse), recorded 2026-11-06 11:05"]
    # the same report read again changes nothing, on the page either
    assert not store.record_complaint(
        message, complaint={"feedback_type": "abuse"}, now=NOW, actor="cli:intake"
    ).new
    assert states()[1] == "delivered: marked as spam (abuse), recorded 2026-11-06 11:05"
