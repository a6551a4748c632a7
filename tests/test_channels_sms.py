"""The SMS channel through a real twilio ``Client`` whose HTTP client is the tests' fake.

The fake is the telephone tests' own (:mod:`twilio_fake`), taught Twilio's
Messages.json here: the request the SDK builds from our arguments is what is
recorded, so these tests assert the exact form Twilio would receive. Nothing
opens a socket. Segment counting and reply keywords are pure functions.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from twilio.http.response import Response

from instrument.plugin_types import ChannelSetupError, OutgoingMessage
from instrument_channels.rendering import TemplateRenderer
from instrument_channels.sms import (
    OPT_OUT_KEYWORDS,
    Segments,
    SmsChannel,
    SmsSettings,
    advise,
    inbound_keyword,
    sms_segments,
)

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:  # pytest's default import mode adds it; importlib mode does not
    sys.path.insert(0, str(TESTS))

from twilio_fake import API_HOST, FakeTwilioHttp, NetworkRefused, RecordedRequest

ACCOUNT = "AC" + "1" * 32
TOKEN = "f" * 32
SENDER = "+447700900001"
SERVICE = "MG" + "2" * 32
LINK = "https://survey.example.ac.uk/s/8fK2qX7a"
_MESSAGES = re.compile(r"/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages\.json\Z")


class FakeTwilioMessaging(FakeTwilioHttp):
    """The telephone tests' fake Twilio, answering Messages.json (create) too.

    :attr:`refuse` maps a number to the REST error Twilio gives for it;
    :attr:`down` makes every request fail as a lost connection does.
    """

    def __init__(self) -> None:
        super().__init__()
        self.refuse: dict[str, tuple[int, int, str]] = {}  # To -> (HTTP status, code, message)
        self.down = False
        self._message_serial = itertools.count(1)

    def request(self, method: str, uri: str, **kwargs: Any) -> Response:  # type: ignore[override]
        # The SDK passes params, data, headers, auth, timeout... by keyword.
        parts = urlsplit(uri)
        match = _MESSAGES.match(parts.path)
        if parts.hostname != API_HOST or match is None or method.upper() != "POST":
            return super().request(method, uri, **kwargs)
        if self.down:
            raise ConnectionError("connection reset by peer")  # what requests raises is an OSError
        form = tuple(
            parse_qsl(urlencode(kwargs.get("data") or {}, doseq=True), keep_blank_values=True)
        )
        auth = kwargs.get("auth")
        self.requests.append(RecordedRequest("POST", uri, form, auth))
        fields = dict(form)
        if auth != (ACCOUNT, TOKEN):
            return self._error(401, "Authenticate", code=20003)
        if fields.get("To") in self.refuse:
            status, code, text = self.refuse[fields["To"]]
            return self._error(status, text, code=code)
        sid = f"SM{next(self._message_serial):032x}"
        return Response(
            201,
            json.dumps(
                {
                    "sid": sid,
                    "account_sid": match.group(1),
                    "to": fields["To"],
                    "from": fields.get("From"),
                    "messaging_service_sid": fields.get("MessagingServiceSid"),
                    "body": fields["Body"],
                    "status": "accepted" if "MessagingServiceSid" in fields else "queued",
                    "num_segments": "1",
                    "error_code": None,
                    "error_message": None,
                    "direction": "outbound-api",
                }
            ),
        )


def settings(**changes: Any) -> SmsSettings:
    values: dict[str, Any] = dict(
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        sender=SENDER,
        status_callback="https://survey.example.ac.uk/channels/sms/status?study=wlp",
    )
    values.update(changes)
    return SmsSettings(**values)


def message(**changes: Any) -> OutgoingMessage:
    fields: dict[str, Any] = dict(
        channel="sms",
        to="+447700900123",
        template="invitation",
        language="en",
        idempotency_key="wave3-contact-41",
        personal_link=LINK,
        unsubscribe_link="https://survey.example.ac.uk/u/8fK2qX7a",
        context={"study": "Wales Life Panel"},
    )
    fields.update(changes)
    return OutgoingMessage(**fields)


@pytest.fixture
def http() -> FakeTwilioMessaging:
    return FakeTwilioMessaging()


def test_an_invitation_is_one_messages_create_with_the_exact_payload(
    http: FakeTwilioMessaging,
) -> None:
    receipt = SmsChannel(settings(), http_client=http).send(message())

    assert len(http.requests) == 1
    sent = http.requests[0]
    assert sent.method == "POST"
    assert sent.url == f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert sent.auth == (ACCOUNT, TOKEN)
    assert len(sent.form) == len(dict(sent.form))  # no field twice
    assert dict(sent.form) == {
        "To": "+447700900123",
        "From": SENDER,
        "Body": f"Wales Life Panel: your next survey is ready {LINK} Reply STOP to opt out",
        "StatusCallback": (
            "https://survey.example.ac.uk/channels/sms/status?study=wlp&key=wave3-contact-41"
        ),
    }
    assert receipt.status == "queued"
    assert receipt.provider_id == "SM" + f"{1:032x}"
    assert receipt.error is None


def test_a_messaging_service_sends_instead_of_a_number(http: FakeTwilioMessaging) -> None:
    channel = SmsChannel(
        settings(sender=None, messaging_service_sid=SERVICE, status_callback=None), http_client=http
    )
    receipt = channel.send(message(template="reminder", language="cy"))
    assert dict(http.requests[0].form) == {
        "To": "+447700900123",
        "MessagingServiceSid": SERVICE,
        "Body": f"Wales Life Panel: mae amser o hyd i ateb {LINK} Atebwch STOP i stopio",
    }
    assert receipt.status == "queued"  # Twilio's "accepted"


def test_a_written_text_is_sent_as_written(http: FakeTwilioMessaging) -> None:
    SmsChannel(settings(), http_client=http).send(message(text="  Thank you! Your code: V-123 "))
    assert dict(http.requests[0].form)["Body"] == "Thank you! Your code: V-123"


def test_a_number_twilio_refuses_is_a_failed_receipt(http: FakeTwilioMessaging) -> None:
    http.refuse["+447700900999"] = (400, 21211, "The 'To' number +447700900999 is not valid.")
    http.refuse["+447700900555"] = (400, 21610, "Attempt to send to unsubscribed recipient")
    http.refuse["+447700900777"] = (429, 20429, "Too Many Requests")
    channel = SmsChannel(settings(), http_client=http)

    invalid = channel.send(message(to="+447700900999"))
    assert invalid.status == "failed" and invalid.permanent
    assert invalid.error == (
        "Twilio refused the message: error 21211 (HTTP 400): "
        "Unable to create record: The 'To' number +447700900999 is not valid."
    )
    stopped = channel.send(message(to="+447700900555"))
    assert stopped.permanent and "21610" in (stopped.error or "")
    busy = channel.send(message(to="+447700900777"))
    assert busy.status == "failed" and not busy.permanent  # slow down and try again
    assert channel.send(message()).status == "queued"


def test_a_lost_connection_is_a_failed_receipt_to_try_again(http: FakeTwilioMessaging) -> None:
    http.down = True
    receipt = SmsChannel(settings(), http_client=http).send(message())
    assert receipt.status == "failed" and not receipt.permanent
    assert "could not reach Twilio: ConnectionError" in (receipt.error or "")


def test_an_address_that_is_not_e164_is_refused_before_twilio(http: FakeTwilioMessaging) -> None:
    for bad in ("07700 900123", "+44 7700 900123", "ann@example.org"):
        receipt = SmsChannel(settings(), http_client=http).send(message(to=bad))
        assert receipt.status == "failed" and receipt.permanent
    assert http.requests == []


def test_wrong_credentials_stop_the_channel(http: FakeTwilioMessaging) -> None:
    channel = SmsChannel(settings(auth_token="0" * 32), http_client=http)
    with pytest.raises(ChannelSetupError, match="refused the credentials.*20003"):
        channel.send(message())


def test_the_fake_still_refuses_other_hosts(http: FakeTwilioMessaging) -> None:
    with pytest.raises(NetworkRefused):
        http.request("POST", "https://example.org/2010-04-01/Accounts/x/Messages.json")


def test_settings_from_the_environment() -> None:
    read = SmsSettings.from_env(
        {
            "INSTRUMENT_TWILIO_ACCOUNT_SID": ACCOUNT,
            "INSTRUMENT_TWILIO_AUTH_TOKEN": TOKEN,
            "INSTRUMENT_SMS_FROM": "WalesPanel",
        }
    )
    assert read.sender == "WalesPanel" and read.status_callback is None
    assert TOKEN not in repr(read)
    assert read.callback_for("k") is None


@pytest.mark.parametrize(
    ("environ", "complaint"),
    [
        ({}, "SMS is not configured: set INSTRUMENT_TWILIO_ACCOUNT_SID and"),
        (
            {"INSTRUMENT_TWILIO_ACCOUNT_SID": ACCOUNT, "INSTRUMENT_TWILIO_AUTH_TOKEN": TOKEN},
            "set exactly one of INSTRUMENT_SMS_FROM",
        ),
        (
            {
                "INSTRUMENT_TWILIO_ACCOUNT_SID": ACCOUNT,
                "INSTRUMENT_TWILIO_AUTH_TOKEN": TOKEN,
                "INSTRUMENT_SMS_FROM": SENDER,
                "INSTRUMENT_SMS_MESSAGING_SERVICE_SID": SERVICE,
            },
            "set exactly one of",
        ),
        (
            {
                "INSTRUMENT_TWILIO_ACCOUNT_SID": ACCOUNT,
                "INSTRUMENT_TWILIO_AUTH_TOKEN": TOKEN,
                "INSTRUMENT_SMS_FROM": "07700900001",
            },
            "INSTRUMENT_SMS_FROM must be a number in E.164 form",
        ),
        (
            {
                "INSTRUMENT_TWILIO_ACCOUNT_SID": ACCOUNT,
                "INSTRUMENT_TWILIO_AUTH_TOKEN": "short",
                "INSTRUMENT_SMS_FROM": SENDER,
            },
            "the value set has 5 characters",
        ),
        (
            {
                "INSTRUMENT_TWILIO_ACCOUNT_SID": ACCOUNT,
                "INSTRUMENT_TWILIO_AUTH_TOKEN": TOKEN,
                "INSTRUMENT_SMS_FROM": SENDER,
                "INSTRUMENT_SMS_STATUS_CALLBACK": "http://survey.example.ac.uk/status",
            },
            "INSTRUMENT_SMS_STATUS_CALLBACK must be the https:// address",
        ),
    ],
)
def test_settings_that_cannot_work_are_named(environ: dict[str, str], complaint: str) -> None:
    with pytest.raises(ChannelSetupError) as caught:
        SmsSettings.from_env(environ)
    assert complaint in str(caught.value)
    assert TOKEN not in str(caught.value)


# -- segments -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Segments("GSM-7", 0, 0)),
        ("Hello", Segments("GSM-7", 5, 1)),
        ("a" * 160, Segments("GSM-7", 160, 1)),
        ("a" * 161, Segments("GSM-7", 161, 2)),  # 153 + 8
        ("a" * 306, Segments("GSM-7", 306, 2)),
        ("a" * 307, Segments("GSM-7", 307, 3)),
        ("€" * 80, Segments("GSM-7", 160, 1)),  # each from the escape table: two septets
        ("€" * 81, Segments("GSM-7", 162, 2)),
        ("a" * 152 + "€" + "a" * 152, Segments("GSM-7", 306, 3)),  # € is not split across parts
        ("Café à Zürich £5", Segments("GSM-7", 16, 1)),  # é à ü £ are in the GSM alphabet
        ("Mae'n ddŵr", Segments("UCS-2", 10, 1)),  # ŵ is not: the whole text is UCS-2
        ("ŵ" * 70, Segments("UCS-2", 70, 1)),
        ("ŵ" * 71, Segments("UCS-2", 71, 2)),  # 67 + 4
        ("a" * 66 + "😀" + "a" * 66, Segments("UCS-2", 134, 3)),  # the emoji's pair stays whole
        ("“quoted”", Segments("UCS-2", 8, 1)),  # curly quotes cost the GSM alphabet
    ],
)
def test_sms_segments(text: str, expected: Segments) -> None:
    assert sms_segments(text) == expected


@pytest.mark.parametrize("language", ["en", "cy"])
@pytest.mark.parametrize("template", ["invitation", "reminder"])
def test_shipped_texts_fit_one_gsm_segment(template: str, language: str) -> None:
    # Welsh texts avoid ŵ/ŷ/â on purpose: one would make every part UCS-2 (70 characters).
    channel = SmsChannel(settings(), TemplateRenderer())
    body = channel.body(message(template=template, language=language))
    assert sms_segments(body) == Segments("GSM-7", len(body), 1), body


def test_advice_on_a_text_that_goes_as_several_parts() -> None:
    renderer = TemplateRenderer()
    assert advise(renderer, message(text="Your survey is ready")) is None
    long = advise(renderer, message(text="a" * 161))
    assert long == (
        "is sent as 2 SMS parts, each billed: 161 characters in GSM-7, and one part holds 160"
    )
    welsh = advise(
        renderer, message(text="Mae'ch arolwg yn barod, diolch am eich amser a'ch dŵr " * 2)
    )
    assert welsh is not None and "in UCS-2 because of ŵ (not in the GSM alphabet)" in welsh
    assert "one part holds 70" in welsh
    missing = advise(renderer, message(template="nudge"))
    assert missing is not None and "no sms template 'nudge'" in missing


# -- replies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "meaning"),
    [
        ("STOP", "opt_out"),
        ("stop", "opt_out"),
        ("  Stop. ", "opt_out"),
        ("STOP!", "opt_out"),
        ("StopAll", "opt_out"),
        ("unsubscribe", "opt_out"),
        ("CANCEL", "opt_out"),
        ("end", "opt_out"),
        ("Quit", "opt_out"),
        ("optout", "opt_out"),
        ("REVOKE", "opt_out"),
        ("START", "opt_in"),
        ("unstop", "opt_in"),
        ("yes", "opt_in"),
        ("HELP", "help"),
        ("info", "help"),
        ("stop sending me these", None),  # Twilio's rule: the whole reply is the word
        ("Please stop", None),
        ("Stopio", None),  # no Welsh keyword is standard
        ("", None),
        ("Is this the end?", None),
    ],
)
def test_inbound_keyword(body: str, meaning: str | None) -> None:
    assert inbound_keyword(body) == meaning


def test_a_study_may_add_its_own_opt_out_words() -> None:
    assert inbound_keyword("Dim", extra_opt_out=["DIM", "stopio"]) == "opt_out"
    assert inbound_keyword("STOPIO", extra_opt_out=["DIM", "stopio"]) == "opt_out"
    assert inbound_keyword("Dim") is None
    assert {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"} <= OPT_OUT_KEYWORDS
