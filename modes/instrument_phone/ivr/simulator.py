"""A call simulator: drives a web app exactly as Twilio drives it during a voice call.

Tests, benchmarks and plugin authors need to play whole automated calls against
a server without Twilio, and a call is only exercised honestly if every request
looks like Twilio's: the voice-webhook form fields, an ``X-Twilio-Signature``
computed over the *public* URL (the configured one, plus path and query) even
when the app is reached at another address, the same bytes again on a retry,
and a status callback at the end. So the simulator knows nothing of our own
webhooks; it only speaks HTTP and follows the TwiML it is given, verb by verb:

- ``<Say>`` (heard, with voice and language), ``<Play>``, ``<Pause>``;
- ``<Gather>`` (dtmf and/or speech, ``numDigits``, ``finishOnKey``, ``timeout``,
  ``action``/``method``, nested ``<Say>``/``<Play>``/``<Pause>``): keys go to the
  action URL as ``Digits``, speech as ``SpeechResult`` and ``Confidence``;
  silence falls through to the next verb (usually a ``<Redirect>``), or posts
  without ``Digits`` when ``actionOnEmptyResult="true"``;
- ``<Record>``: ``RecordingUrl``, ``RecordingSid``, ``RecordingDuration`` and
  ``Digits`` (the finishing key, or ``hangup``) to the action URL, and the
  ``recordingStatusCallback`` if one is named; an empty recording falls through;
- ``<Redirect>``, ``<Hangup>``, ``<Reject>``; the end of a document hangs up.

What the caller does comes from a script (:data:`SILENCE`, :data:`HANGUP`,
key strings such as ``"1975#"``, :class:`Invalid`, :func:`SPEECH`,
:class:`Recording`) or from a policy, a callable that sees each
:class:`Prompt` (what was said since the last input, in which voice and language,
and the verb's attributes) and decides. :func:`language_menu` reads a bilingual
line's choice of language from a prompt, so a policy can choose as a caller would. Every request, reply and word heard is kept in the
:class:`CallResult`, whose :class:`Outcome` says how the call ended.

Transports: :class:`WsgiTransport` runs the app in-process (werkzeug's test
client, imported only when used, so this module never loads Flask or werkzeug);
:class:`HttpTransport` talks HTTP to a running server with the standard library.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import enum
import functools
import math
import random
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit
from xml.etree import ElementTree

from twilio.request_validator import RequestValidator

__all__ = [
    "ALL_REQUESTS",
    "API_VERSION",
    "HANGUP",
    "INVALID",
    "SILENCE",
    "SPEECH",
    "Action",
    "CallFailed",
    "CallResult",
    "CallSimulator",
    "Exchange",
    "Hangup",
    "Heard",
    "HttpTransport",
    "Invalid",
    "Keys",
    "Outcome",
    "Paused",
    "Played",
    "Policy",
    "Prompt",
    "Recording",
    "Reply",
    "Responded",
    "Silence",
    "Speech",
    "Tampering",
    "Transport",
    "WireRequest",
    "WsgiTransport",
    "language_menu",
    "menu_key",
    "random_respondent",
]

API_VERSION = "2010-04-01"
"""The ``ApiVersion`` field of every voice webhook."""

DTMF_KEYS = frozenset("0123456789*#")
SECONDS_PER_WORD = 0.4
"""How long a word takes to say (about 150 words a minute): the call's simulated clock."""
SECONDS_PER_KEY = 0.5
SECONDS_PER_PLAY = 3.0
"""A ``<Play>``'s audio is never fetched; it is counted as this long."""
BODY_SHOWN = 2000
"""Characters of a failing reply's body quoted in the outcome's detail."""


# --- What the caller does ---------------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    """Keys pressed one after another, e.g. ``"1"``, ``"1975#"``, ``"*"``."""

    digits: str

    def __post_init__(self) -> None:
        if not self.digits or set(self.digits) - DTMF_KEYS:
            raise ValueError(f"keys must be some of 0-9, * and #, not {self.digits!r}")


@dataclass(frozen=True)
class Invalid:
    """Keys meant to be wrong for the prompt (which keys those are is the test's to say)."""

    digits: str = "0"

    def __post_init__(self) -> None:
        Keys(self.digits)  # the same rule for what can be keyed


@dataclass(frozen=True)
class Silence:
    """The caller says and keys nothing until the verb times out."""


@dataclass(frozen=True)
class Speech:
    """Words spoken to a speech ``<Gather>`` (``SpeechResult``) with the recogniser's confidence."""

    text: str
    confidence: float = 0.9


@dataclass(frozen=True)
class Hangup:
    """The caller hangs up: nothing more is requested, and the status callback fires."""


@dataclass(frozen=True)
class Recording:
    """Speak to a ``<Record>`` for ``seconds``, then end it.

    :param ending: a key (sent as ``Digits`` when it is one of the verb's
        ``finishOnKey``), ``"hangup"`` (the caller hangs up: ``Digits=hangup``,
        and the call is over), or None (silence until the verb's timeout).
    """

    seconds: int = 5
    ending: str | None = "#"


