"""The typed descriptors plugins hand to the host.

Registration hooks return these frozen dataclasses instead of dicts (the conda
style) so a mistake such as a misspelt field or an upper-case name fails when
the plugin builds its descriptor, naming the field, not later when a mode is
mounted or an export is half written.

Callbacks take one positional context object (the questionnaire, the dataset,
the mode context) rather than datasette-style injection by parameter name: the
signature is fixed and type-checkable, and new context goes on the object.

This module imports nothing beyond the standard library; it is part of the
cheap import path every command pays for.
"""

from __future__ import annotations

import datetime as _dt
import importlib.util
import re
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instrument.modes import ModePolicy

__all__ = [
    "AutomatedCallReport",
    "AutomatedCallRun",
    "CONTACT_NEEDS",
    "EVENT_KINDS",
    "RECEIPT_STATUSES",
    "VALUE_TYPES",
    "ChannelSetupError",
    "ContactChannel",
    "EndToEndReport",
    "EndToEndRun",
    "InterviewEvent",
    "ModeSetupError",
    "ModeSpec",
    "OutgoingMessage",
    "OutputFormat",
    "QuestionType",
    "RECORDING_DELETION_STATUSES",
    "Receipt",
    "RecordingDeletion",
    "RecordingProvider",
    "TextInterviewReport",
    "TextInterviewStart",
    "missing_modules",
]

_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
_EXTENSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")  # R syntax files are .R by convention
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
_MEDIA_TYPE = re.compile(r"[\w.+-]+/[\w.+-]+\Z")
_SUFFIX = re.compile(r"[A-Za-z0-9_.-]+\Z")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{1,8})*\Z")
_IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,200}\Z")  # printable ASCII: it travels in a mail header
_HEADER_NAME = re.compile(r"[!-9;-~]+\Z")  # RFC 5322 field name: printable ASCII but ':'

VALUE_TYPES = frozenset({"int", "float", "str", "date", "codes"})
"""Python shapes an answer can take (see :mod:`instrument.values`): ``codes``
is the ``tuple[int, ...]`` of a multiple choice; ``date`` is
``datetime.date``."""

EVENT_KINDS = frozenset(
    {"started", "resumed", "answered", "moved_back", "breakoff", "completed", "mode_switched"}
)
"""Event kinds the core emits. Plugins may emit their own kinds too; these
are listed so a subscriber knows what to expect, not to restrict anyone."""


def _check_name(owner: str, what: str, value: object) -> None:
    # Names end up as URL prefixes, CLI words, file suffixes and SPSS/Stata
    # identifiers, so one conservative rule serves them all.
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(
            f"{owner}.{what} must be a lower-case identifier (letters, digits, _; "
            f"starting with a letter), got {value!r}"
        )


def _check_callable(owner: str, what: str, value: object, *, optional: bool) -> None:
    if value is None and optional:
        return
    if not callable(value):
        raise TypeError(f"{owner}.{what} must be callable, got {value!r}")


def _check_modules(owner: str, requires: Any) -> tuple[str, ...]:
    if isinstance(requires, str):
        # ("pyreadstat") without the comma is a classic slip: say so.
        raise TypeError(f"{owner}.requires must be a tuple of module names, not a string")
    modules = tuple(requires)
    for module in modules:
        if not isinstance(module, str) or not _MODULE.match(module):
            raise ValueError(f"{owner}.requires: {module!r} is not a module name")
    return modules


def missing_modules(requires: Iterable[str]) -> tuple[str, ...]:
    """Return the modules in *requires* that cannot be imported here.

    ``importlib.util.find_spec`` locates a top-level module without executing
    it, so asking "is pyarrow available?" does not cost a pyarrow import.
    """
    missing = []
    for module in requires:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package is missing or broken
            found = False
        if not found:
            missing.append(module)
    return tuple(missing)


