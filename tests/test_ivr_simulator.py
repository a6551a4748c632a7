"""The call simulator (``instrument_phone.ivr.simulator``) against a small Flask app of its own.

The app below serves hand-written TwiML and checks every request's
``X-Twilio-Signature`` with twilio's ``RequestValidator`` over the public URL
(as our webhooks do), answering 403 otherwise. It notes every request it
receives, so the tests see what the simulator really sent, not what it says
it sent. It is reached in-process (werkzeug's test client, at
``http://localhost``) or over HTTP on 127.0.0.1, never at the public URL it
is signed for, as behind a proxy.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from flask import Flask, Request, Response, abort, request
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

from instrument_phone.ivr.simulator import (
    ALL_REQUESTS,
    HANGUP,
    INVALID,
    SILENCE,
    SPEECH,
    CallFailed,
    CallSimulator,
    Heard,
    HttpTransport,
    Invalid,
    Keys,
    Outcome,
    Prompt,
    Recording,
    Tampering,
    WsgiTransport,
    random_respondent,
)

PUBLIC = "https://survey.example.org"
TOKEN = "the-auth-token"
ACCOUNT = "AC" + "1" * 32
VOICE = 'voice="Polly.Amy" language="en-GB"'


@dataclass(frozen=True)
class Seen:
    """A request as the app received it."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    body: bytes
    signature: str
    token: str
    valid: bool


Handler = Callable[[Request], str]


def twiml(*verbs: str) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?><Response>' + "".join(verbs) + "</Response>"


def make_app(routes: dict[str, Handler], public: str = PUBLIC) -> Flask:
    """An app that refuses unsigned requests (403) and answers each path with its handler's TwiML."""
    app = Flask(__name__)
    seen: list[Seen] = []
    app.config["SEEN"] = seen
    validator = RequestValidator(TOKEN)

    @app.before_request
    def check_signature() -> None:
        query = request.query_string.decode("latin-1")
        url = public + request.path + (f"?{query}" if query else "")
        signature = request.headers.get("X-Twilio-Signature", "")
        params = request.form if request.method == "POST" else {}
        valid = bool(signature) and validator.validate(url, params, signature)
        seen.append(
            Seen(
                request.method,
                request.path,
                dict(request.args),
                dict(request.form),
                request.get_data(cache=True),
                signature,
                request.headers.get("I-Twilio-Idempotency-Token", ""),
                valid,
            )
        )
        if not valid:
            abort(403)

    @app.route("/<path:path>", methods=["GET", "POST"])
    def serve(path: str) -> Response:
        handler = routes.get("/" + path)
        if handler is None:
            abort(404)
        return Response(handler(request), mimetype="text/xml")

    return app


def seen(app: Flask) -> list[Seen]:
    return app.config["SEEN"]


def simulator(app: Flask, **options) -> CallSimulator:
    return CallSimulator(
        WsgiTransport(app), PUBLIC, TOKEN, account_sid=ACCOUNT, rng=random.Random(7), **options
    )


def ok(_: Request) -> str:
    return ""


# A two-question survey: a one-key question, a number ended by '#', then goodbye.
def question(q: str) -> str:
    """Question ``q``'s gather and the redirect Twilio follows when it times out."""
    if q == "1":
        return (
            '<Gather input="dtmf" numDigits="1" action="answer?q=1" timeout="5">'
            f"<Say {VOICE}>Do you cycle? For yes, press 1. For no, press 2.</Say>"
            "</Gather><Redirect>/ivr/silence?q=1</Redirect>"
        )
    return (
        '<Gather finishOnKey="#" action="/ivr/answer?q=2&amp;from=1" method="POST">'
        f"<Say {VOICE}>In which year were you born? Key it in, then press hash.</Say>"
        "</Gather><Redirect>silence?q=2</Redirect>"
    )


def welcome(_: Request) -> str:
    return twiml(f"<Say {VOICE}>Welcome to the survey.</Say>", question("1"))


