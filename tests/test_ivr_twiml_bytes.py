"""The TwiML compiler writes, byte for byte, what twilio's ``VoiceResponse`` writes for the same verbs.

``instrument_phone.ivr.twiml`` writes its XML itself (a turn's CPU, see its docstring). A stored
turn answers Twilio's retries with its stored bytes, and the documents must stay what Twilio
reads, so the reference here is twilio's own library, building each document as the compiler
did through it: the same verbs and attributes, then ``to_xml()``. Every prompt of every page of
the kinds questionnaire in English and Welsh, asked afresh and again, with and without speech,
recordings with their callback, the line's keys, goodbyes, and words and URLs holding every
character XML escapes.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from ivr_driver import URLS
from test_ivr_twiml import plans
from twilio.twiml.voice_response import Gather, Record, VoiceResponse

from instrument.ivr.prompts import IvrSettings, SpeechSettings, StepPlan
from instrument_phone.ivr.twiml import (
    RECORDING_EVENTS,
    PromptUrls,
    Voice,
    Voices,
    goodbye_twiml,
    hangup_twiml,
    info_twiml,
    keys_twiml,
    prompt_twiml,
)

TRICKY = [
    'Fish & chips <for "two"> > one',
    "It's a line\nand a tab\there\r",
    "Ydych chi'n cytuno â'r gŵr?",
    "",
    "]]> &amp; already escaped",
]
TRICKY_URLS = PromptUrls(
    action='https://survey.example.org/ivr/turn/CA1/3?a=1&b="2"',
    silence="https://survey.example.org/ivr/turn/CA1/3/silence?x=<y>",
    recording_status="https://survey.example.org/ivr/recording/CA1/3?t=\t",
)


def _say(parent: VoiceResponse | Gather, words: Sequence[str], voice: Voice) -> None:
    for sentence in words:
        parent.say(sentence, voice=voice.voice, language=voice.language)


def reference_prompt(
    plan: StepPlan,
    index: int,
    urls: PromptUrls,
    *,
    again: bool = False,
    before: Sequence[str] = (),
    speech: Sequence[str] | None = None,
) -> str:
    """A prompt as twilio's verbs write it (the compiler's way before it wrote XML itself)."""
    asked = plan.prompts[index]
    voice = Voices().of(plan.language)
    response = VoiceResponse()
    first = index == next(i for i, p in enumerate(plan.prompts) if p.entry != "none")
    if first and not again:
        _say(response, plan.intro, voice)
    _say(response, before, voice)
    words = asked.repeat_says if again else asked.says
    if asked.entry == "recording":
        _say(response, words, voice)
        callback: dict[str, str] = {}
        if urls.recording_status is not None:
            callback = {
                "recording_status_callback": urls.recording_status,
                "recording_status_callback_event": RECORDING_EVENTS,
                "recording_status_callback_method": "POST",
            }
        response.append(
            Record(
                action=urls.action,
                method="POST",
                max_length=asked.record_seconds,
                timeout=5,
                finish_on_key="#",
                play_beep=True,
                **callback,
            )
        )
    else:
        heard: dict[str, str] = {"input": "dtmf"}
        if speech is not None:
            heard = {"input": "dtmf speech", "language": voice.language, "speech_timeout": "auto"}
            if speech:
                heard["hints"] = ", ".join(speech)
        ending: dict[str, object] = (
            {"num_digits": 1} if asked.entry == "one_key" else {"finish_on_key": "#"}
        )
        gather = Gather(**heard, **ending, timeout=5, action=urls.action, method="POST")
        _say(gather, words, voice)
        response.append(gather)
    response.redirect(urls.silence, method="POST")
    return str(response.to_xml(xml_declaration=True))


@pytest.mark.parametrize("language", ["en", "cy"])
@pytest.mark.parametrize("speech", [False, True])
@pytest.mark.parametrize("urls", [URLS, TRICKY_URLS], ids=["plain", "tricky urls"])
def test_every_prompt_is_written_as_twilio_writes_it(
    language: str, speech: bool, urls: PromptUrls
) -> None:
    settings = IvrSettings(
        recording=True, record_seconds=90, speech=SpeechSettings() if speech else None
    )
    compared = 0
    for plan in plans(language, settings).values():
        if plan.end or not plan.prompts:
            ours = info_twiml(plan, urls=urls)
            voice = Voices().of(plan.language)
            theirs = VoiceResponse()
            _say(theirs, plan.intro, voice)
            theirs.redirect(urls.action, method="POST")
            assert ours == str(theirs.to_xml(xml_declaration=True))
            continue
        for index, prompt in enumerate(plan.prompts):
            if prompt.entry == "none":
                continue
            hints = ["yes", 'say "no" & <stop>'] if speech else None
            for again, before in ((False, ()), (True, TRICKY)):
                ours = prompt_twiml(
                    plan, index, urls=urls, again=again, before=before, speech=hints
                )
                theirs = reference_prompt(
                    plan, index, urls, again=again, before=before, speech=hints
                )
                assert ours == theirs
                compared += 1
    assert compared > 20


@pytest.mark.parametrize("one_key", [True, False])
def test_keys_goodbyes_and_hang_ups_are_written_as_twilio_writes_them(one_key: bool) -> None:
    voices = [
        (TRICKY[:2], Voice("Polly.Amy", "en-GB")),
        (TRICKY[2:], Voice("Polly.Gwyneth", "cy-GB")),
    ]
    theirs = VoiceResponse()
    ending: dict[str, object] = {"num_digits": 1} if one_key else {"finish_on_key": "#"}
    gather = Gather(input="dtmf", **ending, timeout=5, action=TRICKY_URLS.action, method="POST")
    for words, voice in voices:
        _say(gather, words, voice)
    theirs.append(gather)
    theirs.redirect(TRICKY_URLS.silence, method="POST")
    ours = keys_twiml(voices, urls=TRICKY_URLS, one_key=one_key)
    assert ours == str(theirs.to_xml(xml_declaration=True))

    goodbye = VoiceResponse()
    _say(goodbye, TRICKY, Voices().of("cy"))
    goodbye.hangup()
    assert goodbye_twiml(TRICKY, "cy") == str(goodbye.to_xml(xml_declaration=True))
    alone = VoiceResponse()
    alone.hangup()
    assert hangup_twiml() == str(alone.to_xml(xml_declaration=True))