@dataclass(frozen=True)
class EndToEndRun:
    """What ``instrument simulate --end-to-end`` hands a mode's :attr:`ModeSpec.simulate_end_to_end`.

    The host's command may not import a mode, and a mode may not import the server (the layers
    in pyproject.toml), so the host passes the server's app factory in: ``make_app(config)``
    builds the real WSGI app (``instrument.server``'s ``create_app``) with ``config`` over its
    defaults; the mode's own settings are the mode's to make up for the run.

    :param path: the questionnaire file (what the app serves).
    :param questionnaire: the checked questionnaire (:class:`~instrument.model.Questionnaire`).
    :param n: how many random respondents.
    :param seed: the seed every random choice is drawn from.
    :param database: where to store the interviews; None: a temporary SQLite file.
    :param now: when the first respondent starts (UTC); None: a fixed date.
    :param progress: ``progress(line)`` for a line of progress, or None.
    """

    path: Path
    questionnaire: Any
    n: int
    seed: int
    make_app: Callable[[Mapping[str, Any]], Any]
    database: str | None = None
    now: _dt.datetime | None = None
    progress: Callable[[str], None] | None = None


@dataclass(frozen=True)
class EndToEndReport:
    """What an end-to-end simulation found: lines for the terminal, counts for JSON, the errors.

    :param lines: the report as a mode words it (its own units: calls, pages, ...).
    :param counts: the same figures by name (``{"respondents": 5, "calls": 7, ...}``).
    :param errors: one sentence an error (an HTTP error, a stuck respondent, ...); any makes
        the command exit non-zero.
    """

    lines: tuple[str, ...]
    counts: Mapping[str, int]
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class AutomatedCallRun:
    """What the host hands a mode's :attr:`ModeSpec.place_automated_calls`: a study's due calls.

    Which case, when and on which number is the host's call queue's decision, so the mode is
    handed the queue's dialler for the study and only turns each due case into its provider's
    request (the ``ivr`` mode: Twilio's ``calls.create``).

    :param questionnaire_id: the study whose cases are called.
    :param calls: the host's :class:`~instrument.callqueue.automated.AutomatedCalls` for the
        study (kept as ``Any`` so this module imports nothing): its ``take`` hands out the next
        due case queued for the dialler (calling hours, do-not-call list, attempt limits,
        retry delays, a wave step's own limits), ``place`` records and dials it through the
        mode's ``Dialer``, and its queue's ``settings_for`` gives the study's fieldwork
        settings (``telephony.automated``: ring time, voicemail policy).
    :param limit: place at most this many calls; 0 asks only whether the mode can place
        calls with this machine's settings (no case is taken).
    :param clock: the time now (UTC), read afresh for each call.
    """

    questionnaire_id: str
    calls: Any
    limit: int
    clock: Callable[[], _dt.datetime]

    def __post_init__(self) -> None:
        if not isinstance(self.limit, int) or self.limit < 0:
            raise ValueError(f"AutomatedCallRun.limit must be 0 or more, got {self.limit!r}")


@dataclass(frozen=True)
class AutomatedCallReport:
    """What :attr:`ModeSpec.place_automated_calls` did.

    :param placed: the cases a call was placed to, in order.
    :param not_placed: ``(case id, why)`` of cases taken but not dialled (no number may be
        dialled, the provider refused the call): their attempts are coded, to be tried again
        as the rules say.
    :param unavailable: a sentence naming what to set when the mode cannot place calls with
        this machine's settings (Twilio not configured); nothing was taken then. None: it can.
    """

    placed: tuple[str, ...] = ()
    not_placed: tuple[tuple[str, str], ...] = ()
    unavailable: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "placed", tuple(self.placed))
        object.__setattr__(self, "not_placed", tuple(tuple(p) for p in self.not_placed))
        if self.unavailable is not None and (self.placed or self.not_placed):
            raise ValueError("AutomatedCallReport: a mode that cannot place calls placed none")


@dataclass(frozen=True)
class TextInterviewStart:
    """What the host hands a mode's :attr:`ModeSpec.start_text_interview`: one case to text.

    The fieldwork worker's ``sms_interview`` step: the host has decided that this member is
    due (the plan's day, the quiet hours in their zone, not finished, withdrawn nor opted out,
    a number the SMS channel may text) and holds the member's claim; the mode starts (or
    resumes) the case's interview and texts its first question, once.

    :param interviews: the host's :class:`~instrument.interviews.InterviewService` serving
        the study's stored questionnaire (``Any`` so this module imports nothing).
    :param number: the member's number (E.164), decrypted in memory only: never stored.
    :param language: the member's language, None for the questionnaire's default.
    :param send: the installed SMS contact channel's ``send`` (its sender and refusals).
    :param clock: the time now (UTC).
    """

    questionnaire_id: str
    case_id: str
    number: str
    language: str | None
    interviews: Any
    send: Callable[[OutgoingMessage], Receipt]
    clock: Callable[[], _dt.datetime]