def answer(req: Request) -> str:
    if req.args["q"] == "1":
        return twiml(question("2"))
    return twiml(f"<Say {VOICE}>You keyed {req.form.get('Digits')}. Goodbye.</Say>", "<Hangup/>")


def silence(req: Request) -> str:
    return twiml(f"<Say {VOICE}>Sorry, I did not hear a key.</Say>", question(req.args["q"]))


SURVEY = {
    "/ivr/voice": welcome,
    "/ivr/answer": answer,
    "/ivr/silence": silence,
    "/ivr/status": ok,
}


@pytest.fixture
def survey() -> Flask:
    return make_app(SURVEY)


# --- Signatures ---------------------------------------------------------------------------------


def test_every_request_is_signed_over_the_public_url_with_its_query(survey: Flask) -> None:
    result = simulator(survey).call(
        "/ivr/voice", ["1", SILENCE, "1975#"], status_callback="/ivr/status"
    )
    result.expect(Outcome.HANGUP)
    got = seen(survey)
    assert [(s.path, s.query) for s in got] == [
        ("/ivr/voice", {}),
        ("/ivr/answer", {"q": "1"}),  # "answer?q=1", relative to /ivr/voice
        ("/ivr/silence", {"q": "2"}),  # "silence?q=2", relative to /ivr/answer?q=1
        ("/ivr/answer", {"q": "2", "from": "1"}),
        ("/ivr/status", {}),
    ]
    assert all(s.valid for s in got)
    assert [e.url for e in result.exchanges] == [
        f"{PUBLIC}/ivr/voice",
        f"{PUBLIC}/ivr/answer?q=1",
        f"{PUBLIC}/ivr/silence?q=2",
        f"{PUBLIC}/ivr/answer?q=2&from=1",  # the action's &amp; read as XML
        f"{PUBLIC}/ivr/status",
    ]
    # each signature is the one for its public URL and the very form the app received
    for exchange, request_seen in zip(result.exchanges, got):
        expected = RequestValidator(TOKEN).compute_signature(exchange.url, request_seen.form)
        assert exchange.signature == request_seen.signature == expected
    assert got[3].form["Digits"] == "1975"
    assert "You keyed 1975. Goodbye." in result.said


def test_the_webhook_fields_are_twilios(survey: Flask) -> None:
    result = simulator(survey).call(
        "/ivr/voice", ["2", HANGUP], respondent="+447700900555", study_number="+441632960001"
    )
    first, second = seen(survey)[0].form, seen(survey)[1].form
    assert re.fullmatch(r"CA[0-9a-f]{32}", first["CallSid"])
    assert first["CallSid"] == second["CallSid"] == result.call_sid
    assert first["AccountSid"] == ACCOUNT
    assert first["ApiVersion"] == "2010-04-01"
    assert first["Direction"] == "inbound"
    assert (first["From"], first["To"]) == ("+447700900555", "+441632960001")
    assert (first["Caller"], first["Called"]) == ("+447700900555", "+441632960001")
    assert (first["CallStatus"], second["CallStatus"]) == ("ringing", "in-progress")
    assert second["Digits"] == "2" and second["FinishedOnKey"] == ""

    outbound = make_app(SURVEY)
    simulator(outbound).call(
        "/ivr/voice",
        [HANGUP],
        direction="outbound-api",
        respondent="+447700900555",
        study_number="+441632960001",
        extra_fields={"AnsweredBy": "human"},
    )
    placed = seen(outbound)[0].form
    assert placed["Direction"] == "outbound-api"
    assert (placed["From"], placed["To"]) == ("+441632960001", "+447700900555")
    assert placed["CallStatus"] == "in-progress"
    assert placed["AnsweredBy"] == "human"


