"""The call simulator follows TwiML as Twilio documents it (so phase 2's IVR can rely on it).

A small Flask app stands in for an IVR: it checks each request's signature
with RequestValidator, as our webhooks do, and answers with TwiML built by
twilio's VoiceResponse. The tests check what the simulator heard, keyed and
dialled, and which requests it made.
"""

from __future__ import annotations

import pytest
from call_simulator import CallSimulator, TwilioRejected
from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

TOKEN = "5" * 32
PUBLIC = "https://ivr.example.org"


def ivr_app() -> Flask:
    app = Flask(__name__)
    validator = RequestValidator(TOKEN)

    @app.before_request
    def signed() -> None:
        url = PUBLIC + request.full_path.rstrip("?")
        if not validator.validate(url, request.form, request.headers.get("X-Twilio-Signature", "")):
            abort(403)

    def twiml(response: VoiceResponse) -> Response:
        return Response(str(response), mimetype="text/xml")

    @app.post("/start")
    def start() -> Response:
        response = VoiceResponse()
        response.say("Welcome.", language="en-GB")
        response.play("https://ivr.example.org/chime.mp3")
        response.pause(length=2)
        gather = response.gather(num_digits=1, action="/answer?q=1", action_on_empty_result=True)
        gather.say("Press 1 for yes, 2 for no.")
        return twiml(response)

    @app.post("/answer")
    def answer() -> Response:
        response = VoiceResponse()
        digits = request.form.get("Digits")
        if digits is None:
            response.say("We did not hear you.")
            response.redirect("/start")
        elif digits == "9":
            response.dial("+442079460002", action="/after", caller_id="+442071234567")
        else:
            response.say(f"You pressed {digits} for question {request.args['q']}.")
            gather = response.gather(num_digits=1, action="/answer?q=2")  # no action on silence
            gather.say("Press any key.")
            response.say("Goodbye.")
            response.hangup()
        return twiml(response)

    @app.post("/after")
    def after() -> Response:
        response = VoiceResponse()
        response.say(f"Dial status {request.form['DialCallStatus']}.")
        return twiml(response)

    return app


def test_say_play_pause_gather_and_silence_falling_through() -> None:
    simulator = CallSimulator(ivr_app(), public_url=PUBLIC, auth_token=TOKEN)
    transcript = simulator.call(url=PUBLIC + "/start", sid=simulator.new_sid(), digits=["1", None])
    assert transcript.lines == [
        ("say", "Welcome."),
        ("play", "https://ivr.example.org/chime.mp3"),
        ("pause", "2"),
        ("say", "Press 1 for yes, 2 for no."),
        ("keyed", "1"),
        ("say", "You pressed 1 for question 1."),
        ("say", "Press any key."),
        ("silence", ""),
        ("say", "Goodbye."),
        ("hangup", ""),
    ]
    assert [posted.url for posted in transcript.requests] == [
        PUBLIC + "/start",
        PUBLIC + "/answer?q=1",
    ]


def test_empty_result_posts_the_action_and_redirect_is_followed() -> None:
    simulator = CallSimulator(ivr_app(), public_url=PUBLIC, auth_token=TOKEN)
    transcript = simulator.call(url=PUBLIC + "/start", sid=simulator.new_sid(), digits=[None, "2"])
    assert transcript.of("say")[:4] == [
        "Welcome.",
        "Press 1 for yes, 2 for no.",
        "We did not hear you.",
        "Welcome.",
    ]
    assert "You pressed 2 for question 1." in transcript.of("say")
    assert "Digits" not in transcript.requests[1].form


@pytest.mark.parametrize(("outcome", "status"), [("answered", "completed"), ("busy", "busy")])
def test_dial_posts_its_action_with_the_dial_status(outcome: str, status: str) -> None:
    simulator = CallSimulator(ivr_app(), public_url=PUBLIC, auth_token=TOKEN)
    transcript = simulator.call(
        url=PUBLIC + "/start", sid=simulator.new_sid(), digits=["9"], dialled=[outcome]
    )
    assert transcript.of("caller_id") == ["+442071234567"]
    assert transcript.of("dial") == ["+442079460002"]
    assert transcript.of("say")[-1] == f"Dial status {status}."


def test_a_server_that_refuses_the_signature_stops_the_call() -> None:
    simulator = CallSimulator(ivr_app(), public_url=PUBLIC, auth_token="6" * 32)
    with pytest.raises(TwilioRejected, match="403"):
        simulator.call(url=PUBLIC + "/start", sid=simulator.new_sid())


def test_urls_outside_the_public_url_are_refused() -> None:
    simulator = CallSimulator(ivr_app(), public_url=PUBLIC, auth_token=TOKEN)
    with pytest.raises(AssertionError, match="not below the public URL"):
        simulator.post("https://elsewhere.example.org/start", {})
    remote = CallSimulator("http://10.0.0.1:80", public_url=PUBLIC, auth_token=TOKEN)
    with pytest.raises(AssertionError, match="only calls a local server"):
        remote.post(PUBLIC + "/start", {})