@dataclass(frozen=True)
class TextInterviewReport:
    """What :attr:`ModeSpec.start_text_interview` did for one case.

    :param texted: the first text was handed to the channel (and accepted by it).
    :param why: why nothing was texted (the number's texts answer another interview, it
        texted STOP, the provider refused, the server's secret is not set), None when texted.
    """

    texted: bool
    why: str | None = None


class ModeSetupError(RuntimeError):
    """A mode cannot start with the settings it was given (raised by ``create_blueprint``).

    The server stops at start-up with its message, which names the setting
    to fix, rather than failing later in front of a respondent or an
    interviewer (``instrument serve`` prints it without a traceback).
    """


@dataclass(frozen=True)
class ModeSpec:
    """A way of running interviews: web, telephone, console, ...

    :param name: lower-case identifier; the URL prefix of its blueprint and
        the value recorded as ``mode`` on every answer.
    :param label: human name shown to researchers.
    :param capabilities: free-form lower-case words the mode offers, e.g.
        ``{"self_completion", "interviewer", "voice", "sms"}``; the host and
        other plugins use them to choose a mode for a case.
    :param create_blueprint: called with the host's
        :class:`~instrument.interviews.ModeContext` (the interview service and
        the clock); returns a Flask blueprint, or None for a mode without web
        presence. Kept as ``Any`` so this module never imports Flask.
    :param supports: called with a question; False when the mode cannot ask
        it (a voice mode and a free-text grid). None means "everything".
    :param requires: modules the mode imports when used (``("twilio",)``).
    :param extra: the ``survey-instrument[extra]`` that installs *requires*.
    :param policy: how the mode asks questions (:class:`~instrument.modes.ModePolicy`):
        a mode with a policy is one questionnaires may name in ``meta.modes``
        and interviews may run in; the loader, engine, simulator and dataset
        read the policy, never the name. None for a mode that only *plays*
        others (the terminal of ``instrument try``). A standard mode (web,
        cati, ivr) may be served only with its standard policy.
    :param preview: ``preview(step, language)`` returns the HTML the mode
        shows for a step (an HTML fragment, rendered inside the staff area's
        request), so researchers preview a page as this mode shows it; None:
        the staff area lists the step's wording.
    :param simulate_end_to_end: ``simulate_end_to_end(run)`` plays ``run.n`` random
        respondents through the mode as it is served (its own endpoints on the real app,
        :class:`EndToEndRun`) and returns an :class:`EndToEndReport`; ``instrument simulate
        --mode NAME --end-to-end`` calls it. None: the mode has no such simulation (the
        engine-level ``instrument simulate`` serves every mode).
    :param place_automated_calls: ``place_automated_calls(run)`` places up to ``run.limit``
        outbound calls to the due cases of ``run.questionnaire_id`` that are queued for the
        automated dialler, through ``run.calls`` (:class:`AutomatedCallRun`), and returns an
        :class:`AutomatedCallReport`; the fieldwork worker calls it each round for the open
        waves whose ``automated_call`` step names this mode. None: the mode places no calls.
    :param start_text_interview: ``start_text_interview(start)`` texts one case the first
        question of its interview (:class:`TextInterviewStart`), never twice, and returns a
        :class:`TextInterviewReport`; the fieldwork worker calls it for a wave's
        ``sms_interview`` step. None: the mode starts no text interviews.
    """

    name: str
    label: str
    capabilities: frozenset[str] = frozenset()
    create_blueprint: Callable[[Any], Any] | None = None
    supports: Callable[[Any], bool] | None = None
    requires: tuple[str, ...] = ()
    extra: str | None = None
    policy: ModePolicy | None = None
    preview: Callable[[Any, str], str] | None = None
    simulate_end_to_end: Callable[[EndToEndRun], EndToEndReport] | None = None
    place_automated_calls: Callable[[AutomatedCallRun], AutomatedCallReport] | None = None
    start_text_interview: Callable[[TextInterviewStart], TextInterviewReport] | None = None

    def __post_init__(self) -> None:
        _check_name("ModeSpec", "name", self.name)
        if not isinstance(self.label, str) or not self.label.strip():
            raise ValueError(f"ModeSpec.label must be a non-empty string, got {self.label!r}")
        if isinstance(self.capabilities, str):
            raise TypeError("ModeSpec.capabilities must be a collection of words, not a string")
        capabilities = frozenset(self.capabilities)
        for word in capabilities:
            _check_name("ModeSpec", "capabilities", word)
        object.__setattr__(self, "capabilities", capabilities)
        _check_callable("ModeSpec", "create_blueprint", self.create_blueprint, optional=True)
        _check_callable("ModeSpec", "supports", self.supports, optional=True)
        object.__setattr__(self, "requires", _check_modules("ModeSpec", self.requires))
        if self.extra is not None:
            _check_name("ModeSpec", "extra", self.extra)
        _check_callable("ModeSpec", "preview", self.preview, optional=True)
        _check_callable("ModeSpec", "simulate_end_to_end", self.simulate_end_to_end, optional=True)
        _check_callable(
            "ModeSpec", "place_automated_calls", self.place_automated_calls, optional=True
        )
        _check_callable(
            "ModeSpec", "start_text_interview", self.start_text_interview, optional=True
        )
        if self.policy is not None and not isinstance(self.policy, ModePolicy):
            raise TypeError(f"ModeSpec.policy must be a ModePolicy, got {self.policy!r}")

    def missing_requirements(self) -> tuple[str, ...]:
        """Modules in :attr:`requires` that are not importable."""
        return missing_modules(self.requires)