@pytest.mark.parametrize(
    "tampering",
    [
        Tampering(token="not-the-auth-token"),
        Tampering(url=lambda url: url.replace(PUBLIC, "http://localhost")),  # the internal URL
        Tampering(url=lambda url: url.split("?")[0]),  # the query left out
        Tampering(unsigned=True),
        Tampering(altered={"Digits": "9"}),  # the body changed after signing
    ],
    ids=["wrong-token", "internal-url", "no-query", "unsigned", "altered-body"],
)
def test_a_wrongly_signed_request_gets_the_apps_403_reported(
    survey: Flask, tampering: Tampering
) -> None:
    result = simulator(survey).call(
        "/ivr/voice", ["1", "1975#"], tampering=Tampering(**{**vars(tampering), "requests": {1}})
    )
    assert result.outcome is Outcome.ERROR
    assert f"POST {PUBLIC}/ivr/answer?q=1 answered 403" in result.detail
    assert "Forbidden" in result.detail  # the reply's body is quoted
    assert [s.valid for s in seen(survey)] == [True, False]
    with pytest.raises(CallFailed, match="answered 403"):
        result.expect()


def test_a_public_url_with_a_prefix_the_proxy_strips() -> None:
    app = make_app(SURVEY, public=PUBLIC + "/study")
    sim = CallSimulator(WsgiTransport(app), PUBLIC + "/study/", TOKEN)
    result = sim.call("/ivr/voice", ["1", "1975#"], status_callback="ivr/status")
    assert [(s.path, s.valid) for s in seen(app)] == [
        ("/ivr/voice", True),
        ("/ivr/answer", True),  # "answer?q=1": relative, so under the prefix
        ("/ivr/status", True),
    ]
    assert result.exchanges[1].url == f"{PUBLIC}/study/ivr/answer?q=1"
    # "/ivr/answer?q=2..." leaves the prefix: Twilio would request a URL the app is not at
    assert result.outcome is Outcome.ERROR
    assert f"{PUBLIC}/ivr/answer?q=2&from=1 is not under the public URL" in result.detail


def test_get_requests_carry_the_fields_in_the_signed_query() -> None:
    app = make_app(
        {
            "/start": lambda _: twiml('<Gather numDigits="2" action="/next?x=1" method="GET"/>'),
            "/next": lambda req: twiml(f"<Say>{req.args['Digits']}</Say>"),
        }
    )
    result = simulator(app).call("/start", ["42"], start_method="GET").expect()
    start, after = seen(app)
    assert all(s.valid for s in seen(app)) and start.method == after.method == "GET"
    assert after.form == {} and after.query["x"] == "1" and after.query["Digits"] == "42"
    assert result.said == ["42"]
    assert result.outcome is Outcome.END_OF_TWIML


# --- <Gather> -------------------------------------------------------------------------------------


def test_keys_go_to_the_action_up_to_num_digits_and_later_keys_are_lost(survey: Flask) -> None:
    result = simulator(survey).call("/ivr/voice", ["12", "1980#"]).expect()
    assert [s.form.get("Digits") for s in seen(survey)] == [None, "1", "1980"]
    assert "'2'" in result.responses[0].note  # keyed after the gather had its one digit
    assert result.keys == ["1", "1980"]


def test_silence_falls_through_to_the_redirect_after_the_gather(survey: Flask) -> None:
    result = simulator(survey).call("/ivr/voice", [SILENCE, SILENCE, "2", "2001#"]).expect()
    assert [(s.path, s.query.get("q"), s.form.get("Digits")) for s in seen(survey)] == [
        ("/ivr/voice", None, None),
        ("/ivr/silence", "1", None),
        ("/ivr/silence", "1", None),
        ("/ivr/answer", "1", "2"),
        ("/ivr/answer", "2", "2001"),
    ]
    assert result.said.count("Sorry, I did not hear a key.") == 2
    assert result.responses[0].sent is None


