"""Finding a panel member by an email address, a phone number or a name (issue 13), through Flask's
test client on SQLite and PostgreSQL.

The detail goes in a POST's body and in no address: the answer is a redirect to the member's
page, or to a result page whose address holds a signed reference to the search's audit entry.
Checked: each kind of detail (normalised as the import normalises it), what the audit log
keeps (never the detail), that no address the browser is sent to holds it, the result page's
owner and lifetime, mistakes beside the field (nothing searched, nothing logged), the roles
that may search (not researchers), and a server without the panel keys. Also the member page's
history of a spam complaint's opt-out.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
from typing import Any

import pytest
from phone_supervisor_helpers import PASSWORD
from test_phone_supervisor import Staff
from test_web_support import FakeClock, Page

from instrument.interviews.phone_sample import parse_number
from instrument.panel.crypto import ContactSealer
from instrument.panel.members import seal_row
from instrument.panel.members_csv import parse_members
from instrument.server.app import get_host
from instrument.server.panel_member_search import RESULT_LIFETIME, read_detail
from instrument.store import Store
from instrument.store.panel_members import MemberRecord
from tests.panel_withdrawal_helpers import PHONES, T0
from tests.store_fixtures import database_url, postgres_database  # noqa: F401 (fixtures)
from tests.test_panel_member_pages import Served, served  # noqa: F401 (a fixture)

SEARCH = "/staff/panel/members/search"


def search(staff: Staff, detail: str) -> Any:
    """What the server answers to the detail form posted with ``detail``."""
    page = staff.get("/staff/panel/members")
    return staff.post(SEARCH, {**staff.form(page, "/search"), "detail": detail})


def searches(served: Served) -> list[Any]:
    return served.audit("members_searched")


def clock_of(served: Served) -> FakeClock:
    clock = get_host(served.app).context.clock
    assert isinstance(clock, FakeClock)
    return clock


def add_member_of_another_panel(store: Store, sealer: ContactSealer, email: str) -> MemberRecord:
    """H042 of ``otherpanel``, whose email address is ``email`` (Ann's, written otherwise)."""
    rows = parse_members(
        f"external_id,name,email\nH042,Huw Example,{email}\n", source="other.csv",
        parse_phone=functools.partial(parse_number, region="GB"), now=T0,
    )  # fmt: skip
    store.import_members(
        "otherpanel", [seal_row(r, sealer, recorded_by="t") for r in rows], now=T0, actor="t"
    )
    other = store.get_member("otherpanel", external_id="H042")
    assert other is not None
    return other


@pytest.mark.parametrize(
    ("detail", "kind"),
    [
        ("ann@example.org", "email"),
        ("  Ann@Example.ORG ", "email"),
        ("07911 123456", "phone"),
        ("+44 7911 123456", "phone"),
        ("ann   EXAMPLE", "name"),
    ],
)
def test_one_member_found_by_a_detail_opens_their_page_and_is_audited(
    served: Served, detail: str, kind: str
) -> None:
    sam = Staff(served.app, "sam")
    answer = search(sam, detail)
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith(served.path("R001"))
    (entry,) = searches(served)
    assert (entry.actor, entry.subject) == ("sam", f"member:{served.pseudonym('R001')}")
    assert entry.detail == {"by": kind, "matches": 1, "members": [served.pseudonym("R001")]}
    assert detail.strip().lower() not in str(entry).lower()


def test_a_detail_several_members_share_is_listed_behind_an_opaque_address(
    served: Served,
) -> None:
    huw = add_member_of_another_panel(served.store, served.panel.sealer, "ANN@example.org")
    sam = Staff(served.app, "sam")
    answer = search(sam, "ann@example.org")
    assert answer.status_code == 303
    location = answer.headers["Location"]
    token = location.rsplit("/", 1)[1]
    assert location.startswith("/staff/panel/members/found/")
    padded = token.split(".")[0] + "=" * (-len(token.split(".")[0]) % 4)
    assert b"example" not in base64.urlsafe_b64decode(padded) and "ann" not in location.lower()

    page = sam.get(location)
    assert page.status == 200
    assert page.title.startswith("Members found by email address")
    listed = [
        [cell.text_content() for cell in row.xpath("th|td")]
        for row in page.tree.xpath("//table[@id='member-matches']/tbody/tr")
    ]
    assert listed == [
        [served.pseudonym("R001"), "natpanel", "R001", "active"],
        [huw.pseudonym, "otherpanel", "H042", "active"],
    ]
    assert "ann@example.org" not in page.html.lower()
    response = sam.client.get(location)
    assert response.headers["Cache-Control"] == "no-store"
    assert sam.get(location).html == page.html  # a reload shows the same, and searches nothing
    (entry,) = searches(served)
    assert entry.subject is None and entry.detail["matches"] == 2  # type: ignore[index]

    # only for the person who searched, and only for a while
    served.store.create_staff_user("sue", PASSWORD, role="supervisor")
    assert Staff(served.app, "sue").client.get(location).status_code == 404
    assert sam.client.get(location[:-3] + "abc").status_code == 404  # tampered
    clock_of(served).advance(RESULT_LIFETIME.total_seconds() + 1)
    expired = sam.get(location)
    assert expired.status == 410 and "This search has expired" in expired.title


def test_nothing_found_is_said_on_the_result_page_and_audited(served: Served) -> None:
    sam = Staff(served.app, "sam")
    answer = search(sam, "nobody@example.org")
    assert answer.status_code == 303
    page = sam.get(answer.headers["Location"])
    assert page.status == 200
    assert page.tree.xpath("string(//h1)") == "No member has this email address"
    assert "nobody" not in page.html
    (entry,) = searches(served)
    assert entry.detail == {"by": "email", "matches": 0, "members": []}


@pytest.mark.parametrize(
    ("detail", "message"),
    [
        ("", "Enter an email address, a phone number or a full name"),
        ("ann@", "Enter the whole email address, like name@example.org"),
        ("ann@example", "Enter the whole email address, like name@example.org"),
        ("0791", "Enter the whole phone number, with its area code"),
        ("01234 5", "This is not a phone number that can be dialled"),
        ("-- ..", "Enter the whole phone number"),
        ("x" * 201, "This is 201 characters long: a detail is at most 200"),
    ],
)
def test_a_detail_that_cannot_be_one_is_an_error_beside_the_field(
    served: Served, detail: str, message: str
) -> None:
    sam = Staff(served.app, "sam")
    answer = search(sam, detail)
    page = Page(answer.status_code, answer.get_data(as_text=True))
    assert page.status == 400
    assert page.title.startswith("Error: Find a panel member")
    assert page.summary[0][0] == "#f-detail" and message in page.summary[0][1]
    assert message in page.text("//*[@id='f-detail-error']")
    assert page.tree.xpath("//input[@id='f-detail']")[0].get("value") == " ".join(detail.split())
    assert answer.headers["Cache-Control"] == "no-store"
    assert searches(served) == []  # nothing searched, nothing logged


def test_researchers_search_by_id_only_and_csrf_is_needed(served: Served) -> None:
    rita = Staff(served.app, "rita")
    page = rita.get("/staff/panel/members")
    assert not page.tree.xpath("//form[contains(@action, '/search')]")
    assert "Supervisors and admins can find a member by their email address" in page.html
    token = page.csrf
    refused = rita.post(SEARCH, {"csrf_token": token, "detail": "ann@example.org"})
    assert refused.status_code == 403
    sam = Staff(served.app, "sam")
    assert sam.post(SEARCH, {"detail": "ann@example.org"}).status_code == 400  # no CSRF token
    assert (
        Staff(served.app, "ada")
        .get("/staff/panel/members")
        .tree.xpath("//form[contains(@action, '/search')]//input[@id='f-detail']")
    )  # admins may
    assert searches(served) == []


def test_without_the_panel_keys_nothing_is_searched(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    sam = Staff(served.app, "sam")
    page = sam.get("/staff/panel/members")
    monkeypatch.delenv("INSTRUMENT_PANEL_KEYS")
    answer = sam.post(SEARCH, {**sam.form(page, "/search"), "detail": PHONES["R001"]})
    assert answer.status_code == 503
    assert "Members cannot be searched by a detail on this server" in answer.get_data(as_text=True)
    assert searches(served) == []


def test_the_rules_that_tell_the_kinds_apart() -> None:
    def gb(text: str) -> str:
        return parse_number(text, "GB")

    assert read_detail("Ann@Example.org", gb) == read_detail("ann@example.org", gb)
    assert read_detail("(07911) 123-456", gb).kind == "phone"  # type: ignore[union-attr]
    assert read_detail("O'Brien-Jones", gb).kind == "name"  # type: ignore[union-attr]
    assert read_detail("Siân  Ŵyn", gb).value == "siân ŵyn"  # type: ignore[union-attr]
    assert read_detail("a\x00b", gb) == "This contains a NUL character: type it again"


def test_a_spam_complaint_s_opt_out_is_told_in_the_member_s_history(served: Served) -> None:
    """The opt-out a spam complaint writes (instrument/store/panel_complaints.py) on the page."""
    message = served.store.email_message_quoted(keys=["w1-K0001-invite-email"], message_ids=[])
    assert message is not None
    recorded = served.store.record_complaint(
        message, complaint={"feedback_type": "abuse"}, now=T0 + dt.timedelta(days=1), actor="cli:t"
    )
    assert (recorded.new, recorded.opted_out) == (True, 1)
    page = Staff(served.app, "rita").get(served.path("R001"))
    rows = [
        [cell.text_content() for cell in row.xpath("td")]
        for row in page.tree.xpath("//table[@id='member-history']/tbody/tr")
    ]
    (opted_out,) = [row for row in rows if row[1] == "opted_out"]
    assert opted_out[2] == "cli:t"
    assert opted_out[3].startswith("email:1:")
    assert opted_out[3].endswith(": spam complaint (abuse) about w1-K0001-invite-email")