SILENCE = Silence()
HANGUP = Hangup()
INVALID = Invalid()


def SPEECH(text: str, confidence: float = 0.9) -> Speech:
    """Speech in a script: ``SPEECH("yes", 0.85)``."""
    return Speech(text, confidence)


Action = Keys | Invalid | Silence | Speech | Hangup | Recording


@dataclass(frozen=True)
class Prompt:
    """Where the call waits for the caller: what a policy sees to decide.

    :param kind: ``"gather"`` or ``"record"``.
    :param heard: what was said since the caller last acted (all documents since).
    :param attributes: the verb's attributes as written in the TwiML.
    :param url: the public URL of the document the verb is in.
    :param number: 0 for the call's first prompt, then 1, 2, ...
    """

    kind: str
    heard: tuple[Heard, ...]
    attributes: Mapping[str, str]
    url: str
    number: int

    @property
    def text(self) -> str:
        return " ".join(h.text for h in self.heard)

    @property
    def inputs(self) -> frozenset[str]:
        """``{"dtmf"}``, ``{"speech"}`` or both (a ``<Record>`` takes neither)."""
        if self.kind != "gather":
            return frozenset()
        return frozenset(self.attributes.get("input", "dtmf").split())

    @property
    def num_digits(self) -> int | None:
        value = self.attributes.get("numDigits")
        return int(value) if value else None

    @property
    def finish_on_key(self) -> str:
        default = "#" if self.kind == "gather" else "1234567890*#"
        return self.attributes.get("finishOnKey", default)

    @property
    def timeout(self) -> int:
        return int(self.attributes.get("timeout", "5"))

    def offered_keys(self) -> list[str]:
        """Single keys named in what was heard ("press 3"): a guess a random respondent can use.

        A key is offered at the end of a sentence ("For Yes, press 1.", "To keep it, press 1. To
        change it, press 2.", "Ar gyfer Ie, pwyswch 1."), in any language; a digit inside a
        question ("stumps less than 4 metres") is not one. Where nothing ends on a digit, any lone digit heard is taken, as before.
        """
        ending = {key for h in self.heard for key in _KEY_AT_END.findall(h.text)}
        return sorted(ending or set(_ONE_KEY.findall(self.text)))


Policy = Callable[[Prompt], Action]
"""Decides what the caller does at each prompt."""

_ONE_KEY = re.compile(r"(?<![\d*#])\d(?!\d)")
_WHOLE_NUMBER = re.compile(r"(?<![\d.,])\d+(?![\d.,]\d)")
_KEY_AT_END = re.compile(r"(?<![\d*#.,])(\d)(?=[.!](?:\s|$)|\s*$)")


def language_menu(prompt: Prompt) -> dict[str, str]:
    """The keys a language menu offers, by the language each is offered in.

    A bilingual line offers each language in itself, in a voice of that language ("For
    English, press 1." said ``en-GB``, "Am Gymraeg, pwyswch 2." said ``cy-GB``), and takes
    one key. At such a prompt (a one-key ``<Gather>`` whose words were said in more than one
    language): each ``<Say>`` language and the last single key said in it. Empty at any
    other prompt.
    """
    if prompt.kind != "gather" or prompt.num_digits != 1:
        return {}
    said_in = {h.language for h in prompt.heard if h.language}
    if len(said_in) < 2:
        return {}
    offers: dict[str, str] = {}
    for heard in prompt.heard:
        keys = _ONE_KEY.findall(heard.text)
        if heard.language and keys:
            offers[heard.language] = keys[-1]
    return offers


def menu_key(offers: Mapping[str, str], language: str) -> str | None:
    """The key of ``language`` among a menu's ``offers`` (``cy`` finds ``cy-GB``), or None."""
    if language in offers:
        return offers[language]
    base = language.split("-")[0].lower()
    return next((k for tag, k in offers.items() if tag.split("-")[0].lower() == base), None)


class _ScriptEnded(Exception):
    """A fixed script has no action left for a prompt."""


class _Script:
    """A fixed list of actions played in order (strings are keys)."""

    def __init__(self, actions: Sequence[Action | str]) -> None:
        self.actions = [Keys(a) if isinstance(a, str) else a for a in actions]
        self.used = 0

    def __call__(self, prompt: Prompt) -> Action:
        if self.used >= len(self.actions):
            raise _ScriptEnded(
                f"the script's {len(self.actions)} actions are used up at prompt "
                f"{prompt.number} ({prompt.url}): {prompt.text[-200:]!r}"
            )
        self.used += 1
        return self.actions[self.used - 1]