@dataclass(frozen=True)
class OutputFormat:
    """A file format the dataset can be exported to.

    What the export needs to know about a format is here, so that it treats
    a third party's format exactly as a built-in one and holds no list of
    format names of its own.

    :param name: lower-case identifier used on the command line
        (``instrument export --format spss``).
    :param extensions: file extensions without the dot, main file first
        (``("sav",)``, ``("csv", "sps")``); *write* writes one file per
        extension, the others beside the main one with the same stem.
    :param media_type: IANA media type of the main file.
    :param write: ``write(dataset, dest)`` writes the whole dataset to the
        path *dest*; it should stream or write directly to the file rather
        than build the output in memory.
    :param can_write: ``can_write(dataset)`` returns None when the dataset
        can be written, else a sentence saying why not (Stata's 80-character
        label limit). None means "always".
    :param requires: modules *write* imports (``("pyreadstat",)``), imported
        inside *write* so listing the format stays cheap.
    :param extra: the ``survey-instrument[extra]`` that installs *requires*.
    :param suffix: what follows the dataset's stem in the main file's name,
        ending in the main extension (``"_ddi.xml"``); None means
        ``"." + extensions[0]``.
    :param default: part of an export that names no formats.
    :param always: written with every export, whatever formats it names (the
        dictionary); such a format that cannot write a dataset is left out
        with a note instead of stopping the export.
    :param per_loop: also written for each loop's long file
        (``instrument export --long-loops``): true for data files, false for
        files about the whole dataset.
    :param descriptions: one sentence per extension for the export's README
        (``{"sav": "SPSS data file ..."}``).
    """

    name: str
    extensions: tuple[str, ...]
    media_type: str
    write: Callable[[Any, Path], None]
    can_write: Callable[[Any], str | None] | None = None
    requires: tuple[str, ...] = ()
    extra: str | None = None
    suffix: str | None = None
    default: bool = False
    always: bool = False
    per_loop: bool = False
    descriptions: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        _check_name("OutputFormat", "name", self.name)
        if isinstance(self.extensions, str):
            raise TypeError("OutputFormat.extensions must be a tuple, not a string")
        extensions = tuple(self.extensions)
        if not extensions:
            raise ValueError("OutputFormat.extensions needs at least one extension")
        for ext in extensions:
            if not isinstance(ext, str) or not _EXTENSION.match(ext):
                raise ValueError(
                    f"OutputFormat.extensions: {ext!r} must be letters and digits without a leading dot"
                )
        object.__setattr__(self, "extensions", extensions)
        if not isinstance(self.media_type, str) or not _MEDIA_TYPE.match(self.media_type):
            raise ValueError(f"OutputFormat.media_type: {self.media_type!r} is not a media type")
        _check_callable("OutputFormat", "write", self.write, optional=False)
        _check_callable("OutputFormat", "can_write", self.can_write, optional=True)
        object.__setattr__(self, "requires", _check_modules("OutputFormat", self.requires))
        if self.extra is not None:
            _check_name("OutputFormat", "extra", self.extra)
        if self.suffix is not None and (
            not isinstance(self.suffix, str)
            or not _SUFFIX.match(self.suffix)
            or not self.suffix.endswith("." + extensions[0])
        ):
            raise ValueError(
                f"OutputFormat.suffix: {self.suffix!r} must be letters, digits, _ . - "
                f"ending in .{extensions[0]}"
            )
        for flag in ("default", "always", "per_loop"):
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"OutputFormat.{flag} must be True or False")
        if self.default and self.always:
            raise ValueError("OutputFormat: an always-written format cannot also be a default")
        descriptions = dict(self.descriptions)
        for ext, text in descriptions.items():
            if ext not in extensions:
                raise ValueError(
                    f"OutputFormat.descriptions: {ext!r} is not one of its extensions {extensions}"
                )
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"OutputFormat.descriptions[{ext!r}] must be a sentence")
        object.__setattr__(self, "descriptions", types.MappingProxyType(descriptions))

    def missing_requirements(self) -> tuple[str, ...]:
        """Modules in :attr:`requires` that are not importable."""
        return missing_modules(self.requires)

    def file_names(self, stem: str) -> tuple[str, ...]:
        """The files *write* makes for a dataset with this stem, the main one first."""
        main = stem + (self.suffix or "." + self.extensions[0])
        return (main, *(f"{stem}.{ext}" for ext in self.extensions[1:]))

    def describe(self, file_name: str) -> str:
        """The README's sentence for one of this format's files ("" if none was given)."""
        for ext in self.extensions[1:]:
            if file_name.endswith("." + ext):
                return self.descriptions.get(ext, "")
        return self.descriptions.get(self.extensions[0], "")


