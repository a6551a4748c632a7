"""The member's stop link in the web mode, through Flask's test client on a real store: the page
with its three choices, the POST that does the choice at once, RFC 8058 one-click, a second
submission that changes nothing, tampered and unknown tokens, Welsh, and no panel keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_web_support import FakeClock, Page, close_app, make_app

from instrument.panel.crypto import PanelKeys, new_key
from instrument.panel.member_links import (
    LINK_SECRET,
    new_link_secret,
    open_link_key,
    unsubscribe_path,
    unsubscribe_token,
)
from instrument.server.app import get_host
from instrument.store import Store
from tests.panel_withdrawal_helpers import PHONES, T0, Panel, set_up_panel


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Panel, bytes]]:
    """The app with a panel set up; the panel keys in the environment, as in production."""
    key = new_key()
    monkeypatch.setenv("INSTRUMENT_PANEL_KEYS", key)
    monkeypatch.delenv("INSTRUMENT_PANEL_KEY_FILE", raising=False)
    keys = PanelKeys.parse([key], source="INSTRUMENT_PANEL_KEYS")
    app = make_app(f"sqlite:///{tmp_path / 'web.db'}", FakeClock(T0))
    store = get_host(app).store
    panel = set_up_panel(store, keys)
    stored = store.panel_secret(LINK_SECRET, create=lambda: new_link_secret(keys), now=T0)
    try:
        yield app, panel, open_link_key(keys, stored)
    finally:
        close_app(app)


def _store(app: Any) -> Store:
    return get_host(app).store  # type: ignore[no-any-return]


def _get(client: Any, path: str, **headers: str) -> Page:
    response = client.get(path, headers=headers)
    return Page(response.status_code, response.get_data(as_text=True))


def _choose(client: Any, path: str, page: Page, choice: str | None) -> Page:
    data = {"csrf_token": page.csrf}
    if choice is not None:
        data["choice"] = choice
    response = client.post(path, data=data)
    return Page(response.status_code, response.get_data(as_text=True))


def test_the_page_offers_three_explained_choices_in_a_fieldset(served: Any) -> None:
    app, panel, key = served
    path = unsubscribe_path(key, panel.member_ids["R001"], panel.wave_id)
    assert path.startswith("/web/unsubscribe/")
    page = _get(app.test_client(), path)
    assert page.status == 200
    assert page.tree.get("lang") == "en"
    assert page.title == "Stop contact or leave the panel – Research panel"
    (fieldset,) = page.tree.xpath("//main//form//fieldset")
    assert fieldset.xpath("string(legend)").strip() == "What would you like us to do?"
    radios = fieldset.xpath(".//input[@type='radio']")
    assert [r.get("value") for r in radios] == ["stop_contact", "delete_contacts", "delete_all"]
    assert not any(r.get("checked") is not None for r in radios)  # nothing chosen for them
    for radio in radios:
        (label,) = page.tree.xpath(f"//label[@for='{radio.get('id')}']")
        (hint,) = page.tree.xpath(f"//*[@id='{radio.get('aria-describedby')}']")
        assert label.text_content().strip() and len(hint.text_content()) > 60
    assert "answers you have already given are kept" in page.text()
    assert "delete every answer you have given" in page.text()
    assert page.csrf  # a CSRF token in the form
    # nothing was written by looking
    assert _store(app).withdrawal_in_force(panel.member_ids["R001"]) is None


def test_a_choice_is_done_at_once_and_a_second_submission_changes_nothing(served: Any) -> None:
    app, panel, key = served
    ann = panel.member_ids["R001"]
    path = unsubscribe_path(key, ann, panel.wave_id)
    client = app.test_client()
    page = _get(client, path)

    done = _choose(client, path, page, "delete_contacts")

    assert done.status == 200
    assert done.tree.xpath("string(//h1)").strip() == "Done"
    assert "We have stopped contacting you and deleted your contact details." in done.text()
    store = _store(app)
    assert store.member_contacts(ann) == ()
    assert store.queue_row(panel.cases["R001"]) is None
    entry = store.member_history(ann)[-1]
    assert (entry.action, entry.actor) == ("withdrawal", "member:link")
    assert entry.after is not None
    assert (entry.after["choice"], entry.after["via"], entry.after["wave"]) == (
        "delete_contacts", "link", panel.wave_id,
    )  # fmt: skip
    history = store.member_history(ann)

    for choice in ("delete_contacts", "stop_contact"):
        again = _choose(client, path, _get(client, path), choice)
        assert again.status == 200
        assert again.tree.xpath("string(//h1)").strip() == "Already done"
        assert (
            "On 02/11/2026 you asked us to stop contacting you and to delete your contact details."
            in again.text()
        )
    assert store.member_history(ann) == history
    # the page itself now says what is in force
    assert "On 02/11/2026 you asked us" in _get(client, path).text()

    more = _choose(client, path, _get(client, path), "delete_all")
    assert "deleted your contact details and your answers" in more.text()
    (interview,) = store.interviews_for_case(panel.cases["R001"])
    assert store.load_interview(interview.id).status == "withdrawn"


def test_the_form_needs_its_csrf_token_and_a_choice(served: Any) -> None:
    app, panel, key = served
    ann = panel.member_ids["R001"]
    path = unsubscribe_path(key, ann, panel.wave_id)
    client = app.test_client()
    forged = client.post(path, data={"choice": "delete_all"})
    assert forged.status_code == 400
    page = _get(client, path)
    empty = _choose(client, path, page, None)
    assert empty.status == 400
    assert empty.title.startswith("Error: ")
    assert empty.tree.xpath("//div[@class='error-summary']//a/@href") == ["#f-choice"]
    assert (
        empty.tree.xpath("string(//p[@id='err-choice'])")
        .strip()
        .endswith("Choose what you would like us to do")
    )
    odd = _choose(client, path, page, "forget_everything")
    assert odd.status == 400
    assert _store(app).withdrawal_in_force(ann) is None


def test_one_click_stops_contact_without_a_form_and_only_once(served: Any) -> None:
    app, panel, key = served
    bryn = panel.member_ids["R002"]
    path = unsubscribe_path(key, bryn, panel.wave_id)
    client = app.test_client()
    # as a mail client sends it (RFC 8058): no cookie, no CSRF token, this exact body
    response = client.post(
        path,
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    store = _store(app)
    assert store.withdrawal_in_force(bryn) == ("stop_contact", T0)
    member = store.member_by_id(bryn)
    assert member is not None and member.status == "withdrawn"
    assert len(store.member_contacts(bryn)) == 4  # one click never deletes anything
    entry = store.member_history(bryn)[-1]
    assert (entry.actor, entry.after["via"]) == ("member:one-click", "one_click")  # type: ignore[index]
    history = store.member_history(bryn)
    again = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200 and store.member_history(bryn) == history
    assert store.queue_row(panel.cases["R002"]) is None


def test_a_bad_token_is_a_page_saying_the_link_is_not_valid(served: Any) -> None:
    app, panel, key = served
    client = app.test_client()
    token = unsubscribe_token(key, panel.member_ids["R001"], panel.wave_id)
    member, wave, mac = token.split(".")
    for bad in (
        f"{panel.member_ids['R002']}.{wave}.{mac}",  # Ann's MAC on Bryn's id
        f"{member}.{wave}.{mac[:-2]}",
        f"{member}.{wave}.{'A' * 22}",
        "nothing-like-a-token",
        unsubscribe_token(key, 999_999, panel.wave_id),  # ours, but nobody's
    ):
        page = _get(client, f"/web/unsubscribe/{bad}")
        assert page.status == 404, bad
        assert page.tree.xpath("string(//h1)").strip() == "This link is not valid"
        assert page.tree.xpath("//form") == []
        posted = client.post(f"/web/unsubscribe/{bad}", data={"List-Unsubscribe": "One-Click"})
        assert posted.status_code == 404
    assert _store(app).withdrawal_in_force(panel.member_ids["R001"]) is None
    welsh = _get(client, "/web/unsubscribe/x.1.y", **{"Accept-Language": "cy"})
    assert welsh.tree.xpath("string(//h1)").strip() == "Nid yw'r ddolen hon yn ddilys"


def test_a_welsh_member_gets_the_page_in_welsh_and_may_switch(served: Any) -> None:
    app, panel, key = served
    bryn = panel.member_ids["R002"]  # language cy in the members file
    path = unsubscribe_path(key, bryn, panel.wave_id)
    client = app.test_client()
    page = _get(client, path)
    assert page.tree.get("lang") == "cy"
    assert page.title == "Rhoi'r gorau i gysylltu neu adael y panel – Panel ymchwil"
    assert page.tree.xpath("string(//legend)").strip() == "Beth hoffech chi i ni ei wneud?"
    assert "Peidiwch â chysylltu â mi" in page.text()
    assert "Stop contacting me" not in page.text()
    (english,) = page.tree.xpath("//a[@hreflang='en']")
    assert english.text_content().strip() == "English"
    assert _get(client, english.get("href")).tree.get("lang") == "en"
    done = _choose(client, path, page, "stop_contact")
    assert done.tree.get("lang") == "cy"
    assert "Rydym wedi rhoi'r gorau i gysylltu â chi." in done.text()


def test_without_the_panel_keys_the_page_says_so_rather_than_pretend(
    served: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, panel, key = served
    monkeypatch.delenv("INSTRUMENT_PANEL_KEYS")
    response = app.test_client().get(unsubscribe_path(key, panel.member_ids["R001"]))
    assert response.status_code == 503
    assert PHONES["R001"] not in response.get_data(as_text=True)
