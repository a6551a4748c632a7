"""The study line's languages: what an inbound call offers before it knows who is calling.

An inbound call to the instance's number (``INSTRUMENT_TWILIO_CALLER_ID``) is the same
``To`` for every study, so the study, and so its languages, is known only once the caller has
keyed an access code; a call to a study's own number (``telephony: numbers:``) is that
study's, and its line is made of that study's questionnaire alone. The code must still be
asked for in words the caller understands. So where the line's questionnaires (every one
served in the ``ivr`` mode, or the study's) have more than one language between them, the
call opens as a bilingual public line does: every language
is offered in itself and in its own voice ("Helo. ... Am Gymraeg, pwyswch 1." / "Hello. ...
For English, press 2."), in the order the questionnaires list their languages (the first
served questionnaire's ``meta.languages`` first; a study bound by the Welsh Language Standards
lists ``cy`` first, and Welsh is then greeted first). The caller's choice is kept with the call:
the access code and every word of the call's own are said in it, and the interview runs in it
where its questionnaire has it, otherwise in its own language.

Pure: the webhooks give the questionnaires and their voices; nothing here stores or speaks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from instrument.ivr.prompts import Say, ivr_words
from instrument.model import Questionnaire
from instrument_phone.ivr.twiml import Voice, VoiceNotConfigured, Voices

__all__ = ["MAX_OFFERED", "LineLanguage", "line_languages", "matching", "menu_said"]

MAX_OFFERED = 9
"""Languages a line's menu offers at most: one key each (the others are not offered)."""


@dataclass(frozen=True)
class LineLanguage:
    """One language the line offers: its tag, the key that chooses it, its words and voice.

    ``say`` is the call's own words (catalogue domain ``ivr``) in the language, from the first
    served questionnaire that has it (its own ``.po`` texts over ours).
    """

    language: str
    key: str
    say: Say
    voice: Voice


def _base(language: str) -> str:
    return language.split("-")[0].lower()


def line_languages(
    questionnaires: Iterable[tuple[Questionnaire, Voices]],
) -> tuple[LineLanguage, ...]:
    """The languages an inbound call offers, keyed 1, 2, ... in order.

    :param questionnaires: the questionnaires served in the ``ivr`` mode, in the order they
        are served, each with the voices its calls speak in.

    A language is offered once (``cy-GB`` after ``cy`` is the same Welsh), only with a voice
    to say it in (``instrument check`` warns of a language without one), and at most
    :data:`MAX_OFFERED` of them.
    """
    found: list[LineLanguage] = []
    seen: set[str] = set()
    for questionnaire, voices in questionnaires:
        for language in questionnaire.languages:
            if _base(language) in seen or len(found) >= MAX_OFFERED:
                continue
            try:
                voice = voices.of(language)
            except VoiceNotConfigured:
                continue
            seen.add(_base(language))
            say = ivr_words(questionnaire, language)
            found.append(LineLanguage(language, str(len(found) + 1), say, voice))
    return tuple(found)


def menu_said(
    line: Sequence[LineLanguage], *, again: bool = False
) -> list[tuple[tuple[str, ...], Voice]]:
    """What the line's choice of language says, offer by offer, each in its own voice: the
    greeting ("Hello. This is an automated survey call.") and "For English, press 1." in each
    language; offered ``again`` (after silence or a key that chooses none), the offers alone."""
    said = []
    for offer in line:
        greeting = () if again else (offer.say("welcome"),)
        said.append(((*greeting, offer.say("this_language", key=offer.key)), offer.voice))
    return said


def matching(chosen: str, languages: Sequence[str]) -> str | None:
    """The one of ``languages`` a caller who chose ``chosen`` is interviewed in: the same tag,
    else the same language (``cy-GB`` for ``cy``); None when the questionnaire has neither."""
    if chosen in languages:
        return chosen
    return next((language for language in languages if _base(language) == _base(chosen)), None)