@dataclass(frozen=True)
class QuestionType:
    """An answer type beyond the built-in ones.

    :param name: lower-case identifier used as ``type:`` in questionnaires.
    :param value_type: the Python shape of an answer, one of
        :data:`VALUE_TYPES`; it decides how the dataset stores the variable.
    :param coerce: turns raw input (a form string, DTMF digits, JSON) into
        that shape; raises ``ValueError`` with a respondent-readable message
        when it cannot.
    :param validate: ``validate(value)`` returns None when a coerced value is
        acceptable, else a message; None means "any coerced value is fine".
    """

    name: str
    value_type: str
    coerce: Callable[[Any], Any]
    validate: Callable[[Any], str | None] | None = None

    def __post_init__(self) -> None:
        _check_name("QuestionType", "name", self.name)
        if self.value_type not in VALUE_TYPES:
            raise ValueError(
                f"QuestionType.value_type must be one of {sorted(VALUE_TYPES)}, "
                f"got {self.value_type!r}"
            )
        _check_callable("QuestionType", "coerce", self.coerce, optional=False)
        _check_callable("QuestionType", "validate", self.validate, optional=True)


@dataclass(frozen=True)
class InterviewEvent:
    """Something that happened in an interview, for paradata and audit.

    :param kind: lower-case identifier, usually one of :data:`EVENT_KINDS`.
    :param interview_id: the interview's id in the store.
    :param at: when it happened; must be timezone-aware (the store is UTC).
    :param mode: the mode it happened in (``"web"``, ``"phone"``).
    :param data: kind-specific details (question id, page time, ...). Copied
        into a read-only mapping so one subscriber cannot change what the
        next one sees. Never put personal data here.
    """

    kind: str
    interview_id: str
    at: _dt.datetime
    mode: str
    data: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        _check_name("InterviewEvent", "kind", self.kind)
        _check_name("InterviewEvent", "mode", self.mode)
        if not isinstance(self.interview_id, str) or not self.interview_id:
            raise ValueError("InterviewEvent.interview_id must be a non-empty string")
        if not isinstance(self.at, _dt.datetime) or self.at.utcoffset() is None:
            raise ValueError(
                f"InterviewEvent.at must be a timezone-aware datetime, got {self.at!r}"
            )
        object.__setattr__(self, "data", types.MappingProxyType(dict(self.data)))


CONTACT_NEEDS = frozenset({"email", "phone", "address"})
"""What a contact channel sends to: an email address, a phone number (E.164)
or a postal address (its lines, one per line of ``OutgoingMessage.to``)."""