def test_action_on_empty_result_posts_without_digits() -> None:
    app = make_app(
        {
            "/start": lambda _: twiml('<Gather actionOnEmptyResult="true" action="/next"/>'),
            "/next": lambda req: twiml(f"<Say>{'Digits' in req.form}</Say>", "<Hangup/>"),
        }
    )
    result = simulator(app).call("/start", [SILENCE]).expect()
    assert seen(app)[1].path == "/next" and result.said == ["False"]


@pytest.mark.parametrize(
    ("keys", "digits", "finished_on"),
    [("1975#", "1975", "#"), ("1975", "1975", ""), ("#", "#", "#"), ("12*", "12", "*")],
    ids=["hash", "timeout", "hash-alone", "star-finishes"],
)
def test_finish_on_key_ends_the_digits(keys: str, digits: str, finished_on: str) -> None:
    finish = "*" if "*" in keys else "#"
    posted: list[dict[str, str]] = []

    def gather(req: Request) -> str:  # no action: the keys come back to this document's URL
        if req.form["CallStatus"] == "ringing":
            return twiml(f'<Gather finishOnKey="{finish}" timeout="3"/>')
        posted.append(dict(req.form))
        return twiml("<Hangup/>")

    app = make_app({"/start": gather})
    simulator(app).call("/start", [keys]).expect()
    assert [s.path for s in seen(app)] == ["/start", "/start"]
    assert (posted[0]["Digits"], posted[0]["FinishedOnKey"]) == (digits, finished_on)


def test_speech_goes_to_a_speech_gather_and_is_silence_to_a_keys_one() -> None:
    app = make_app(
        {
            "/start": lambda _: twiml(
                '<Gather input="speech dtmf" action="/heard" language="en-GB">',
                "<Say>Say yes or no.</Say></Gather>",
                "<Say>Nothing heard.</Say>",
            ),
            "/heard": lambda req: twiml(
                f"<Say>{req.form.get('SpeechResult')} at {req.form.get('Confidence')}</Say>",
                '<Gather input="dtmf" action="/never"/>',
                "<Say>No keys.</Say>",
            ),
        }
    )
    result = simulator(app).call("/start", [SPEECH("yes", 0.82), SPEECH("no")])
    result.expect(Outcome.END_OF_TWIML)
    assert seen(app)[1].form["SpeechResult"] == "yes"
    assert "Digits" not in seen(app)[1].form
    assert result.said == ["Say yes or no.", "yes at 0.82", "No keys."]
    assert "silence" in result.responses[1].note and len(seen(app)) == 2


def test_a_policy_sees_what_was_said_and_the_gathers_attributes(survey: Flask) -> None:
    prompts: list[Prompt] = []

    def respondent(prompt: Prompt) -> Keys:
        prompts.append(prompt)
        return Keys("2") if prompt.num_digits == 1 else Keys("1999" + prompt.finish_on_key)

    simulator(survey).call("/ivr/voice", respondent).expect()
    first, second = prompts
    assert first.heard == (
        Heard("Welcome to the survey.", "Polly.Amy", "en-GB"),
        Heard("Do you cycle? For yes, press 1. For no, press 2.", "Polly.Amy", "en-GB"),
    )
    assert first.offered_keys() == ["1", "2"]
    assert (first.kind, first.inputs, first.timeout, first.url) == (
        "gather",
        frozenset({"dtmf"}),
        5,
        f"{PUBLIC}/ivr/voice",
    )
    assert second.attributes["action"] == "/ivr/answer?q=2&from=1"
    assert second.num_digits is None and second.finish_on_key == "#"


def test_invalid_keys_are_keys_the_script_names() -> None:
    app = make_app(
        {
            "/start": lambda _: twiml('<Gather numDigits="1" action="/k"/>'),
            "/k": lambda req: twiml(f"<Say>{req.form['Digits']}</Say>"),
        }
    )
    assert simulator(app).call("/start", [INVALID]).said == ["0"]
    assert simulator(app).call("/start", [Invalid("7")]).said == ["7"]


