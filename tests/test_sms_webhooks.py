"""The SMS webhooks of the phone mode, on SQLite and PostgreSQL: requests signed as Twilio signs
them (RequestValidator over the public URL), 403 without; a member's STOP marks their number at
once and is recorded once however often Twilio retries; START lifts it for SMS only; delivery
reports move a message's state forward only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from twilio.request_validator import RequestValidator

from instrument.panel.crypto import PanelKeys, new_key
from instrument.panel.members import lookup_form
from instrument.server.app import create_app, get_host
from instrument.store import Store
from instrument.store.schema import member_contacts, panel_messages
from tests.panel_withdrawal_helpers import PHONES, T0, Panel, set_up_panel
from tests.store_fixtures import *
from tests.test_sms_interviews import twilio_env

PUBLIC = "https://survey.example.org"
TOKEN = "0123456789abcdef" * 2
ENV = {
    "INSTRUMENT_TWILIO_ACCOUNT_SID": "AC" + "ab" * 16,
    "INSTRUMENT_TWILIO_AUTH_TOKEN": TOKEN,
    "INSTRUMENT_TWILIO_CALLER_ID": "+442071234567",
    "INSTRUMENT_PUBLIC_URL": PUBLIC,
}
MINI = "tests/data/mini.yaml"
NOW = T0 + dt.timedelta(days=1)


@dataclass
class Sms:
    app: Any
    store: Store
    panel: Panel

    def post(
        self, path: str, form: Mapping[str, str], *, signed: bool = True, query: str = ""
    ) -> Any:
        """POST as Twilio does: the form, signed over the public URL with the auth token."""
        url = f"{PUBLIC}/cati/sms/{path}" + (f"?{query}" if query else "")
        headers = {}
        if signed:
            headers["X-Twilio-Signature"] = RequestValidator(TOKEN).compute_signature(
                url, dict(form)
            )
        target = f"/cati/sms/{path}" + (f"?{query}" if query else "")
        return self.app.test_client().post(target, data=dict(form), headers=headers)

    def reply(self, sender: str, body: str, **kw: Any) -> Any:
        form = {
            "MessageSid": "SM" + "1" * 32, "AccountSid": ENV["INSTRUMENT_TWILIO_ACCOUNT_SID"],
            "From": sender, "To": "+447400123456", "Body": body, "NumSegments": "1",
        }  # fmt: skip
        return self.post("inbound", form, **kw)

    def opted_out_at(self, external_id: str) -> dt.datetime | None:
        number = self.panel.sealer.lookup_hash("phone", lookup_form("phone", PHONES[external_id]))
        with self.store.engine.connect() as connection:
            return connection.scalar(  # type: ignore[no-any-return]
                sa.select(member_contacts.c.opted_out_at).where(
                    member_contacts.c.lookup_hash == number
                )
            )


def twilio_and_panel_keys(monkeypatch: pytest.MonkeyPatch) -> str:
    """Twilio's settings as these tests sign with, and a fresh panel key (returned) in
    ``INSTRUMENT_PANEL_KEYS``; nothing else of the machine's telephony settings."""
    twilio_env(monkeypatch)
    key = new_key()
    monkeypatch.setenv("INSTRUMENT_PANEL_KEYS", key)
    monkeypatch.delenv("INSTRUMENT_PANEL_KEY_FILE", raising=False)
    return key


@pytest.fixture
def sms(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sms]:
    key = twilio_and_panel_keys(monkeypatch)
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "DATABASE_URL": database_url,
            "QUESTIONNAIRES": [MINI],
            "CLOCK": lambda: NOW,
        }
    )
    store = get_host(app).store
    panel = set_up_panel(store, PanelKeys.parse([key], source="INSTRUMENT_PANEL_KEYS"))
    try:
        yield Sms(app, store, panel)
    finally:
        store.close()


def test_unsigned_or_wrongly_signed_requests_are_refused_and_change_nothing(sms: Sms) -> None:
    assert sms.reply(PHONES["R001"], "STOP", signed=False).status_code == 403
    form = {"MessageSid": "SM" + "2" * 32, "MessageStatus": "delivered"}
    assert sms.post("status", form, signed=False).status_code == 403
    forged = sms.app.test_client().post(
        "/cati/sms/inbound",
        data={"From": PHONES["R001"], "Body": "STOP"},
        headers={"X-Twilio-Signature": RequestValidator("f" * 32).compute_signature(
            f"{PUBLIC}/cati/sms/inbound", {"From": PHONES["R001"], "Body": "STOP"}
        )},
    )  # fmt: skip
    assert forged.status_code == 403
    assert sms.opted_out_at("R001") is None