def random_respondent(
    rng: random.Random,
    *,
    silence: float = 0.05,
    invalid: float = 0.05,
    hangup: float = 0.0,
    invalid_keys: str = "0",
) -> Policy:
    """A respondent who mostly answers, sometimes stays silent, keys wrongly or hangs up.

    A one-key prompt is answered with a key named in what was heard (any
    1-9 when none is); a prompt that ends on a key gets a number from 0 to 99
    (within the range a sentence heard names, as after the engine's "between 1 and 10")
    and that key; a recording is a few seconds of speech and ``#``. Only
    ``rng`` draws, so a seed replays the same calls.
    """

    def decide(prompt: Prompt) -> Action:
        draw = rng.random()
        if draw < hangup:
            return HANGUP
        if draw < hangup + silence:
            return SILENCE
        if draw < hangup + silence + invalid:
            return Invalid(invalid_keys)
        if prompt.kind == "record":
            return Recording(seconds=rng.randint(1, 20), ending="#")
        if "dtmf" not in prompt.inputs:
            return Speech(rng.choice(["yes", "no"]), round(rng.uniform(0.5, 1.0), 2))
        if prompt.num_digits == 1:
            return Keys(rng.choice(prompt.offered_keys() or list("123456789")))
        if prompt.num_digits:
            return Keys("".join(rng.choice("0123456789") for _ in range(prompt.num_digits)))
        low, high = stated_range(prompt) or (0, 99)
        return Keys(str(rng.randint(low, high)) + prompt.finish_on_key[:1])

    return decide


def stated_range(prompt: Prompt) -> tuple[int, int] | None:
    """The range a sentence heard names ("Enter a number between 1 and 10", "Rhowch rif rhwng
    1 a 10"): the first sentence with exactly two whole numbers, in any language. A caller
    told the range keys within it, as a person would; None when nothing names one."""
    for heard in prompt.heard:
        numbers = [int(n) for n in _WHOLE_NUMBER.findall(heard.text)]
        if len(numbers) == 2:
            return min(numbers), max(numbers)
    return None


# --- What is kept of a call ---------------------------------------------------------------------


@dataclass(frozen=True)
class Heard:
    """A ``<Say>``: its words, and the voice and language they were said in."""

    text: str
    voice: str | None
    language: str | None
    loop: int = 1


@dataclass(frozen=True)
class Played:
    """A ``<Play>`` of an audio URL (or of keys, ``digits``)."""

    url: str
    loop: int = 1
    digits: str | None = None


@dataclass(frozen=True)
class Paused:
    seconds: float


@dataclass(frozen=True)
class Responded:
    """What the caller did at a prompt and what it sent (None: nothing was requested).

    :param note: why the action had a different effect from its face value
        (speech to a keys-only gather is silence; keys after ``numDigits`` are lost).
    """

    prompt: Prompt
    action: Action
    sent: Mapping[str, str] | None
    note: str = ""


@dataclass(frozen=True)
class Exchange:
    """One HTTP request made to the app and its reply.

    :param number: the request's number in the call (0 is the call's start); a
        retry or duplicate delivery has the number of the request it repeats.
    :param purpose: ``start``, ``gather``, ``redirect``, ``record``,
        ``status-callback``, ``recording-status``.
    :param delivery: ``first``, ``retry`` (sent again, its reply followed) or
        ``duplicate`` (delivered twice, the first reply followed).
    :param url: the public URL requested (and signed), query included.
    """

    number: int
    purpose: str
    delivery: str
    method: str
    url: str
    params: Mapping[str, str]
    signature: str | None
    status: int
    body: str


Event = Heard | Played | Paused | Responded | Exchange


class Outcome(enum.Enum):
    """How a simulated call ended."""

    HANGUP = "the app's <Hangup>"
    END_OF_TWIML = "the end of a TwiML document (Twilio hangs up)"
    REJECTED = "the app's <Reject>"
    CALLER_HUNG_UP = "the caller hung up"
    SCRIPT_ENDED = "the script ran out of actions (the caller hung up)"
    ERROR = "an error: a reply that was not 2xx, or malformed TwiML"
    TURN_LIMIT = "the limit on TwiML documents a call may fetch"

    @property
    def completed(self) -> bool:
        """The app ended the call itself."""
        return self in (Outcome.HANGUP, Outcome.END_OF_TWIML)


class CallFailed(AssertionError):
    """A call did not end as expected; the message holds its transcript's end."""


