"""A study's IVR settings from where each fact is kept: the questionnaire and the fieldwork file.

The questionnaire's ``meta.ivr`` says how its calls ask (re-prompts, giving up,
read-back, speech, voices, the cap on a recorded answer); the study's fieldwork
file says whether calls are recorded at all (``telephony.recording``, which the
telephone interviewer's calls obey too). :func:`ivr_settings` puts the two
together for the call flow; :func:`voice_table` gives the voices by language
over the built-in ones, which the TwiML compiler turns into its ``Voices``.
"""

from __future__ import annotations

from collections.abc import Mapping

from instrument.ivr.prompts import IvrSettings, SpeechSettings
from instrument.model import Questionnaire

__all__ = ["DEFAULT_VOICES", "ivr_settings", "missing_voices", "voice_table"]

DEFAULT_VOICES: Mapping[str, tuple[str, str]] = {
    "en": ("Polly.Amy", "en-GB"),
    "cy": ("Polly.Gwyneth", "cy-GB"),
}
"""Language -> (Twilio voice, language tag) when the questionnaire names none: Amazon Polly's
British English and Welsh voices."""


def ivr_settings(questionnaire: Questionnaire, *, recording: bool = False) -> IvrSettings:
    """How ``questionnaire``'s calls ask; ``recording``: its fieldwork file's ``telephony.recording``."""
    options = questionnaire.ivr
    speech = (
        SpeechSettings(options.speech_confidence, options.speech_confirm)
        if options.speech
        else None
    )
    return IvrSettings(
        reprompts=options.reprompts,
        on_no_answer=options.on_no_answer,
        read_back=options.read_back,
        recording=recording,
        record_seconds=options.record_seconds,
        speech=speech,
    )


def voice_table(questionnaire: Questionnaire) -> dict[str, tuple[str, str]]:
    """Language -> (voice, tag): the built-in voices with the questionnaire's over them."""
    return {**DEFAULT_VOICES, **questionnaire.ivr.voices}


def _has_voice(table: Mapping[str, tuple[str, str]], language: str) -> bool:
    return language in table or language.split("-")[0] in table


def missing_voices(questionnaire: Questionnaire) -> list[str]:
    """The questionnaire's languages an automated call has no voice for, in its order."""
    table = voice_table(questionnaire)
    return [lang for lang in questionnaire.languages if not _has_voice(table, lang)]
