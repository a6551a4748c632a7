"""Withdrawal honoured across a whole wave, on SQLite and PostgreSQL: the fieldwork worker sends
the flagship wave's invitations to a real SMTP server, members follow the stop link in the email
they received (one-click from Ann's mail client; Bryn, in Welsh, deletes everything; Eve, who
had finished, withdraws her answers), and for the rest of the wave the worker sends them nothing,
the phone queue never gets them, and the export leaves out what was withdrawn."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import lxml.html
import pytest

from instrument.dataset.builder import build_dataset
from instrument.questionnaires import open_questionnaire
from instrument.server.app import get_host
from instrument.store import Store
from instrument.store.schema import case_queue
from tests.store_fixtures import *
from tests.test_channels_email import LoopbackController, Mailbox, smtp_server
from tests.test_fieldwork_worker import (
    BASE,
    Channels,
    a_worker,
    finish,
    run_until_idle,
    steps_of,
)
from tests.test_panel_waves_store import (
    DAY0,
    OPENED,
    PANEL,
    QUESTIONNAIRE,
    Panel,
    import_panel,
    member_case,
    open_flagship,
    panel_keys,
)
from tests.test_web_support import FakeClock, make_app

__all__ = ["smtp_server"]  # the fixture, imported to be found


@pytest.fixture
def wave(
    database_url: str,
    smtp_server: tuple[LoopbackController, Mailbox],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Any, Panel, Channels, FakeClock]]:
    """The web app and the worker on one store, the flagship wave open, the keys in the environment."""
    keys = panel_keys()
    monkeypatch.setenv("INSTRUMENT_PANEL_KEYS", keys.keys[0])
    monkeypatch.delenv("INSTRUMENT_PANEL_KEY_FILE", raising=False)
    clock = FakeClock(OPENED)
    app = make_app(database_url, clock)
    panel = import_panel(get_host(app).store, keys)
    open_flagship(panel)
    channels = Channels(*smtp_server, clock)
    try:
        yield app, panel, channels, clock
    finally:
        channels.close()
        get_host(app).store.close()


def _stop_link(mailbox: Mailbox, address: str) -> str:
    """The path of the stop link in ``List-Unsubscribe`` of the last email to ``address``."""
    (received,) = [r for r in mailbox.received if address in r.rcpt_tos][-1:]
    found = re.match(r"<(\S+)>", str(received.message["List-Unsubscribe"]))
    assert found is not None and found.group(1).startswith(BASE + "/web/unsubscribe/")
    assert found.group(1) in received.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    return found.group(1).removeprefix(BASE)


def _choose(client: Any, path: str, choice: str) -> str:
    page = lxml.html.fromstring(client.get(path).get_data(as_text=True))
    token = page.xpath("//input[@name='csrf_token']/@value")[0]
    response = client.post(path, data={"csrf_token": token, "choice": choice})
    assert response.status_code == 200
    return str(lxml.html.fromstring(response.get_data(as_text=True)).text_content())


def _left_out(store: Store) -> dict[str, int]:
    questionnaire = open_questionnaire(QUESTIONNAIRE).questionnaire
    assert questionnaire is not None
    record = store.get_wave(PANEL, "w1")
    assert record is not None
    dataset = build_dataset(
        questionnaire,
        store.iter_export_records(questionnaire.id),
        versions={record.questionnaire_version_id: questionnaire},
        include_partial=True,
    )
    return dict(dataset.left_out)


def test_the_stop_link_in_a_real_email_is_honoured_for_the_rest_of_the_wave(wave: Any) -> None:
    app, panel, channels, clock = wave
    store = panel.store
    client = app.test_client()
    worker = a_worker(panel, channels, clock)
    clock.now = DAY0
    run_until_idle(worker)
    assert {"ann@example.org", "bryn@example.org", "eve@example.org"} <= {
        address for r in channels.mailbox.received for address in r.rcpt_tos
    }

    # Ann's mail client: the one-click POST of RFC 8058 to the List-Unsubscribe link
    ann_link = _stop_link(channels.mailbox, "ann@example.org")
    one_click = client.post(ann_link, data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    # Bryn (Welsh) opens the link from his email and deletes everything
    bryn_link = _stop_link(channels.mailbox, "bryn@example.org")
    welsh = client.get(bryn_link).get_data(as_text=True)
    assert 'lang="cy"' in welsh and "Beth hoffech chi i ni ei wneud?" in welsh
    assert "wedi dileu eich manylion cyswllt a'ch atebion" in _choose(
        client, bryn_link, "delete_all"
    )
    # Eve finishes on day 2, then withdraws her answers through the same link
    eve_case = member_case(store, "F005")
    finish(store, eve_case, DAY0 + dt.timedelta(days=2))
    assert _left_out(store).get("withdrawn", 0) == 0
    clock.now = DAY0 + dt.timedelta(days=2, hours=1)
    eve_link = _stop_link(channels.mailbox, "eve@example.org")
    assert "deleted your contact details and your answers" in _choose(
        client, eve_link, "delete_all"
    )

    for day in (3, 7, 12, 14, 21, 28):
        clock.now = DAY0 + dt.timedelta(days=day)
        run_until_idle(worker)

    # nothing more was sent to any of them, and nobody was put in the phone queue for a call
    for external_id in ("F001", "F002", "F005"):
        assert {step for step, _, _ in steps_of(store, external_id)} <= {"day0-invitation"}, (
            external_id,
            steps_of(store, external_id),
        )
    with store.engine.connect() as connection:
        queued = set(connection.execute(case_queue.select()).scalars())
    assert not queued & {member_case(store, m) for m in ("F001", "F002", "F005")}
    # the evidence, one entry each
    for external_id, via, choice in (
        ("F001", "one_click", "stop_contact"),
        ("F002", "link", "delete_all"),
        ("F005", "link", "delete_all"),
    ):
        member = store.get_member(PANEL, external_id=external_id)
        assert member is not None and member.status == "withdrawn"
        (entry,) = [e for e in store.member_history(member.id) if e.action == "withdrawal"]
        assert (entry.after["via"], entry.after["choice"]) == (via, choice)  # type: ignore[index]
    # Bryn's contact details are gone; Eve's interview (the only one: Ann and Bryn never began)
    # is out of the data
    assert store.member_contacts(store.get_member(PANEL, external_id="F002").id) == ()  # type: ignore[union-attr]
    assert _left_out(store) == {"withdrawn": 1}