# --- <Record>, <Say>, <Play>, <Pause>, <Reject> -------------------------------------------------------


def recorder() -> Flask:
    return make_app(
        {
            "/consent": lambda _: twiml(
                f"<Say {VOICE}>Speak after the tone, then press hash.</Say>",
                '<Record action="/recorded" maxLength="60" finishOnKey="#" timeout="4"'
                ' recordingStatusCallback="/recording-status"/>',
                "<Say>Nothing was recorded.</Say>",
            ),
            "/recorded": lambda req: twiml(
                f"<Say>{req.form['RecordingDuration']} seconds, {req.form.get('Digits')}</Say>"
            ),
            "/recording-status": ok,
            "/status": ok,
        }
    )


def test_record_posts_the_recording_and_its_status_callback() -> None:
    app = recorder()
    result = simulator(app).call("/consent", [Recording(12, "#")], status_callback="/status")
    result.expect(Outcome.END_OF_TWIML)
    assert [s.path for s in seen(app)] == ["/consent", "/recorded", "/recording-status", "/status"]
    assert all(s.valid for s in seen(app))
    posted, status = seen(app)[1].form, seen(app)[2].form
    assert re.fullmatch(r"RE[0-9a-f]{32}", posted["RecordingSid"])
    assert posted["RecordingUrl"].endswith(
        f"/Accounts/{ACCOUNT}/Recordings/{posted['RecordingSid']}"
    )
    assert (posted["RecordingDuration"], posted["Digits"]) == ("12", "#")
    assert status["RecordingStatus"] == "completed"
    assert status["RecordingSid"] == posted["RecordingSid"]
    assert result.said[-1] == "12 seconds, #"


def test_record_capped_silent_and_hung_up() -> None:
    capped = recorder()
    result = simulator(capped).call("/consent", [Recording(300, "#")])
    assert result.said[-1] == "60 seconds, None"  # maxLength ends it; no key

    empty = recorder()
    result = simulator(empty).call("/consent", [SILENCE])
    assert [s.path for s in seen(empty)] == ["/consent"]  # nothing posted for an empty recording
    assert result.said[-1] == "Nothing was recorded."

    gone = recorder()
    result = simulator(gone).call("/consent", [Recording(5, "hangup")], status_callback="/status")
    assert result.outcome is Outcome.CALLER_HUNG_UP
    assert seen(gone)[1].form["Digits"] == "hangup"
    assert [s.path for s in seen(gone)][-1] == "/status"
    assert "5 seconds, hangup" not in result.said  # the reply to a hung-up call is not followed


def test_say_play_pause_are_kept_with_their_voice() -> None:
    app = make_app(
        {
            "/start": lambda _: twiml(
                '<Say voice="Polly.Gwyneth" language="cy-GB" loop="2">Croeso.</Say>',
                "<Play>https://cdn.example.org/tone.mp3</Play>",
                '<Pause length="2"/>',
            )
        }
    )
    result = simulator(app).call("/start", [])
    assert result.outcome is Outcome.END_OF_TWIML
    assert result.heard == [Heard("Croeso.", "Polly.Gwyneth", "cy-GB", 2)]
    assert "played https://cdn.example.org/tone.mp3" in result.transcript()
    assert "paused 2 s" in result.transcript()


@pytest.mark.parametrize(("reason", "status"), [("busy", "busy"), ("rejected", "no-answer")])
def test_reject_ends_the_call_unanswered(reason: str, status: str) -> None:
    app = make_app({"/start": lambda _: twiml(f'<Reject reason="{reason}"/>'), "/status": ok})
    result = simulator(app).call("/start", [], status_callback="/status")
    assert result.outcome is Outcome.REJECTED and result.duration == 0
    assert seen(app)[-1].form["CallStatus"] == status
    assert seen(app)[-1].form["CallDuration"] == "0"


# --- How calls end --------------------------------------------------------------------------------