def test_stop_marks_the_number_at_once_and_a_retry_records_nothing_more(sms: Sms) -> None:
    ann = sms.panel.member_ids["R001"]
    response = sms.reply(PHONES["R001"], "Stop.")
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    body = response.get_data(as_text=True)
    assert "<Response" in body and "<Message" not in body  # Twilio confirms, we say nothing
    assert sms.opted_out_at("R001") == NOW
    history = sms.store.member_history(ann)
    assert (history[-1].action, history[-1].actor) == ("opted_out", "member:sms")
    assert history[-1].after is not None and history[-1].after["contact"].startswith("phone:1:")

    assert sms.reply(PHONES["R001"], "Stop.").status_code == 200  # Twilio's retry
    assert sms.store.member_history(ann) == history
    # the other member, and a reply that is not the keyword alone, change nothing
    assert sms.opted_out_at("R002") is None
    assert sms.reply(PHONES["R002"], "please stop sending me these").status_code == 200
    assert sms.opted_out_at("R002") is None
    # a number no member has: answered, nothing stored
    assert sms.reply("+447911000000", "STOP").status_code == 200


def test_start_lifts_only_the_sms_stop(sms: Sms) -> None:
    bryn = sms.panel.member_ids["R002"]
    sms.store.withdraw_member(
        bryn, "stop_contact", actor="member:link", by_staff=False, via="link", now=T0
    )
    sms.reply(PHONES["R002"], "STOP")
    assert sms.opted_out_at("R002") == NOW
    assert sms.reply(PHONES["R002"], "start").status_code == 200
    assert sms.opted_out_at("R002") is None
    assert sms.store.member_history(bryn)[-1].action == "sms_start"
    member = sms.store.member_by_id(bryn)
    assert member is not None and member.status == "withdrawn"  # still withdrawn


def test_without_the_panel_keys_a_stop_is_a_503_not_silence(
    sms: Sms, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INSTRUMENT_PANEL_KEYS")
    assert sms.reply(PHONES["R001"], "STOP").status_code == 503
    assert sms.reply(PHONES["R001"], "hello").status_code == 200  # nothing to match


def _message(store: Store, panel: Panel, key: str, provider_id: str | None, state: str) -> None:
    with store.engine.begin() as connection:
        connection.execute(
            panel_messages.insert().values(
                wave_id=panel.wave_id, member_id=panel.member_ids["R001"],
                case_id=panel.cases["R001"], kind="invitation", step="invite", channel="sms",
                template="invitation", language="en", contact_kind="phone", contact_rank=1,
                idempotency_key=key, state=state, attempts=1, provider_id=provider_id,
                created_at=T0, updated_at=T0,
            )
        )  # fmt: skip


def _state(store: Store, key: str) -> tuple[str, str | None, str | None]:
    with store.engine.connect() as connection:
        row = connection.execute(
            sa.select(
                panel_messages.c.state, panel_messages.c.provider_id, panel_messages.c.error
            ).where(panel_messages.c.idempotency_key == key)
        ).one()
    return row.state, row.provider_id, row.error


def _report(sms: Sms, sid: str, status: str, key: str, **extra: str) -> int:
    form = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, **extra}
    return int(sms.post("status", form, query=f"key={key}").status_code)


def test_delivery_reports_move_a_message_forward_only(sms: Sms) -> None:
    sid = "SM" + "a" * 32
    _message(sms.store, sms.panel, "w1:K0001:invite:sms", sid, "queued")

    assert _report(sms, sid, "sent", "w1:K0001:invite:sms") == 204
    assert _state(sms.store, "w1:K0001:invite:sms")[0] == "sent"
    assert _report(sms, sid, "delivered", "w1:K0001:invite:sms") == 204
    assert _state(sms.store, "w1:K0001:invite:sms") == ("delivered", sid, None)
    # a retry, and a late report of an earlier status, change nothing
    assert _report(sms, sid, "delivered", "w1:K0001:invite:sms") == 204
    assert _report(sms, sid, "sent", "w1:K0001:invite:sms") == 204
    assert _report(sms, sid, "undelivered", "w1:K0001:invite:sms", ErrorCode="30003") == 204
    assert _state(sms.store, "w1:K0001:invite:sms") == ("delivered", sid, None)


def test_a_failure_is_kept_with_its_code_and_a_report_before_the_receipt_finds_its_message(
    sms: Sms,
) -> None:
    early, failed = "SM" + "b" * 32, "SM" + "c" * 32
    _message(sms.store, sms.panel, "w1:K0001:remind1:sms", None, "sending")
    _message(sms.store, sms.panel, "w1:K0001:remind2:sms", failed, "queued")
    assert _report(sms, early, "sent", "w1:K0001:remind1:sms") == 204
    assert _state(sms.store, "w1:K0001:remind1:sms") == ("sent", early, None)
    assert _report(sms, failed, "undelivered", "w1:K0001:remind2:sms", ErrorCode="30003") == 204
    assert _state(sms.store, "w1:K0001:remind2:sms") == ("failed", failed, "Twilio error 30003")
    assert _report(sms, failed, "delivered", "w1:K0001:remind2:sms") == 204
    assert _state(sms.store, "w1:K0001:remind2:sms")[0] == "failed"  # final
    # a key cannot reach a message another sid is already recorded for
    assert _report(sms, "SM" + "d" * 32, "delivered", "w1:K0001:remind2:sms") == 204
    assert _state(sms.store, "w1:K0001:remind2:sms")[1] == failed
    # what is not a report of ours is refused
    assert _report(sms, failed, "exploded", "w1:K0001:remind2:sms") == 400
    assert _report(sms, "CA" + "e" * 32, "delivered", "x") == 400