@dataclass(frozen=True)
class CallResult:
    """A finished call: its identity, how it ended, and everything that happened in order."""

    call_sid: str
    outcome: Outcome
    detail: str
    events: tuple[Event, ...]
    duration: int
    """Seconds of the call on the simulated clock (``CallDuration``)."""

    @property
    def exchanges(self) -> list[Exchange]:
        return [e for e in self.events if isinstance(e, Exchange)]

    @property
    def heard(self) -> list[Heard]:
        return [e for e in self.events if isinstance(e, Heard)]

    @property
    def said(self) -> list[str]:
        """The words of every ``<Say>``, in order."""
        return [h.text for h in self.heard]

    @property
    def responses(self) -> list[Responded]:
        return [e for e in self.events if isinstance(e, Responded)]

    @property
    def keys(self) -> list[str]:
        """The ``Digits`` sent, in order (a recording's finishing key included)."""
        return [r.sent["Digits"] for r in self.responses if r.sent and "Digits" in r.sent]

    @property
    def callback_failures(self) -> list[Exchange]:
        """Status and recording callbacks the app did not answer with 2xx."""
        return [
            e
            for e in self.exchanges
            if e.purpose in ("status-callback", "recording-status") and not 200 <= e.status < 300
        ]

    def transcript(self) -> str:
        """The call as lines of text, for a failing test's message or a reader."""
        lines = [f"call {self.call_sid}: {self.outcome.name} ({self.detail}), {self.duration} s"]
        for event in self.events:
            lines.append(_describe(event))
        return "\n".join(lines)

    def expect(self, *outcomes: Outcome) -> CallResult:
        """This result, if it ended in one of ``outcomes`` with every callback answered.

        :raises CallFailed: with the transcript's last lines otherwise.
        """
        wanted = outcomes or (Outcome.HANGUP, Outcome.END_OF_TWIML)
        if self.outcome in wanted and not self.callback_failures:
            return self
        tail = self.transcript().splitlines()
        shown = "\n".join(tail[:1] + tail[-30:])
        names = ", ".join(o.name for o in wanted)
        raise CallFailed(f"expected {names}; got {self.outcome.name}: {self.detail}\n{shown}")


def _describe(event: Event) -> str:
    if isinstance(event, Exchange):
        return (
            f"  {event.method} {event.url} [{event.purpose}, {event.delivery}] -> {event.status}"
            f" {dict(event.params)!r}"
        )
    if isinstance(event, Heard):
        return f"    said ({event.language}, {event.voice}): {event.text}"
    if isinstance(event, Played):
        return f"    played {event.url or event.digits}"
    if isinstance(event, Paused):
        return f"    paused {event.seconds:g} s"
    sent = "nothing sent" if event.sent is None else f"sent {dict(event.sent)!r}"
    note = f" ({event.note})" if event.note else ""
    return f"    caller at {event.prompt.kind}: {event.action!r}, {sent}{note}"


# --- Transports ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WireRequest:
    """A request as it goes to the app: path and query as the app sees them, exact bytes."""

    method: str
    path: str
    body: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Reply:
    status: int
    body: str


class Transport(Protocol):
    """Carries one request to the app and brings its reply back."""

    def send(self, request: WireRequest) -> Reply: ...


