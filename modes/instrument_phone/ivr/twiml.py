"""From an automated call's plan of a step (:mod:`instrument.ivr.prompts`) to TwiML.

One prompt is one response: what to say, inside a ``<Gather>`` so the caller
can key while it is said (barge-in), then a ``<Redirect>`` to the silence URL,
because Twilio runs on past a ``<Gather>`` that timed out and would otherwise
hang up with the question unanswered. The end of the interview is said and
then ``<Hangup>``. Free text, where the study records it, is a capped
``<Record>`` after the consent prompt. Before an inbound call's interview is
known, :func:`keys_twiml` asks for keys outside any plan: the line's choice of
language (each offer in its own language's voice) and the access code.

The URLs are the caller's: the webhooks that serve these responses decide what
identifies the interview and the prompt in them. The voice is chosen by the
interview's language (:class:`Voices`; Amazon Polly's Amy for English and
Gwyneth for Welsh unless configured otherwise).

The XML is written here, not through twilio's ``VoiceResponse``: every webhook
turn answers with one document, and building twilio's verb objects and then an
ElementTree to serialise them was 8% of a turn's CPU. What is written is
byte for byte what ``VoiceResponse(...).to_xml()`` writes for the same verbs
(attributes sorted by name, ElementTree's escaping, an empty element as
``<Hangup />``), which ``tests/test_ivr_twiml_bytes.py`` holds against twilio's
own, so a stored turn answers a retry with the same bytes whichever wrote it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from instrument.ivr import settings as ivr_settings
from instrument.ivr.prompts import Prompt, StepPlan
from instrument.model import Questionnaire

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_VOICES",
    "RECORDING_EVENTS",
    "PromptUrls",
    "Voice",
    "VoiceNotConfigured",
    "Voices",
    "end_twiml",
    "goodbye_twiml",
    "hangup_twiml",
    "info_twiml",
    "keys_twiml",
    "prompt_twiml",
]

DEFAULT_TIMEOUT = 5
"""Seconds of silence after which a ``<Gather>`` gives up (Twilio's own default)."""


@dataclass(frozen=True)
class Voice:
    """A ``<Say>`` voice and the language tag Twilio reads the text in."""

    voice: str
    language: str


DEFAULT_VOICES: Mapping[str, Voice] = {
    language: Voice(*voice) for language, voice in ivr_settings.DEFAULT_VOICES.items()
}


class VoiceNotConfigured(LookupError):
    """No voice is configured for an interview's language."""


@dataclass(frozen=True)
class Voices:
    """The voice for each of a study's languages (``cy-GB`` falls back to ``cy``)."""

    by_language: Mapping[str, Voice] = field(default_factory=lambda: dict(DEFAULT_VOICES))

    @classmethod
    def of_questionnaire(cls, questionnaire: Questionnaire) -> Voices:
        """The built-in voices with the questionnaire's ``meta.ivr.voices`` over them."""
        table = ivr_settings.voice_table(questionnaire)
        return cls({language: Voice(*voice) for language, voice in table.items()})

    def of(self, language: str) -> Voice:
        for tag in (language, language.split("-")[0]):
            if tag in self.by_language:
                return self.by_language[tag]
        known = ", ".join(sorted(self.by_language))
        raise VoiceNotConfigured(
            f"no voice is configured for language '{language}' (there are voices for {known})"
        )


@dataclass(frozen=True)
class PromptUrls:
    """Where Twilio posts the keys (``action``) and where silence is redirected.

    ``recording_status``: where a ``<Record>``'s recording reports on itself
    (``recordingStatusCallback``: completed or absent), if anywhere.
    """

    action: str
    silence: str
    recording_status: str | None = None


RECORDING_EVENTS = "completed absent"
"""The recording status callbacks a ``<Record>`` asks for: the file is ready, or nothing was said."""


DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
"""How every TwiML document begins (as twilio's ``to_xml(xml_declaration=True)``)."""


def _text(text: str) -> str:
    """Character data escaped as ElementTree escapes it."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


_ATTRIBUTE_ESCAPES = (
    ("&", "&amp;"),
    ("<", "&lt;"),
    (">", "&gt;"),
    ('"', "&quot;"),
    ("\r", "&#13;"),
    ("\n", "&#10;"),
    ("\t", "&#09;"),
)


def _attribute(value: str | int | bool) -> str:
    """An attribute's value as twilio sets it (a bool as ``true``) and ElementTree escapes it."""
    if value is True or value is False:
        return "true" if value else "false"
    text = str(value)
    for raw, escaped in _ATTRIBUTE_ESCAPES:
        if raw in text:
            text = text.replace(raw, escaped)
    return text


def _element(name: str, attributes: Mapping[str, str | int | bool], inner: str = "") -> str:
    """One element: its attributes in name order, as twilio adds them; empty: ``<Name ... />``."""
    opening = (
        "<"
        + name
        + "".join(f' {key}="{_attribute(attributes[key])}"' for key in sorted(attributes))
    )
    return f"{opening}>{inner}</{name}>" if inner else opening + " />"


def _said(words: Sequence[str], voice: Voice) -> str:
    """A ``<Say>`` per sentence in ``voice``."""
    attributes = {"language": voice.language, "voice": voice.voice}
    return "".join(_element("Say", attributes, _text(sentence)) for sentence in words)


def _redirect(url: str) -> str:
    return _element("Redirect", {"method": "POST"}, _text(url))


def _response(inner: str) -> str:
    return DECLARATION + _element("Response", {}, inner)


def prompt_twiml(
    plan: StepPlan,
    index: int,
    *,
    urls: PromptUrls,
    voices: Voices | None = None,
    timeout: int = DEFAULT_TIMEOUT,
    again: bool = False,
    before: Sequence[str] = (),
    prompt: Prompt | None = None,
    speech: Sequence[str] | None = None,
) -> str:
    """The TwiML that asks prompt ``index`` of ``plan``.

    :param again: the prompt is asked again (``*``, silence, an invalid key): its
        whole wording with every key, and not the step's introduction.
    :param before: said first (why it is asked again: "Sorry, that key ...").
    :param prompt: asks this prompt in the place of ``index`` (a read-back
        confirmation made by :func:`instrument.ivr.reading.read_back_prompt`).
    :param speech: the prompt takes speech as well as keys, and these are the recogniser's
        hints (:func:`instrument.ivr.speech.speech_hints`); None: keys only.
    :raises ValueError: for a prompt that asks nothing (a skipped question).
    """
    asked = prompt or plan.prompts[index]
    if asked.entry == "none":
        raise ValueError(f"prompt {index} of page '{plan.page_id}' asks nothing (it is skipped)")
    voice = (voices or Voices()).of(plan.language)
    parts: list[str] = []
    first = index == next(i for i, p in enumerate(plan.prompts) if p.entry != "none")
    if first and not again and prompt is None:
        parts.append(_said(plan.intro, voice))
    parts.append(_said(before, voice))
    words = asked.repeat_says if again else asked.says
    if asked.entry == "recording":
        parts.append(_said(words, voice))
        record: dict[str, str | int | bool] = {
            "action": urls.action,
            "method": "POST",
            "maxLength": asked.record_seconds,
            "timeout": timeout,
            "finishOnKey": "#",
            "playBeep": True,
        }
        if urls.recording_status is not None:
            record["recordingStatusCallback"] = urls.recording_status
            record["recordingStatusCallbackEvent"] = RECORDING_EVENTS
            record["recordingStatusCallbackMethod"] = "POST"
        parts.append(_element("Record", record))
    else:
        gather: dict[str, str | int | bool] = {"input": "dtmf"}
        if speech is not None:
            gather = {"input": "dtmf speech", "language": voice.language, "speechTimeout": "auto"}
            if speech:
                gather["hints"] = ", ".join(speech)
        if asked.entry == "one_key":
            gather["numDigits"] = 1
        else:
            gather["finishOnKey"] = "#"
        gather |= {"timeout": timeout, "action": urls.action, "method": "POST"}
        parts.append(_element("Gather", gather, _said(words, voice)))
    parts.append(_redirect(urls.silence))
    return _response("".join(parts))


def keys_twiml(
    said: Sequence[tuple[Sequence[str], Voice]],
    *,
    urls: PromptUrls,
    one_key: bool,
    timeout: int = DEFAULT_TIMEOUT,
) -> str:
    """Keys asked for outside an interview's plan: ``said`` (sentences, and the voice they are
    said in: a language menu says each offer in its own language) inside a ``<Gather>``; one
    key (``one_key``) or digits ended by ``#``; silence redirected back as for a prompt."""
    gather: dict[str, str | int | bool] = {"input": "dtmf"}
    gather |= {"numDigits": 1} if one_key else {"finishOnKey": "#"}
    gather |= {"timeout": timeout, "action": urls.action, "method": "POST"}
    inner = "".join(_said(words, voice) for words, voice in said)
    return _response(_element("Gather", gather, inner) + _redirect(urls.silence))


def info_twiml(plan: StepPlan, *, urls: PromptUrls, voices: Voices | None = None) -> str:
    """A step that only informs: its words, then on to the action URL (which submits it)."""
    voice = (voices or Voices()).of(plan.language)
    return _response(_said(plan.intro, voice) + _redirect(urls.action))


def end_twiml(plan: StepPlan, *, voices: Voices | None = None) -> str:
    """The interview's end: its closing words, then hang up."""
    return goodbye_twiml(plan.intro, plan.language, voices=voices)


def goodbye_twiml(words: Sequence[str], language: str, *, voices: Voices | None = None) -> str:
    """Ending the call politely before the end (nothing heard; the interview stays a partial)."""
    voice = (voices or Voices()).of(language)
    return _response(_said(words, voice) + _element("Hangup", {}))


def hangup_twiml() -> str:
    """Hanging up without a word (an answering machine the study leaves no message on)."""
    return _response(_element("Hangup", {}))
