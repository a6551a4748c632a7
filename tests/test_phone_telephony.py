"""Telephony settings, placing and ending bridge calls through a fake Twilio, start-up checks.

The REST calls go through the real twilio SDK into tests/twilio_fake.py, so
the form payload asserted is the one Twilio's API would receive. No test
opens a socket to anything but this machine (the ``no_network`` fixture).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from twilio.base.exceptions import TwilioRestException
from twilio_fake import API_HOST, FakeTwilioHttp, NetworkRefused, fake_client

from instrument.cli import cli
from instrument.modes import CATI
from instrument.plugins import PluginFacade, get_plugin_manager
from instrument_phone.telephony.config import (
    TELEPHONY_VARIABLES,
    TelephonyConfigError,
    TwilioSettings,
)
from instrument_phone.telephony.dialer import (
    hang_up,
    make_client,
    place_bridge_call,
    start_recording,
)

ROOT = Path(__file__).resolve().parent.parent
MINI = ROOT / "tests" / "data" / "mini.yaml"
SID = "AC" + "ab" * 16
TOKEN = "0123456789abcdef" * 2
CALLER = "+442071234567"
PUBLIC = "https://survey.example.org"
ENV = {
    "INSTRUMENT_TWILIO_ACCOUNT_SID": SID,
    "INSTRUMENT_TWILIO_AUTH_TOKEN": TOKEN,
    "INSTRUMENT_TWILIO_CALLER_ID": CALLER,
    "INSTRUMENT_PUBLIC_URL": PUBLIC,
}


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any socket connection beyond this machine fails the test."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost") and not str(host).startswith("/"):
            raise AssertionError(f"a test tried to reach {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TELEPHONY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def settings() -> TwilioSettings:
    result = TwilioSettings.from_env(ENV)
    assert result is not None
    return result


# -- settings ---------------------------------------------------------------------


def test_no_variables_means_dialled_by_hand() -> None:
    assert TwilioSettings.from_env({}) is None
    assert TwilioSettings.from_env(dict.fromkeys(TELEPHONY_VARIABLES, " ")) is None


def test_complete_settings_are_read_and_the_token_is_never_shown() -> None:
    read = TwilioSettings.from_env({**ENV, "INSTRUMENT_PUBLIC_URL": PUBLIC + "/survey/"})
    assert read == TwilioSettings(SID, TOKEN, CALLER, PUBLIC + "/survey")
    assert TOKEN not in repr(read)


@pytest.mark.parametrize("missing", TELEPHONY_VARIABLES)
def test_a_missing_variable_is_named(missing: str) -> None:
    partial = {k: v for k, v in ENV.items() if k != missing}
    with pytest.raises(TelephonyConfigError) as caught:
        TwilioSettings.from_env(partial)
    message = str(caught.value)
    assert f"but {missing} is not" in message
    assert TOKEN not in message


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("INSTRUMENT_TWILIO_ACCOUNT_SID", "SK" + "ab" * 16),
        ("INSTRUMENT_TWILIO_ACCOUNT_SID", SID[:-1]),
        ("INSTRUMENT_TWILIO_AUTH_TOKEN", "not-a-token"),
        ("INSTRUMENT_TWILIO_CALLER_ID", "02071234567"),
        ("INSTRUMENT_TWILIO_CALLER_ID", "+44 20 7123 4567"),
        ("INSTRUMENT_PUBLIC_URL", "http://survey.example.org"),
        ("INSTRUMENT_PUBLIC_URL", "survey.example.org"),
        ("INSTRUMENT_PUBLIC_URL", "https://survey.example.org/?x=1"),
    ],
)
def test_an_invalid_value_is_named(variable: str, value: str) -> None:
    with pytest.raises(TelephonyConfigError, match=variable) as caught:
        TwilioSettings.from_env({**ENV, variable: value})
    if variable.endswith("AUTH_TOKEN"):
        assert value not in str(caught.value)


def test_plain_http_is_accepted_on_this_machine_only() -> None:
    local = TwilioSettings.from_env({**ENV, "INSTRUMENT_PUBLIC_URL": "http://127.0.0.1:5000"})
    assert local is not None and local.public_url == "http://127.0.0.1:5000"


# -- the REST calls -------------------------------------------------------------


def test_a_bridge_call_sends_exactly_this_payload_to_calls_json() -> None:
    client, http = fake_client(SID, TOKEN)
    sid = place_bridge_call(
        client, settings(), interviewer_number="+441632960123", call_id=17, timeout=25
    )
    (sent,) = http.requests
    assert sent.method == "POST"
    assert sent.url == f"https://{API_HOST}/2010-04-01/Accounts/{SID}/Calls.json"
    assert sent.auth == (SID, TOKEN)
    assert sorted(sent.form) == sorted(
        [
            ("To", "+441632960123"),
            ("From", CALLER),
            ("Url", f"{PUBLIC}/cati/phone/twiml/bridge/17"),
            ("StatusCallback", f"{PUBLIC}/cati/phone/status/17"),
            ("StatusCallbackEvent", "initiated"),
            ("StatusCallbackEvent", "ringing"),
            ("StatusCallbackEvent", "answered"),
            ("StatusCallbackEvent", "completed"),
            ("Timeout", "25"),
        ]
    )
    assert sent.values("StatusCallbackEvent") == ["initiated", "ringing", "answered", "completed"]
    assert sid.startswith("CA") and len(sid) == 34
    assert http.calls[sid]["to"] == "+441632960123"


def test_the_ring_time_stays_within_twilio_limits() -> None:
    client, http = fake_client(SID, TOKEN)
    for bad in (0, 601):
        with pytest.raises(ValueError, match="1..600"):
            place_bridge_call(
                client, settings(), interviewer_number="+441632960123", call_id=1, timeout=bad
            )
    assert http.requests == []


def test_hang_up_completes_the_call() -> None:
    client, http = fake_client(SID, TOKEN)
    sid = place_bridge_call(client, settings(), interviewer_number="+441632960123", call_id=3)
    hang_up(client, sid)
    update = http.requests[-1]
    assert update.method == "POST"
    assert update.url == f"https://{API_HOST}/2010-04-01/Accounts/{SID}/Calls/{sid}.json"
    assert update.form == (("Status", "completed"),)
    assert http.calls[sid]["status"] == "completed"


def test_hanging_up_an_unknown_call_is_twilios_404() -> None:
    client, _http = fake_client(SID, TOKEN)
    with pytest.raises(TwilioRestException) as caught:
        hang_up(client, "CA" + "0" * 32)
    assert caught.value.status == 404


def test_recording_starts_by_rest_on_the_call() -> None:
    client, http = fake_client(SID, TOKEN)
    sid = place_bridge_call(client, settings(), interviewer_number="+441632960123", call_id=4)
    recording = start_recording(client, sid)
    sent = http.requests[-1]
    assert sent.path == f"/2010-04-01/Accounts/{SID}/Calls/{sid}/Recordings.json"
    assert sent.form == (("RecordingChannels", "dual"),)
    assert recording.startswith("RE")


def test_the_fake_refuses_any_other_host() -> None:
    http = FakeTwilioHttp()
    with pytest.raises(NetworkRefused):
        http.request("POST", "https://api.example.com/2010-04-01/Accounts/x/Calls.json")
    with pytest.raises(NetworkRefused):
        http.request("GET", "http://api.twilio.com/2010-04-01/Accounts.json")
    assert http.requests == []


def test_make_client_uses_the_given_http_client() -> None:
    http = FakeTwilioHttp()
    client = make_client(settings(), http_client=http)
    place_bridge_call(client, settings(), interviewer_number="+441632960123", call_id=5)
    assert len(http.requests) == 1


# -- the mode and start-up ----------------------------------------------------------


@pytest.mark.with_builtins
def test_the_phone_mode_serves_the_standard_cati_policy() -> None:
    facade = PluginFacade(get_plugin_manager())
    spec = facade.modes()["cati"]
    assert spec.policy is CATI
    assert spec.capabilities == frozenset({"interviewer"})
    assert facade.mode_policies()["cati"] is CATI


def make_app(tmp_path: Path, **config: Any) -> Flask:
    from instrument.server.app import create_app

    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'phone.db'}",
            "QUESTIONNAIRES": [str(MINI)],
            **config,
        }
    )


def close(app: Flask) -> None:
    from instrument.server.app import get_host

    get_host(app).store.close()


def test_the_app_starts_without_twilio_and_mounts_no_webhook(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    try:
        assert "cati" in app.blueprints
        assert not any(rule.rule.startswith("/cati/phone") for rule in app.url_map.iter_rules())
        assert app.extensions["instrument_phone.telephony"] is None
        response = app.test_client().post("/cati/phone/status/1", data={"CallSid": "CA1"})
        assert response.status_code == 404
    finally:
        close(app)


def test_the_app_mounts_the_webhooks_when_twilio_is_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    app = make_app(tmp_path)
    try:
        rules = {rule.rule for rule in app.url_map.iter_rules()}
        assert {
            "/cati/phone/twiml/bridge/<int:call_id>",
            "/cati/phone/status/<int:call_id>",
            "/cati/phone/status/<int:call_id>/<leg>",
        } <= rules
        assert app.extensions["instrument_phone.telephony"] == settings()
    finally:
        close(app)


def test_the_app_refuses_to_start_with_half_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INSTRUMENT_TWILIO_ACCOUNT_SID", SID)
    with pytest.raises(TelephonyConfigError, match="INSTRUMENT_TWILIO_AUTH_TOKEN"):
        make_app(tmp_path)


def serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[dict[str, Any]]]:
    """``instrument serve`` as typed, up to the point where Flask would start listening."""
    started: list[dict[str, Any]] = []
    monkeypatch.setattr(Flask, "run", lambda self, **kwargs: started.append(kwargs))
    result = CliRunner().invoke(
        cli, ["serve", str(MINI), "--database", f"sqlite:///{tmp_path / 's.db'}", "--no-demo"]
    )
    return result, started


def test_serve_stops_with_a_message_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("INSTRUMENT_TWILIO_CALLER_ID", "07700 900123")
    result, started = serve(tmp_path, monkeypatch)
    assert started == []
    assert result.exit_code == 1
    assert "cannot start: INSTRUMENT_TWILIO_CALLER_ID must be a phone number in E.164" in (
        result.output
    )
    assert "Traceback" not in result.output


def test_serve_runs_without_any_twilio_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, started = serve(tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert "Serving on" in result.output
    assert len(started) == 1


# -- the bridge TwiML ---------------------------------------------------------------


def test_the_bridge_twiml_dials_the_respondent_with_the_caller_id() -> None:
    from instrument_phone.telephony.webhooks import bridge_twiml

    assert bridge_twiml(settings(), 17, "+442079460001") == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        '<Dial callerId="+442071234567" timeout="30">'
        f'<Number statusCallback="{PUBLIC}/cati/phone/status/17/respondent" '
        'statusCallbackEvent="initiated ringing answered completed" '
        'statusCallbackMethod="POST">+442079460001</Number></Dial>'
        '<Say language="en-GB">The call has ended.</Say><Hangup /></Response>'
    )


def test_without_a_number_the_bridge_says_so_and_hangs_up() -> None:
    from instrument_phone.telephony.webhooks import bridge_twiml

    twiml = bridge_twiml(settings(), 17, None)
    assert "<Dial" not in twiml
    assert twiml.endswith(
        '<Say language="en-GB">This case has no number to dial. Please hang up.</Say>'
        "<Hangup /></Response>"
    )