RECEIPT_STATUSES = frozenset({"sent", "queued", "failed"})
"""``sent``: handed over for good (an SMTP server accepted it, a letter is in
the day's batch); ``queued``: the provider took it and reports delivery later
(Twilio's status callbacks); ``failed``: not sent, :attr:`Receipt.error` says
why."""


class ChannelSetupError(RuntimeError):
    """A contact channel cannot send with the settings it was given.

    Raised by a channel's ``check`` or ``send`` when a setting is missing or
    malformed (the message names the variable). Unlike a refused recipient,
    which is one message's :class:`Receipt`, this concerns every message, so
    the worker stops and says so instead of recording thousands of failures.
    """


@dataclass(frozen=True)
class OutgoingMessage:
    """One message for one person, as the fieldwork worker hands it to a channel.

    The channel neither reads the store nor keeps anything: the worker
    decrypts the address, passes it in *to*, and records the :class:`Receipt`.

    :param channel: the name of the channel it is for.
    :param to: the decrypted address: an email address, an E.164 number, or a
        postal address with one line per line. Never logged or stored by a
        channel, and left out of this object's ``repr``.
    :param template: which message this is (``invitation``, ``reminder``): the
        channel renders its template of that name when *text* is None.
    :param language: the language tag to write in (``en``, ``cy``).
    :param idempotency_key: the same for every attempt at the same message
        (the worker's contact id); a resend carries it, so it is recognisable.
    :param personal_link: the member's own link into the questionnaire.
    :param unsubscribe_link: the https link that stops contact at once.
    :param salutation: how the message greets them ("Dear Ms Jones").
    :param access_code: the code typed in with a link copied from a letter.
    :param subject: a subject already written; None: from the template.
    :param text: the plain-text body already written; None: from the template.
    :param html: an HTML body already written (email only); None: from the
        template when *text* is None too.
    :param headers: extra email headers (``{"X-Wave": "3"}``).
    :param context: more template variables (study name, closing date,
        incentive); never put answers here.
    """

    channel: str
    to: str = field(repr=False)
    template: str
    language: str
    idempotency_key: str
    personal_link: str = ""
    unsubscribe_link: str = ""
    salutation: str = field(default="", repr=False)
    access_code: str = field(default="", repr=False)
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, hash=False)
    context: Mapping[str, Any] = field(default_factory=dict, hash=False, repr=False)

    def __post_init__(self) -> None:
        _check_name("OutgoingMessage", "channel", self.channel)
        _check_name("OutgoingMessage", "template", self.template)
        if not isinstance(self.to, str) or not self.to.strip():
            raise ValueError("OutgoingMessage.to must be the (non-empty) address to send to")
        if not isinstance(self.language, str) or not _LANGUAGE.match(self.language):
            raise ValueError(
                f"OutgoingMessage.language must be a language tag such as 'en' or 'cy', "
                f"got {self.language!r}"
            )
        key = self.idempotency_key
        if not isinstance(key, str) or not _IDEMPOTENCY_KEY.match(key):
            raise ValueError(
                "OutgoingMessage.idempotency_key must be 1 to 200 printable ASCII characters "
                f"without spaces, got {key!r}"
            )
        headers = dict(self.headers)
        for name, value in headers.items():
            if not isinstance(name, str) or not _HEADER_NAME.match(name):
                raise ValueError(f"OutgoingMessage.headers: {name!r} is not a header name")
            if not isinstance(value, str) or "\r" in value or "\n" in value:
                raise ValueError(f"OutgoingMessage.headers[{name!r}] must be one line of text")
        object.__setattr__(self, "headers", types.MappingProxyType(headers))
        object.__setattr__(self, "context", types.MappingProxyType(dict(self.context)))