def test_the_hangup_verb_completes_the_call_and_the_status_callback_fires(survey: Flask) -> None:
    result = (
        simulator(survey)
        .call("/ivr/voice", ["1", "1975#"], status_callback="/ivr/status")
        .expect(Outcome.HANGUP)
    )
    assert result.outcome.completed
    status = seen(survey)[-1]
    assert status.valid and status.form["CallStatus"] == "completed"
    assert int(status.form["CallDuration"]) == result.duration > 0
    assert status.form["CallSid"] == result.call_sid
    assert result.exchanges[-1].purpose == "status-callback"


def test_a_caller_hanging_up_sends_nothing_more_but_the_status_callback(survey: Flask) -> None:
    result = simulator(survey).call("/ivr/voice", ["1", HANGUP], status_callback="/ivr/status")
    assert result.outcome is Outcome.CALLER_HUNG_UP
    assert [s.path for s in seen(survey)] == ["/ivr/voice", "/ivr/answer", "/ivr/status"]
    assert seen(survey)[-1].form["CallStatus"] == "completed"
    with pytest.raises(CallFailed, match="CALLER_HUNG_UP"):
        result.expect()
    assert result.expect(Outcome.CALLER_HUNG_UP) is result


def test_a_script_that_runs_out_ends_the_call_and_says_where(survey: Flask) -> None:
    result = simulator(survey).call("/ivr/voice", ["1"], status_callback="/ivr/status")
    assert result.outcome is Outcome.SCRIPT_ENDED
    assert "answer?q=1" in result.detail and "born" in result.detail
    assert seen(survey)[-1].path == "/ivr/status"


def test_a_redirect_loop_stops_at_the_turn_limit() -> None:
    app = make_app({"/loop": lambda _: twiml("<Say>Again.</Say>", "<Redirect>loop</Redirect>")})
    result = simulator(app, max_turns=25).call("/loop", [])
    assert result.outcome is Outcome.TURN_LIMIT
    assert len(seen(app)) == 25
    assert f"{PUBLIC}/loop" in result.detail
    with pytest.raises(CallFailed, match="TURN_LIMIT"):
        result.expect()


def test_errors_are_reported_with_the_url_and_the_body() -> None:
    app = make_app(
        {
            "/start": lambda _: twiml('<Gather numDigits="1" action="/next"/>'),
            "/next": lambda req: {
                "1": "<Response><Say>unclosed</Response>",
                "2": "<html>not TwiML</html>",
                "3": twiml("<Dial>+441632960002</Dial>"),
                "4": twiml("<Redirect>https://elsewhere.example.com/x</Redirect>"),
            }[req.form["Digits"]],
            "/status": ok,
        }
    )
    sim = simulator(app)
    details = [sim.call("/start", [key], status_callback="/status") for key in "1234"]
    assert all(d.outcome is Outcome.ERROR for d in details)
    assert f"{PUBLIC}/next answered malformed TwiML" in details[0].detail
    assert "<Say>unclosed" in details[0].detail
    assert "<html>" in details[1].detail
    assert "<Dial> in the TwiML of" in details[2].detail
    assert "https://elsewhere.example.com/x is not under the public URL" in details[3].detail
    assert seen(app)[-1].path == "/status"  # Twilio ends an errored call as completed

    missing = simulator(app).call("/nowhere", [])
    assert missing.outcome is Outcome.ERROR
    assert f"POST {PUBLIC}/nowhere answered 404" in missing.detail


def test_a_failed_status_callback_fails_expect(survey: Flask) -> None:
    result = simulator(survey).call("/ivr/voice", ["1", "1975#"], status_callback="/ivr/gone")
    assert result.outcome is Outcome.HANGUP
    assert [e.status for e in result.callback_failures] == [404]
    with pytest.raises(CallFailed):
        result.expect()


# --- Retries and duplicates ---------------------------------------------------------------------------