class WsgiTransport:
    """Calls a WSGI app (a Flask app, say) in this process through werkzeug's test client."""

    def __init__(self, app: Callable[..., Any]) -> None:
        from werkzeug.test import Client  # here, not at import: the module loads no web library

        self._client = Client(app)

    def send(self, request: WireRequest) -> Reply:
        response = self._client.open(
            request.path,
            method=request.method,
            data=request.body or None,
            headers=dict(request.headers),
        )
        return Reply(response.status_code, response.get_data(as_text=True))


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx is the app's reply, reported as it is, not followed as a browser would."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class HttpTransport:
    """Calls a running server over HTTP (the standard library's urllib).

    :param base_url: where the server is reached, e.g. ``http://127.0.0.1:8000``
        (not the public URL the requests are signed for).
    :param timeout: seconds to wait for a reply; Twilio gives up after 15.
    """

    def __init__(self, base_url: str, *, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_KeepRedirects)

    def send(self, request: WireRequest) -> Reply:
        wire = urllib.request.Request(
            self.base_url + request.path,
            data=request.body if request.method == "POST" else None,
            headers=dict(request.headers),
            method=request.method,
        )
        try:
            with self._opener.open(wire, timeout=self.timeout) as response:
                return Reply(response.status, response.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as error:
            with error:
                return Reply(error.code, error.read().decode("utf-8", "replace"))


# --- Delivery and signing -------------------------------------------------------------------------


class _AllRequests:
    """Contains every request number."""

    def __contains__(self, item: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "ALL_REQUESTS"


ALL_REQUESTS: Container[int] = _AllRequests()
"""For ``retry=``, ``duplicate=`` and :class:`Tampering`: every request of the call."""


@dataclass(frozen=True)
class Tampering:
    """Requests signed wrongly on purpose, to see the app refuse them.

    :param token: sign with this auth token instead of the right one.
    :param url: sign the URL this gives for the one requested (e.g. the
        internal address, or ``http`` for ``https``).
    :param unsigned: send no ``X-Twilio-Signature`` header at all.
    :param altered: form fields changed after signing (a tampered body).
    :param requests: which request numbers are tampered with.
    """

    token: str | None = None
    url: Callable[[str], str] | None = None
    unsigned: bool = False
    altered: Mapping[str, str] = field(default_factory=dict)
    requests: Container[int] = ALL_REQUESTS


# --- The simulator --------------------------------------------------------------------------------


@dataclass
class CallSimulator:
    """Places simulated calls against one app, signing as Twilio signs for ``public_url``.

    :param transport: :class:`WsgiTransport` or :class:`HttpTransport`.
    :param public_url: the URL Twilio is configured with (scheme, host, and
        any prefix the proxy adds); every URL of a call must lie under it.
    :param auth_token: the account's auth token, the key of the signatures.
    :param max_turns: TwiML documents one call may fetch before it is stopped
        as :attr:`Outcome.TURN_LIMIT` (a loop in the app fails loudly).
    :param rng: draws the call and recording sids (seed it to repeat them).
    """

    transport: Transport
    public_url: str
    auth_token: str
    account_sid: str = "AC" + "0" * 32
    max_turns: int = 500
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.public_url = self.public_url.rstrip("/")

    def call(
        self,
        start: str,
        script: Sequence[Action | str] | Policy,
        *,
        direction: str = "inbound",
        respondent: str = "+447700900123",
        study_number: str = "+441632960000",
        start_method: str = "POST",
        status_callback: str | None = None,
        status_callback_method: str = "POST",
        call_sid: str | None = None,
        extra_fields: Mapping[str, str] | None = None,
        retry: Container[int] = (),
        duplicate: Container[int] = (),
        tampering: Tampering | None = None,
        started_at: dt.datetime | None = None,
    ) -> CallResult:
        """Play one call from its first webhook to its status callback.

        :param start: the Voice URL (inbound) or answer URL (outbound), a path
            under the public URL or the full public URL, query included.
        :param script: actions in order (strings are keys), or a :data:`Policy`.
        :param direction: ``inbound`` (the respondent calls the study's number:
            ``From`` is the respondent, the first ``CallStatus`` is ``ringing``)
            or ``outbound-api`` (a call placed by REST: ``From`` is the study's
            number, ``CallStatus`` is ``in-progress`` from the start).
        :param status_callback: where the call's final status is posted.
        :param extra_fields: sent with every request (``AnsweredBy``, ``FromCity``...).
        :param retry: request numbers sent a second time, byte for byte, whose
            second reply is followed (Twilio retrying a request it thinks lost).
        :param duplicate: request numbers delivered twice; the first reply is followed.
        """
        if isinstance(script, str):
            raise TypeError("a script is a list of actions: ['1975#'], not the string '1975#'")
        if direction not in ("inbound", "outbound-api"):
            raise ValueError(f"direction is 'inbound' or 'outbound-api', not {direction!r}")
        policy = _Script(script) if isinstance(script, Sequence) else script
        sid = call_sid or "CA" + f"{self.rng.getrandbits(128):032x}"
        caller, called = (
            (respondent, study_number) if direction == "inbound" else (study_number, respondent)
        )
        fields = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": sid,
            "Direction": direction,
            "From": caller,
            "Caller": caller,
            "To": called,
            "Called": called,
            **(extra_fields or {}),
        }
        run = _CallRun(
            self,
            policy,
            fields,
            first_status="ringing" if direction == "inbound" else "in-progress",
            retry=retry,
            duplicate=duplicate,
            tampering=tampering,
            started_at=started_at or dt.datetime.now(dt.UTC),
        )
        return run.play(
            self._absolute(start), start_method, status_callback, status_callback_method
        )

    def _absolute(self, url: str) -> str:
        """A start or callback URL: a full URL as it is, a path under the public URL (its prefix too)."""
        if urlsplit(url).scheme:
            return url
        return self.public_url + "/" + url.lstrip("/")


@dataclass
class _Next:
    """Fetch another document."""

    url: str
    method: str
    params: Mapping[str, str]
    purpose: str
    then: Callable[[], None] | None = None
    """Sent after this document's request: a recording's status callback."""


@dataclass
class _End:
    outcome: Outcome
    detail: str
    status: str = "completed"


class _Failed(Exception):
    """The app's reply cannot be followed; carries the detail for :attr:`Outcome.ERROR`."""


class _CallRun:
    """One call in progress: its clock, its events and the requests it has made."""

    def __init__(
        self,
        simulator: CallSimulator,
        policy: Policy,
        fields: dict[str, str],
        *,
        first_status: str,
        retry: Container[int],
        duplicate: Container[int],
        tampering: Tampering | None,
        started_at: dt.datetime,
    ) -> None:
        self.sim = simulator
        self.policy = policy
        self.fields = fields
        self.call_status = first_status
        self.retry, self.duplicate, self.tampering = retry, duplicate, tampering
        self.started_at = started_at
        self.elapsed = 0.0
        self.events: list[Event] = []
        self.pending_heard: list[Heard] = []
        self.requests = 0
        self.turns = 0
        self.prompts = 0

    # The call's course.

    def play(
        self, start: str, method: str, status_callback: str | None, status_method: str
    ) -> CallResult:
        step: _Next | _End = _Next(start, method, {}, "start")
        while isinstance(step, _Next):
            if self.turns >= self.sim.max_turns:
                recent = [e.url for e in self.events if isinstance(e, Exchange)][-5:]
                step = _End(
                    Outcome.TURN_LIMIT,
                    f"{self.turns} TwiML documents fetched without the call ending; "
                    f"the last: {', '.join(recent)}",
                )
                break
            self.turns += 1
            try:
                root = self._fetch_twiml(step)
                if step.then:
                    step.then()
                step = self._execute(root, step.url)
            except _Failed as failure:
                step = _End(Outcome.ERROR, str(failure))
            except _CallerLeft as left:
                step = _End(left.outcome, left.detail)
        if status_callback:
            self._status_callback(self.sim._absolute(status_callback), status_method, step)
        return CallResult(
            call_sid=self.fields["CallSid"],
            outcome=step.outcome,
            detail=step.detail,
            events=tuple(self.events),
            duration=self._duration(step),
        )

    def _duration(self, end: _End) -> int:
        return 0 if end.outcome is Outcome.REJECTED else math.ceil(self.elapsed)

    def _fetch_twiml(self, step: _Next) -> ElementTree.Element:
        params = {**self.fields, "CallStatus": self.call_status, **step.params}
        self.call_status = "in-progress"
        exchange = self._request(step.url, step.method, params, step.purpose)
        if not 200 <= exchange.status < 300:
            raise _Failed(
                f"{exchange.method} {exchange.url} answered {exchange.status}: "
                f"{exchange.body[:BODY_SHOWN]}"
            )
        try:
            root = ElementTree.fromstring(exchange.body.encode("utf-8"))
        except ElementTree.ParseError as error:
            raise _Failed(
                f"{exchange.method} {exchange.url} answered malformed TwiML ({error}): "
                f"{exchange.body[:BODY_SHOWN]}"
            ) from None
        if root.tag != "Response":
            raise _Failed(
                f"{exchange.method} {exchange.url} answered <{root.tag}>, not a TwiML "
                f"<Response>: {exchange.body[:BODY_SHOWN]}"
            )
        return root

    def _execute(self, root: ElementTree.Element, url: str) -> _Next | _End:
        """Run a document's verbs in order until one moves the call elsewhere or ends it."""
        for verb in root:
            if verb.tag in ("Say", "Play", "Pause"):
                self._sound(verb, url)
            elif verb.tag == "Gather":
                step = self._gather(verb, url)
                if step is not None:
                    return step
            elif verb.tag == "Record":
                step = self._record(verb, url)
                if step is not None:
                    return step
            elif verb.tag == "Redirect":
                target = (verb.text or "").strip()
                if not target:
                    raise _Failed(f"a <Redirect> without a URL in the TwiML of {url}")
                return _Next(self._resolve(url, target), _method(verb, url), {}, "redirect")
            elif verb.tag == "Hangup":
                return _End(Outcome.HANGUP, f"<Hangup> in the TwiML of {url}")
            elif verb.tag == "Reject":
                reason = verb.get("reason", "rejected")
                status = "busy" if reason == "busy" else "no-answer"
                return _End(Outcome.REJECTED, f"<Reject reason={reason!r}> at {url}", status)
            else:
                raise _Failed(f"<{verb.tag}> in the TwiML of {url} is not simulated")
        return _End(Outcome.END_OF_TWIML, f"the TwiML of {url} ran out of verbs")

    def _sound(self, verb: ElementTree.Element, url: str) -> None:
        loop = int(verb.get("loop", "1"))
        times = max(loop, 1)
        if verb.tag == "Say":
            text = "".join(verb.itertext()).strip()
            heard = Heard(text, verb.get("voice"), verb.get("language"), loop)
            self.events.append(heard)
            self.pending_heard.append(heard)
            self.elapsed += len(text.split()) * SECONDS_PER_WORD * times
        elif verb.tag == "Play":
            self.events.append(Played((verb.text or "").strip(), loop, verb.get("digits")))
            self.elapsed += SECONDS_PER_PLAY * times
        elif verb.tag == "Pause":
            seconds = float(verb.get("length", "1"))
            self.events.append(Paused(seconds))
            self.elapsed += seconds
        else:
            raise _Failed(f"<{verb.tag}> cannot be nested in a <Gather> (TwiML of {url})")

    def _ask(self, kind: str, verb: ElementTree.Element, url: str) -> tuple[Prompt, Action]:
        """The caller's action at a ``<Gather>`` or ``<Record>``.

        :raises _CallerLeft: the script is used up (the caller is taken to hang up).
        """
        prompt = Prompt(kind, tuple(self.pending_heard), dict(verb.attrib), url, self.prompts)
        self.prompts += 1
        self.pending_heard = []
        try:
            return prompt, self.policy(prompt)
        except _ScriptEnded as ended:
            self.events.append(Responded(prompt, HANGUP, None, str(ended)))
            raise _CallerLeft(Outcome.SCRIPT_ENDED, str(ended)) from None

    # <Gather>

    def _gather(self, verb: ElementTree.Element, url: str) -> _Next | _End | None:
        for child in verb:
            self._sound(child, url)
        prompt, action = self._ask("gather", verb, url)
        if isinstance(action, Hangup):
            self.events.append(Responded(prompt, action, None))
            return _End(Outcome.CALLER_HUNG_UP, f"the caller hung up at a <Gather> of {url}")
        sent, note = self._gather_input(prompt, action)
        if sent is None and verb.get("actionOnEmptyResult") == "true":
            sent = {}
        self.events.append(Responded(prompt, action, sent, note))
        if sent is None:
            return None  # silence: on to the verb after the <Gather>
        target = self._resolve(url, verb.get("action") or url)
        return _Next(target, _method(verb, url), sent, "gather")

    def _gather_input(self, prompt: Prompt, action: Action) -> tuple[dict[str, str] | None, str]:
        """What a gather sends for ``action`` (None: nothing, it timed out) and why, if not plain."""
        if isinstance(action, Speech):
            self.elapsed += len(action.text.split()) * SECONDS_PER_WORD + 1
            if "speech" not in prompt.inputs:
                return None, "speech to a gather that takes keys only: silence"
            return {"SpeechResult": action.text, "Confidence": f"{action.confidence:g}"}, ""
        if isinstance(action, Keys | Invalid):
            if "dtmf" not in prompt.inputs:
                self.elapsed += prompt.timeout
                return None, "keys to a gather that takes speech only: silence"
            return self._collect(prompt, action.digits)
        if isinstance(action, Recording):
            raise _Failed(f"the script gave {action!r} to a <Gather> of {prompt.url}")
        self.elapsed += prompt.timeout
        return None, ""

    def _collect(self, prompt: Prompt, digits: str) -> tuple[dict[str, str] | None, str]:
        """Keys as a gather takes them: up to ``numDigits``, or up to a ``finishOnKey``."""
        collected = ""
        finish = prompt.finish_on_key
        for at, key in enumerate(digits):
            self.elapsed += SECONDS_PER_KEY
            if finish and key in finish:
                # a lone finishing key is sent as itself, as Twilio is reported to do
                sent = {"Digits": collected or key, "FinishedOnKey": key}
                return sent, _lost(digits[at + 1 :])
            collected += key
            if prompt.num_digits is not None and len(collected) >= prompt.num_digits:
                return {"Digits": collected, "FinishedOnKey": ""}, _lost(digits[at + 1 :])
        self.elapsed += prompt.timeout
        if collected:  # the timeout sends what was keyed so far
            return {"Digits": collected, "FinishedOnKey": ""}, "ended by the timeout"
        return None, ""

    # <Record>

    def _record(self, verb: ElementTree.Element, url: str) -> _Next | _End | None:
        prompt, action = self._ask("record", verb, url)
        recording = _as_recording(action, prompt)
        if recording is None:  # silence or an immediate hang-up: an empty recording
            self.events.append(Responded(prompt, action, None, "an empty recording"))
            if isinstance(action, Hangup):
                return _End(Outcome.CALLER_HUNG_UP, f"the caller hung up at a <Record> of {url}")
            self.elapsed += prompt.timeout
            return None  # Twilio requests nothing and goes on to the next verb
        limit = int(verb.get("maxLength", "3600"))
        seconds = min(recording.seconds, limit)
        ending = recording.ending if recording.seconds < limit else None
        self.elapsed += seconds
        record_sid = "RE" + f"{self.sim.rng.getrandbits(128):032x}"
        sent = {
            "RecordingUrl": (
                f"https://api.twilio.com/{API_VERSION}/Accounts/{self.sim.account_sid}"
                f"/Recordings/{record_sid}"
            ),
            "RecordingSid": record_sid,
            "RecordingDuration": str(seconds),
        }
        note = ""
        if ending == "hangup":
            sent["Digits"] = "hangup"
        elif ending is not None and ending in prompt.finish_on_key:
            sent["Digits"] = ending
        else:
            note = "ended by silence" if ending is None else f"{ending!r} does not end it"
            self.elapsed += prompt.timeout
        self.events.append(Responded(prompt, action, sent, note))
        target = self._resolve(url, verb.get("action") or url)
        callback = verb.get("recordingStatusCallback")
        # the recording's own callback comes once the file is ready, after the action's request
        then = None
        if callback:
            callback_url = self._resolve(url, callback)
            then = functools.partial(self._recording_status, verb, callback_url, sent)
        if ending == "hangup":
            # Twilio still posts the recording; the call is over, so the reply is not followed
            self._request(target, _method(verb, url), self._fields(sent), "record")
            if then:
                then()
            return _End(Outcome.CALLER_HUNG_UP, f"the caller hung up while recording at {url}")
        return _Next(target, _method(verb, url), sent, "record", then)

    def _recording_status(
        self, verb: ElementTree.Element, url: str, recording: Mapping[str, str]
    ) -> None:
        events = verb.get("recordingStatusCallbackEvent", "completed").split()
        if "completed" not in events:
            return
        params = {
            "AccountSid": self.sim.account_sid,
            "CallSid": self.fields["CallSid"],
            "RecordingSid": recording["RecordingSid"],
            "RecordingUrl": recording["RecordingUrl"],
            "RecordingStatus": "completed",
            "RecordingDuration": recording["RecordingDuration"],
            "RecordingChannels": "1",
            "RecordingSource": "RecordVerb",
            "RecordingStartTime": self._timestamp(),
        }
        method = verb.get("recordingStatusCallbackMethod", "POST").upper()
        self._request(url, method, params, "recording-status")

    # Requests.

    def _fields(self, extra: Mapping[str, str]) -> dict[str, str]:
        return {**self.fields, "CallStatus": self.call_status, **extra}

    def _status_callback(self, url: str, method: str, end: _End) -> None:
        params = {
            **self.fields,
            "CallStatus": end.status,
            "CallDuration": str(self._duration(end)),
            "Timestamp": self._timestamp(),
            "CallbackSource": "call-progress-events",
            "SequenceNumber": "0",
        }
        self._request(url, method.upper(), params, "status-callback")

    def _timestamp(self) -> str:
        return email.utils.format_datetime(self.started_at + dt.timedelta(seconds=self.elapsed))

    def _request(self, url: str, method: str, params: Mapping[str, str], purpose: str) -> Exchange:
        """Sign and send one request (twice where asked), keep the exchanges, give the one followed."""
        number = self.requests
        self.requests += 1
        method = method.upper()
        sent = dict(params)
        if method == "GET":  # the fields go in the query, and the signature covers them there
            parts = urlsplit(url)
            query = "&".join(q for q in (parts.query, urlencode(params)) if q)
            url, form, body = urlunsplit(parts._replace(query=query)), {}, b""
        else:
            form, body = sent, urlencode(params).encode("utf-8")
        headers = {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "User-Agent": "TwilioProxy/1.1",
            "I-Twilio-Idempotency-Token": f"{self.fields['CallSid']}-{number}",
        }
        signature = self._signature(number, url, form)
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        if self.tampering and number in self.tampering.requests and self.tampering.altered:
            sent = {**sent, **self.tampering.altered}  # after signing: the body no longer matches
            if method == "POST":
                body = urlencode(sent).encode("utf-8")
        wire = WireRequest(method, self._app_path(url), body, headers)

        def deliver(delivery: str) -> Exchange:
            reply = self.sim.transport.send(wire)
            exchange = Exchange(
                number, purpose, delivery, method, url, sent, signature, reply.status, reply.body
            )
            self.events.append(exchange)
            return exchange

        first = deliver("first")
        if number in self.duplicate:
            deliver("duplicate")
        if number in self.retry:
            return deliver("retry")
        return first

    def _signature(self, number: int, url: str, form: Mapping[str, str]) -> str | None:
        token, signed_url = self.sim.auth_token, url
        tampering = self.tampering
        if tampering and number in tampering.requests:
            if tampering.unsigned:
                return None
            token = tampering.token or token
            signed_url = tampering.url(url) if tampering.url else url
        return RequestValidator(token).compute_signature(signed_url, form)

    def _resolve(self, current: str, reference: str) -> str:
        target = urljoin(current, reference.strip())
        self._app_path(target)  # refuses a URL outside the public URL now, naming where it was
        return target

    def _app_path(self, url: str) -> str:
        """The path and query the app sees for a public URL (the proxy's view of it)."""
        base = self.sim.public_url
        if url != base and not url.startswith(base + "/") and not url.startswith(base + "?"):
            raise _Failed(f"{url} is not under the public URL {base}: Twilio could not reach it")
        rest = url[len(base) :]
        return rest if rest.startswith("/") else "/" + rest


class _CallerLeft(Exception):
    """The caller left the call (the script ran out)."""

    def __init__(self, outcome: Outcome, detail: str) -> None:
        super().__init__(detail)
        self.outcome, self.detail = outcome, detail


def _method(verb: ElementTree.Element, url: str) -> str:
    method = verb.get("method", "POST").upper()
    if method not in ("GET", "POST"):
        raise _Failed(f"<{verb.tag} method={method!r}> in the TwiML of {url}: GET or POST only")
    return method


def _lost(keys: str) -> str:
    return f"keys {keys!r} after the gather ended were lost" if keys else ""


def _as_recording(action: Action, prompt: Prompt) -> Recording | None:
    """An action at a ``<Record>`` as a recording (None: nothing was recorded)."""
    if isinstance(action, Recording):
        return action
    if isinstance(action, Keys | Invalid):  # a few seconds' speech, then the first key that ends it
        enders = [key for key in action.digits if key in prompt.finish_on_key]
        return Recording(seconds=3, ending=enders[0] if enders else None)
    if isinstance(action, Speech):
        seconds = max(1, math.ceil(len(action.text.split()) * SECONDS_PER_WORD))
        return Recording(seconds=seconds, ending=None)
    return None