@dataclass(frozen=True)
class Receipt:
    """What a channel says happened to one message.

    :param channel: the channel that handled it.
    :param status: one of :data:`RECEIPT_STATUSES`.
    :param provider_id: the provider's id for it (the email's Message-ID,
        Twilio's ``SM...`` sid, the letter's batch file and row), for matching
        later delivery reports and bounces; None when nothing was sent.
    :param error: why it failed, in words a fieldwork manager can act on
        (with the provider's code); None unless failed.
    :param permanent: for a failure, whether the address itself was refused
        (an SMTP 5xx for the recipient, an invalid number): the worker does
        not use it again. False: try again later (server down, rate limited).
    """

    channel: str
    status: str
    provider_id: str | None = None
    error: str | None = None
    permanent: bool = False

    def __post_init__(self) -> None:
        _check_name("Receipt", "channel", self.channel)
        if self.status not in RECEIPT_STATUSES:
            raise ValueError(
                f"Receipt.status must be one of {sorted(RECEIPT_STATUSES)}, got {self.status!r}"
            )
        if self.status == "failed" and not self.error:
            raise ValueError("Receipt: a failed receipt must say why (error)")
        if self.status != "failed" and (self.error is not None or self.permanent):
            raise ValueError("Receipt: only a failed receipt has an error or is permanent")

    @property
    def ok(self) -> bool:
        """True when the message left (sent or queued)."""
        return self.status != "failed"


@dataclass(frozen=True)
class ContactChannel:
    """A way of contacting panel members: email, SMS, printed letters, ...

    :param name: lower-case identifier that wave files' contact plans use
        (``email``, ``sms``, ``letter``).
    :param label: human name shown to researchers.
    :param needs: what it sends to, one of :data:`CONTACT_NEEDS`: the worker
        passes that contact detail as ``OutgoingMessage.to``.
    :param send: ``send(message) -> Receipt``; a provider's refusal is a
        failed :class:`Receipt`, never an exception; settings that cannot work
        raise :class:`ChannelSetupError`. Must be safe to call from several
        threads.
    :param check: ``check()`` returns None when the channel can send with
        this machine's settings, else a sentence naming what to set; asked
        before a wave opens. None means "nothing to check".
    :param templates: the message templates it renders (``invitation``,
        ``reminder``), for the wave file's check; empty when it renders none.
    :param languages: the languages its shipped templates are written in.
    :param requires: modules *send* imports (``("twilio",)``).
    :param extra: the ``survey-instrument[extra]`` that installs *requires*.
    :param read_reply: for a channel members can reply to, what a reply's text
        means: ``read_reply(body)`` is ``"opt_out"``, ``"opt_in"``, ``"help"``
        or None (anything else, for a person to read). The webhook that takes
        replies (the phone mode's, for SMS) asks it, so the provider's own rule
        lives with the channel. None: replies are not read.
    :param advise: ``advise(message)`` returns None when *message* is fine as
        it would be sent, else a sentence for the researcher (an SMS that goes
        as several billed parts). ``instrument check`` asks it for every
        template and language a wave file's plan uses, with a sample message
        (links of a realistic length, the wave's own context); it must not
        send or need the channel's credentials. None: nothing to advise.
    :param expect_senders: ``expect_senders(n)``: the fieldwork worker hands this channel up
        to *n* messages at once, each from a thread of its own (``instrument fieldwork run
        --senders N``); called when the worker is made, before anything is sent. A channel
        that holds connections sizes its pool to *n* (a connection a thread would wait for is
        time lost); a number it cannot take raises :class:`ChannelSetupError` saying what it
        can. None: the channel takes whatever comes as it is.
    """

    name: str
    label: str
    needs: str
    send: Callable[[OutgoingMessage], Receipt]
    check: Callable[[], str | None] | None = None
    templates: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    requires: tuple[str, ...] = ()
    extra: str | None = None
    read_reply: Callable[[str], str | None] | None = None
    advise: Callable[[OutgoingMessage], str | None] | None = None
    expect_senders: Callable[[int], None] | None = None

    def __post_init__(self) -> None:
        _check_name("ContactChannel", "name", self.name)
        if not isinstance(self.label, str) or not self.label.strip():
            raise ValueError(f"ContactChannel.label must be a non-empty string, got {self.label!r}")
        if self.needs not in CONTACT_NEEDS:
            raise ValueError(
                f"ContactChannel.needs must be one of {sorted(CONTACT_NEEDS)}, got {self.needs!r}"
            )
        _check_callable("ContactChannel", "send", self.send, optional=False)
        _check_callable("ContactChannel", "check", self.check, optional=True)
        _check_callable("ContactChannel", "read_reply", self.read_reply, optional=True)
        _check_callable("ContactChannel", "advise", self.advise, optional=True)
        _check_callable("ContactChannel", "expect_senders", self.expect_senders, optional=True)
        for what in ("templates", "languages"):
            value = getattr(self, what)
            if isinstance(value, str):
                raise TypeError(
                    f"ContactChannel.{what} must be a collection of names, not a string"
                )
            object.__setattr__(self, what, frozenset(value))
        for template in self.templates:
            _check_name("ContactChannel", "templates", template)
        for language in self.languages:
            if not isinstance(language, str) or not _LANGUAGE.match(language):
                raise ValueError(f"ContactChannel.languages: {language!r} is not a language tag")
        object.__setattr__(self, "requires", _check_modules("ContactChannel", self.requires))
        if self.extra is not None:
            _check_name("ContactChannel", "extra", self.extra)

    def missing_requirements(self) -> tuple[str, ...]:
        """Modules in :attr:`requires` that are not importable."""
        return missing_modules(self.requires)


