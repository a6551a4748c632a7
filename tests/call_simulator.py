"""A telephone call as Twilio would make it, offline: follows our TwiML and posts signed webhooks.

Twilio fetches TwiML from our server, runs its verbs and calls back with
form-encoded, signed requests. This simulator does the same, so the bridge
and (later) the IVR are tested end to end without a phone or the network:

* it signs every request with :meth:`RequestValidator.compute_signature` over
  the *public* URL (as Twilio signs the URL it requested) and sends it, form
  encoded with ``X-Twilio-Signature``, to the app: through Flask's test
  client, or over HTTP to a real server on 127.0.0.1;
* it runs ``Say``, ``Play``, ``Pause``, ``Gather`` (scripted digits, or
  ``None`` for silence), ``Dial``/``Number`` (the far end answers, is busy
  or does not answer, as scripted), ``Redirect``, ``Hangup`` and ``Reject``,
  writing what a caller would hear and what was dialled to a transcript;
* it builds the status callbacks of a call leg with Twilio's fields
  (``SequenceNumber``, ``Timestamp``...), so a test can replay one twice or
  out of order.

Twilio's documented defaults are applied: a Gather without ``action`` posts
to the current URL; with no input and no ``actionOnEmptyResult`` the next
verb runs; the end of the document hangs up.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import itertools
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from twilio.request_validator import RequestValidator

Outcome = Literal["answered", "busy", "no-answer", "failed"]
ACCOUNT_SID = "AC" + "0" * 31 + "1"

# Twilio's CallStatus after each StatusCallbackEvent.
_EVENT_STATUS = {"initiated": "initiated", "ringing": "ringing", "answered": "in-progress"}


@dataclass
class Posted:
    """One request the simulator sent, and the answer."""

    url: str
    form: dict[str, str]
    status: int
    body: str


@dataclass
class Transcript:
    """What happened on the call, in order: ``("say", text)``, ``("dial", number)``, ..."""

    lines: list[tuple[str, str]] = field(default_factory=list)
    requests: list[Posted] = field(default_factory=list)

    def add(self, kind: str, text: str) -> None:
        self.lines.append((kind, text))

    def of(self, kind: str) -> list[str]:
        return [text for k, text in self.lines if k == kind]


class TwilioRejected(AssertionError):
    """Our server answered a webhook with an error: Twilio would play its error message."""


class CallSimulator:
    """Plays Twilio's part against our app.

    :param app: a Flask app (requests go through its test client) or the
        base URL of a real server on 127.0.0.1 (``http://127.0.0.1:PORT``).
    :param public_url: the public base URL the app is configured with; the
        URLs in our TwiML start with it, and signatures are computed over it.
    :param auth_token: the account's token, which signs the requests.
    """

    def __init__(self, app: Any, *, public_url: str, auth_token: str) -> None:
        self.public_url = public_url.rstrip("/")
        self.validator = RequestValidator(auth_token)
        self._client = None if isinstance(app, str) else app.test_client()
        self._server = app.rstrip("/") if isinstance(app, str) else None
        self._sids = itertools.count(1)
        self._clock = dt.datetime(2026, 12, 3, 17, 0, tzinfo=dt.UTC)

    # -- sending -------------------------------------------------------------

    def new_sid(self) -> str:
        """A sid for a leg Twilio starts itself (a ``<Dial>``), unlike any the fake REST API gives."""
        return f"CAd1a1{next(self._sids):028x}"

    def sign(self, url: str, form: Mapping[str, str]) -> str:
        return self.validator.compute_signature(url, dict(form))

    def post(self, url: str, form: Mapping[str, str], *, signature: str | None = "sign") -> Posted:
        """POST *form* to the public *url*, signed as Twilio signs (``signature=None``: unsigned)."""
        if not url.startswith(self.public_url + "/"):
            raise AssertionError(f"{url} is not below the public URL {self.public_url}")
        headers = {}
        if signature == "sign":
            headers["X-Twilio-Signature"] = self.sign(url, form)
        elif signature is not None:
            headers["X-Twilio-Signature"] = signature
        local = url[len(self.public_url) :]
        if self._client is not None:
            response = self._client.post(local, data=dict(form), headers=headers)
            posted = Posted(url, dict(form), response.status_code, response.get_data(as_text=True))
        else:
            posted = self._post_http(self._server + local, form, headers, url)
        return posted

    @staticmethod
    def _post_http(target: str, form: Mapping[str, str], headers: dict, url: str) -> Posted:
        host = urllib.parse.urlsplit(target).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise AssertionError(f"the simulator only calls a local server, not {target}")
        request = urllib.request.Request(
            target,
            data=urllib.parse.urlencode(form).encode(),
            headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return Posted(url, dict(form), response.status, response.read().decode())
        except urllib.error.HTTPError as error:
            return Posted(url, dict(form), error.code, error.read().decode())

    # -- status callbacks ------------------------------------------------------

    def status_forms(
        self,
        sid: str,
        events: Iterable[str],
        *,
        final: str = "completed",
        duration: int = 42,
        parent_sid: str | None = None,
    ) -> list[dict[str, str]]:
        """The callbacks Twilio sends for leg *sid*, one per requested event, in order.

        ``completed`` stands for the end of the leg and carries *final*
        (``completed``, ``busy``, ``no-answer``...) as Twilio does.
        """
        forms = []
        for sequence, event in enumerate(events):
            status = final if event == "completed" else _EVENT_STATUS[event]
            at = self._clock + dt.timedelta(seconds=5 * sequence)
            form = {
                "AccountSid": ACCOUNT_SID,
                "ApiVersion": "2010-04-01",
                "CallSid": sid,
                "CallStatus": status,
                "CallbackSource": "call-progress-events",
                "Direction": "outbound-api" if parent_sid is None else "outbound-dial",
                "From": "+441632960001",
                "To": "+441632960002",
                "Called": "+441632960002",
                "Caller": "+441632960001",
                "ToCity": "LONDON",
                "SequenceNumber": str(sequence),
                "Timestamp": email.utils.format_datetime(at),
            }
            if parent_sid is not None:
                form["ParentCallSid"] = parent_sid
            if event == "completed":
                form["CallDuration"] = str(duration if final == "completed" else 0)
            forms.append(form)
        return forms

    # -- following TwiML -------------------------------------------------------

    def call(
        self,
        *,
        url: str,
        sid: str,
        status_callback: str | None = None,
        status_events: Sequence[str] = ("completed",),
        answer: Outcome = "answered",
        digits: Iterable[str | None] = (),
        dialled: Iterable[Outcome] = (),
    ) -> Transcript:
        """Place a call as ``calls.create`` asked: ring, answer, follow the TwiML at *url*.

        :param digits: what the person keys at each Gather, ``None`` for silence.
        :param dialled: how each number a ``<Dial>`` rings answers.
        """
        transcript = Transcript()
        events = list(status_events)
        callbacks = self.status_forms(
            sid, events, final="completed" if answer == "answered" else answer
        )
        by_event = dict(zip(events, callbacks))

        def callback(event: str) -> None:
            if status_callback and event in by_event:
                transcript.requests.append(self._ok(self.post(status_callback, by_event[event])))

        callback("initiated")
        callback("ringing")
        if answer != "answered":
            callback("completed")
            return transcript
        callback("answered")
        inputs = iter(digits)
        outcomes = iter(dialled)
        base = {"AccountSid": ACCOUNT_SID, "CallSid": sid, "CallStatus": "in-progress",
                "Direction": "outbound-api", "To": "+441632960002", "From": "+441632960001"}  # fmt: skip
        self._follow(url, base, transcript, inputs, outcomes)
        callback("completed")
        return transcript

    def _ok(self, posted: Posted) -> Posted:
        if posted.status >= 400:
            raise TwilioRejected(f"{posted.url} answered {posted.status}: {posted.body[:200]}")
        return posted

    def _follow(
        self,
        url: str,
        base: dict[str, str],
        transcript: Transcript,
        inputs: Iterator[str | None],
        outcomes: Iterator[Outcome],
        extra: Mapping[str, str] | None = None,
    ) -> None:
        for _hop in range(50):  # a Redirect loop is a bug in our TwiML, not a long call
            posted = self._ok(self.post(url, {**base, **(extra or {})}))
            transcript.requests.append(posted)
            root = ET.fromstring(posted.body)
            if root.tag != "Response":
                raise AssertionError(f"{url} did not return TwiML: {posted.body[:200]}")
            next_hop = self._run(list(root), url, base, transcript, inputs, outcomes)
            if next_hop is None:
                transcript.add("hangup", "")
                return
            url, extra = next_hop
        raise AssertionError("more than 50 TwiML documents in one call")

    def _run(
        self,
        verbs: list[ET.Element],
        url: str,
        base: dict[str, str],
        transcript: Transcript,
        inputs: Iterator[str | None],
        outcomes: Iterator[Outcome],
    ) -> tuple[str, dict[str, str]] | None:
        """Run one document's verbs; the next (url, form fields) to fetch, or None: hang up."""
        for verb in verbs:
            if verb.tag in ("Say", "Play", "Pause"):
                self._speak(verb, transcript)
            elif verb.tag == "Gather":
                for child in verb:
                    self._speak(child, transcript)
                keyed = next(inputs, None)
                action = urllib.parse.urljoin(url, verb.get("action") or url)
                if keyed:
                    transcript.add("keyed", keyed)
                    return action, {"Digits": keyed}
                transcript.add("silence", "")
                if verb.get("actionOnEmptyResult") == "true":
                    return action, {}
            elif verb.tag == "Dial":
                result = self._dial(verb, base, transcript, outcomes)
                if verb.get("action"):
                    return urllib.parse.urljoin(url, verb.get("action")), result
            elif verb.tag == "Redirect":
                return urllib.parse.urljoin(url, (verb.text or "").strip()), {}
            elif verb.tag in ("Hangup", "Reject"):
                return None
            else:
                raise AssertionError(f"the simulator does not know <{verb.tag}>")
        return None

    @staticmethod
    def _speak(verb: ET.Element, transcript: Transcript) -> None:
        if verb.tag == "Say":
            transcript.add("say", (verb.text or "").strip())
        elif verb.tag == "Play":
            transcript.add("play", (verb.text or "").strip())
        elif verb.tag == "Pause":
            transcript.add("pause", verb.get("length", "1"))
        else:
            raise AssertionError(f"<{verb.tag}> cannot be nested in <Gather>")

    def _dial(
        self,
        verb: ET.Element,
        base: dict[str, str],
        transcript: Transcript,
        outcomes: Iterator[Outcome],
    ) -> dict[str, str]:
        """Ring the dialled number, posting its leg's callbacks; the Dial action's fields."""
        transcript.add("caller_id", verb.get("callerId", ""))
        status = "no-answer"
        numbers = list(verb)
        if not numbers and (verb.text or "").strip():
            numbers = [ET.Element("Number")]  # <Dial>+44...</Dial>: the number as text
            numbers[0].text = verb.text
        for number in numbers:
            if number.tag != "Number":
                raise AssertionError(f"the simulator dials only <Number>, not <{number.tag}>")
            transcript.add("dial", (number.text or "").strip())
            outcome: Outcome = next(outcomes, "answered")
            child = self.new_sid()
            callback = number.get("statusCallback")
            events = (number.get("statusCallbackEvent") or "completed").split()
            final = "completed" if outcome == "answered" else outcome
            forms = self.status_forms(child, events, final=final, parent_sid=base["CallSid"])
            for event, form in zip(events, forms):
                if outcome != "answered" and event == "answered":
                    continue
                if callback:
                    transcript.requests.append(self._ok(self.post(callback, form)))
            status = final
            if outcome == "answered":
                break
        return {"DialCallStatus": status}