def counting_app() -> Flask:
    """Each reply says how often its request (by idempotency token) has arrived."""
    counts: dict[str, int] = {}

    def count(req: Request) -> str:
        token = req.headers["I-Twilio-Idempotency-Token"]
        counts[token] = counts.get(token, 0) + 1
        return twiml(f"<Say>{req.path} {counts[token]}</Say>", '<Gather action="/b"/>')

    return make_app({"/a": count, "/b": count})


def test_a_retry_resends_the_same_bytes_and_follows_the_second_reply() -> None:
    app = counting_app()
    result = simulator(app).call("/a", ["1#", "2#", HANGUP], retry={1})
    paths = [s.path for s in seen(app)]
    assert paths == ["/a", "/b", "/b", "/b"]
    first, again = seen(app)[1], seen(app)[2]
    assert (first.body, first.signature, first.token) == (again.body, again.signature, again.token)
    assert again.valid
    assert result.said == ["/a 1", "/b 2", "/b 1"]  # the retry's reply is the one followed
    assert [e.delivery for e in result.exchanges] == ["first", "first", "retry", "first"]


def test_a_duplicate_is_delivered_twice_and_the_first_reply_followed() -> None:
    app = counting_app()
    result = simulator(app).call("/a", ["1#", HANGUP], duplicate=ALL_REQUESTS)
    assert [s.path for s in seen(app)] == ["/a", "/a", "/b", "/b"]
    assert seen(app)[0].body == seen(app)[1].body and all(s.valid for s in seen(app))
    assert result.said == ["/a 1", "/b 1"]
    assert [e.delivery for e in result.exchanges] == ["first", "duplicate", "first", "duplicate"]


# --- Over HTTP ---------------------------------------------------------------------------------------


@pytest.fixture
def served(survey: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, survey, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_the_http_transport_drives_a_real_server(survey: Flask, served: str) -> None:
    sim = CallSimulator(HttpTransport(served), PUBLIC, TOKEN, account_sid=ACCOUNT)
    result = sim.call(
        "/ivr/voice", ["1", SILENCE, "1975#"], status_callback="/ivr/status", retry={1}
    ).expect(Outcome.HANGUP)
    assert [s.path for s in seen(survey)] == [
        "/ivr/voice",
        "/ivr/answer",
        "/ivr/answer",
        "/ivr/silence",
        "/ivr/answer",
        "/ivr/status",
    ]
    assert all(s.valid for s in seen(survey))
    assert seen(survey)[1].body == seen(survey)[2].body
    assert "You keyed 1975. Goodbye." in result.said

    refused = sim.call("/ivr/voice", ["1"], tampering=Tampering(token="wrong"))
    assert refused.outcome is Outcome.ERROR and "answered 403" in refused.detail
    assert f"{PUBLIC}/ivr/voice" in refused.detail


# --- Random respondents -------------------------------------------------------------------------------


def test_random_respondents_are_repeatable_from_a_seed(survey: Flask) -> None:
    def play(seed: int) -> list[str]:
        respondent = random_respondent(random.Random(seed), silence=0.3, hangup=0.1)
        result = simulator(survey, max_turns=40).call("/ivr/voice", respondent)
        assert result.outcome in (Outcome.HANGUP, Outcome.CALLER_HUNG_UP, Outcome.TURN_LIMIT)
        return [repr(r.action) for r in result.responses]

    assert play(3) == play(3)
    answers = [play(seed) for seed in range(20)]
    assert len({tuple(a) for a in answers}) > 5
    assert any("Keys(digits='1')" in a[0] or "Keys(digits='2')" in a[0] for a in answers)


def test_a_script_is_a_list_not_a_string(survey: Flask) -> None:
    with pytest.raises(TypeError, match="list of actions"):
        simulator(survey).call("/ivr/voice", "1975#")
    with pytest.raises(ValueError, match="keys must be"):
        Keys("12a")