RECORDING_DELETION_STATUSES = frozenset({"deleted", "gone", "failed"})
"""``deleted``: the provider held the recording and no longer does; ``gone``: it holds no such
recording (deleted before, or never made), which is as good; ``failed``: it is still there or
nobody knows, :attr:`RecordingDeletion.error` says why, and the deletion is tried again later."""


@dataclass(frozen=True)
class RecordingDeletion:
    """What a recording provider says of one recording it was asked to delete.

    :param status: one of :data:`RECORDING_DELETION_STATUSES`.
    :param error: why a deletion failed, in a line with the provider's code (``Twilio error
        20003 (HTTP 401)``), never a credential; None unless failed.
    """

    status: str
    error: str | None = None

    def __post_init__(self) -> None:
        if self.status not in RECORDING_DELETION_STATUSES:
            raise ValueError(
                "RecordingDeletion.status must be one of "
                f"{sorted(RECORDING_DELETION_STATUSES)}, got {self.status!r}"
            )
        if (self.status == "failed") != bool(self.error):
            raise ValueError("RecordingDeletion: a failed deletion, and only one, says why (error)")

    @property
    def done(self) -> bool:
        """True when the provider no longer holds the recording (deleted, or gone before)."""
        return self.status != "failed"


@dataclass(frozen=True)
class RecordingProvider:
    """Where call recordings are held (a telephony provider), and how to delete one there.

    Recordings of calls and recorded answers stay with the provider that made
    them; the store keeps only their ids. When a withdrawal deletes the answers
    they belong to, the store lists the recordings to delete, and the
    fieldwork worker (and ``instrument calls forget-recordings``) asks the
    provider named with each to delete it, until it says ``deleted`` or
    ``gone``.

    :param name: lower-case identifier, as the store names the provider of a
        recording (``calls.provider``; ``twilio``).
    :param label: human name.
    :param delete: ``delete(recording_sid) -> RecordingDeletion``: delete one
        recording, once (the worker retries a failure later, not this). A
        refusal or no answer is a failed :class:`RecordingDeletion`, never an
        exception; "no such recording" is ``gone``. Must be safe to call from
        several threads.
    :param check: ``check()`` returns None when recordings can be deleted with
        this machine's settings, else a sentence naming what to set; the worker
        asks before taking any deletion, so an unconfigured provider's
        recordings wait, untried. None: nothing to check.
    :param requires: modules ``delete`` imports (``("twilio",)``).
    :param extra: the ``survey-instrument[extra]`` that installs *requires*.
    """

    name: str
    label: str
    delete: Callable[[str], RecordingDeletion]
    check: Callable[[], str | None] | None = None
    requires: tuple[str, ...] = ()
    extra: str | None = None

    def __post_init__(self) -> None:
        _check_name("RecordingProvider", "name", self.name)
        if not isinstance(self.label, str) or not self.label.strip():
            raise ValueError(
                f"RecordingProvider.label must be a non-empty string, got {self.label!r}"
            )
        _check_callable("RecordingProvider", "delete", self.delete, optional=False)
        _check_callable("RecordingProvider", "check", self.check, optional=True)
        object.__setattr__(self, "requires", _check_modules("RecordingProvider", self.requires))
        if self.extra is not None:
            _check_name("RecordingProvider", "extra", self.extra)

    def missing_requirements(self) -> tuple[str, ...]:
        """Modules in :attr:`requires` that are not importable."""
        return missing_modules(self.requires)
