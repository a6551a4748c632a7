"""Spoken answers: what a caller said, matched to the keys they could have pressed.

Where the questionnaire turns speech on (``meta.ivr.speech``), a prompt's
``<Gather>`` takes speech as well as keys and Twilio posts what its recogniser
heard (``SpeechResult``) with its confidence (0-1). :func:`hear` turns that into
the keys the caller could have pressed for the same answer, so the call flow
reads it exactly as it reads keys (one rule for both, and the keypad stays the
answer's source of truth):

* a choice: the option whose spoken label the words are (or contain: "strongly
  agree, I'd say"), the key's number said ("one", "press 2"), or the words of
  don't know and refused in the call's language;
* yes/no prompts (a multiple choice's option, recording consent, a soft check, a
  read-back): the language's words for yes and no;
* numbers: digits as the recogniser writes them ("1975", "3.5"), or English
  number words where they are simple ("nineteen seventy five", "two thousand and
  five", "forty two", "three point five"); other languages' words are not read,
  and the caller is asked again and can key the number;
* dates, recordings: keys only (a date spoken is too easily heard wrong).

The answer is confirmed ("Did you say X? Press 1 for yes, 2 for no.") when the
recogniser's confidence is below the questionnaire's threshold, when the words
match two answers, or always if the questionnaire says so. Words matching no
answer are :data:`~instrument.ivr.reading.NOT_UNDERSTOOD`, which the flow counts
as an invalid entry (asked again, then given up on as the settings say).

Pure: no I/O; the words of each language are the catalogue's (``ivr`` domain).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from instrument.ivr.keypad import NO_KEY, YES_KEY
from instrument.ivr.prompts import SPOKEN_KINDS, Prompt, Say, SpeechSettings
from instrument.ivr.reading import NOT_UNDERSTOOD, confirmation

__all__ = [
    "MAX_HINTS",
    "Heard",
    "SpeechWords",
    "confirm_prompt",
    "hear",
    "speech_hints",
    "speech_words",
    "spoken_number",
    "takes_speech",
    "yes_or_no",
]

MAX_HINTS = 100
"""Twilio takes at most this many hint phrases (each under 100 characters)."""
_YES_NO = ("option", "consent", "check")
_POINT = re.compile(r"(?<!\d)\.|\.(?!\d)")  # a full stop, not a decimal point


@dataclass(frozen=True)
class SpeechWords:
    """The words of one language for yes, no, don't know and refused (several ways each)."""

    yes: tuple[str, ...]
    no: tuple[str, ...]
    dk: tuple[str, ...]
    refused: tuple[str, ...]


def speech_words(say: Say) -> SpeechWords:
    """The call's language's words, from its catalogue (``ivr.speech_yes`` and so on, ``|``
    between the ways of saying each)."""

    def ways(key: str) -> tuple[str, ...]:
        return tuple(w.strip() for w in say(key).split("|") if w.strip())

    return SpeechWords(
        ways("speech_yes"), ways("speech_no"), ways("speech_dk"), ways("speech_refused")
    )


@dataclass(frozen=True)
class Heard:
    """What spoken words meant for one prompt.

    ``keys``: the keys that give the same answer (``status`` ``keys`` or ``confirm``), or
    :data:`NOT_UNDERSTOOD` (``unclear``); ``said``: the answer in words, for "Did you say ...?".
    """

    status: Literal["keys", "confirm", "unclear"]
    keys: str
    said: str = ""


def takes_speech(prompt: Prompt) -> bool:
    """Whether a prompt may be answered by speaking (dates and recordings take keys only)."""
    return prompt.kind in SPOKEN_KINDS


def _plain(text: str) -> str:
    """Lower case, accents and punctuation gone, spaces folded: how words are compared."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).replace("'", "")
    return " ".join(_POINT.sub(" ", re.sub(r"[^\w.]+", " ", bare)).split())


def _contains(text: str, phrase: str) -> bool:
    return bool(phrase) and f" {phrase} " in f" {text} "


def _candidates(prompt: Prompt, words: SpeechWords) -> list[tuple[str, str, tuple[str, ...]]]:
    """(keys, the answer in words, the phrases that say it) for every answer of ``prompt``."""
    found: list[tuple[str, str, tuple[str, ...]]] = []
    if prompt.kind in _YES_NO:
        found += [(YES_KEY, words.yes[0], words.yes), (NO_KEY, words.no[0], words.no)]
    else:
        found += [(k.key, k.spoken, (k.spoken,)) for k in prompt.keys if k.spoken]
    if prompt.dk_key is not None and words.dk:
        found.append((prompt.dk_key, words.dk[0], words.dk))
    if prompt.refused_key is not None and words.refused:
        found.append((prompt.refused_key, words.refused[0], words.refused))
    return found


Match = tuple[int, str, str, str]
"""(strength, keys, the answer in words, the phrase heard)."""


def _matches(text: str, candidates: Sequence[tuple[str, str, tuple[str, ...]]]) -> list[Match]:
    """Every answer the text says, strongest first: the whole text is one of its phrases
    (strength: the phrase's length plus 1000), or contains one as whole words (its length)."""
    found: list[Match] = []
    for keys, said, phrases in candidates:
        best: Match | None = None
        for phrase in (_plain(p) for p in phrases):
            strength = 1000 + len(phrase) if text == phrase else len(phrase)
            if phrase and _contains(text, phrase) and (best is None or strength > best[0]):
                best = (strength, keys, said, phrase)
        if best is not None:
            found.append(best)
    return sorted(found, key=lambda m: -m[0])


def _unique(found: list[Match]) -> tuple[Match | None, bool]:
    """The best match, and whether another answer matches too. A phrase inside the best one's
    is no other answer ("agree" in "strongly agree", "no" in "no idea"); "yes and no" is two."""
    if not found:
        return None, False
    best = found[0]
    others = [m for m in found[1:] if m[1] != best[1] and not _contains(best[3], m[3])]
    return best, bool(others) and best[0] < 1000


def hear(
    prompt: Prompt,
    text: str,
    confidence: float,
    words: SpeechWords,
    settings: SpeechSettings,
) -> Heard:
    """What ``text`` (Twilio's ``SpeechResult``, heard at ``confidence``) answers to ``prompt``."""
    plain = _plain(text)
    if not plain or not takes_speech(prompt):
        return Heard("unclear", NOT_UNDERSTOOD)
    candidates = _candidates(prompt, words)
    best, ambiguous = _unique(_matches(plain, candidates))
    if best is None and prompt.kind == "number":
        number = spoken_number(plain)
        if number is None or (prompt.integer and "." in number):
            return Heard("unclear", NOT_UNDERSTOOD)
        return _confident(number.replace(".", "*"), number, confidence, settings, ambiguous=False)
    if best is None and prompt.kind == "choice":
        said_key = spoken_number(plain.removeprefix("press ").removeprefix("number "))
        choice = next((k for k in prompt.keys if k.key == said_key), None)
        if choice is not None:
            return _confident(choice.key, choice.spoken, confidence, settings, ambiguous=False)
    if best is None:
        return Heard("unclear", NOT_UNDERSTOOD)
    _strength, keys, said, _phrase = best
    return _confident(keys, said, confidence, settings, ambiguous=ambiguous)


def _confident(
    keys: str, said: str, confidence: float, settings: SpeechSettings, *, ambiguous: bool
) -> Heard:
    sure = confidence >= settings.confidence and not ambiguous and settings.confirm == "unsure"
    return Heard("keys" if sure else "confirm", keys, said)


def yes_or_no(text: str, words: SpeechWords) -> str | None:
    """The key a spoken yes or no stands for (1 or 2), or None for anything else."""
    plain = _plain(text)
    best, ambiguous = _unique(_matches(plain, [(YES_KEY, "", words.yes), (NO_KEY, "", words.no)]))
    return None if best is None or ambiguous else best[1]


def confirm_prompt(prompt: Prompt, heard: Heard, say: Say) -> Prompt:
    """ "Did you say X? Press 1 for yes, 2 for no": asked in ``prompt``'s place when unsure."""
    return confirmation(prompt, say("speech_confirm", words=heard.said))


def speech_hints(prompt: Prompt, words: SpeechWords) -> tuple[str, ...]:
    """Phrases the recogniser should expect for ``prompt``: its answers' words (Twilio's
    ``hints``: at most :data:`MAX_HINTS`, each under 100 characters)."""
    hints: list[str] = []
    for _keys, _said, phrases in _candidates(prompt, words):
        for phrase in phrases:
            phrase = " ".join(phrase.split())
            if phrase and len(phrase) < 100 and phrase not in hints:
                hints.append(phrase)
    return tuple(hints[:MAX_HINTS])


# ---------------------------------------------------------------------- numbers in words

_UNIT_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
)  # fmt: skip
_TENS_WORDS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_UNITS = {w: n for n, w in enumerate(_UNIT_WORDS)}
_TENS = {w: 10 * n for n, w in enumerate(_TENS_WORDS, 2)}
_FILLER = {"and", "a"}
_NUMBER = re.compile(r"\d+(\.\d+)?\Z")


def spoken_number(text: str) -> str | None:
    """The number ``text`` says, as digits (``"1975"``, ``"3.5"``), or None.

    Digits as a recogniser writes them ("1975", "1,975", "3.5", "19 75"), or simple English
    words: "forty two", "nineteen seventy five" (pairs said one after the other are written
    one after the other), "nineteen oh five", "two thousand and five", "three point five".
    Words around one number are ignored ("about 30"); two numbers ("3 or 4") are None.
    """
    tokens = _plain(text).replace(",", "").replace("-", " ").split()
    runs: list[list[str]] = [[]]
    for at, token in enumerate(tokens):
        following = tokens[at + 1] if at + 1 < len(tokens) else ""
        numeric = (
            _NUMBER.match(token) or token in _UNITS or token in _TENS or token == "oh"
            or token in ("hundred", "thousand", "point")
            or (token == "and" and bool(runs[-1]))
            or (token == "a" and following in ("hundred", "thousand"))
        )  # fmt: skip
        if numeric:
            runs[-1].append(token)
        elif runs[-1]:
            runs.append([])
    found = [run for run in runs if [t for t in run if t not in _FILLER]]
    if len(found) != 1:
        return None
    run = found[0]
    while run and run[-1] in _FILLER:
        run.pop()
    if "point" in run:
        at = run.index("point")
        whole, fraction = _words_to_digits(run[:at]), _digit_words(run[at + 1 :])
        if whole is None or not fraction:
            return None
        return f"{whole}.{fraction}"
    return _words_to_digits(run)


def _digit_words(tokens: Sequence[str]) -> str | None:
    """Digits said one by one after "point" ("five", "two five")."""
    out = ""
    for token in tokens:
        if token.isdigit():
            out += token
        elif token in _UNITS and _UNITS[token] < 10:
            out += str(_UNITS[token])
        elif token == "oh":
            out += "0"
        else:
            return None
    return out or None


def _words_to_digits(tokens: Sequence[str]) -> str | None:
    """Number words (and digits) as digits: groups that cannot join are written in a row."""
    groups: list[str] = []
    total, current, last = 0, None, ""  # last: what the previous word was

    def flush() -> None:
        nonlocal total, current, last
        if current is not None or total:
            groups.append(str(total + (current or 0)))
        total, current, last = 0, None, ""

    for token in tokens:
        if _NUMBER.match(token):
            if "." in token:
                return None if groups or current is not None else token
            flush()
            groups.append(token)
            continue
        if token in _FILLER:
            if token == "a":
                current, last = (current or 0) + 1, "unit"
            continue
        if token in ("oh", "zero"):
            flush()
            groups.append("0")
            continue
        if token == "hundred":
            if current is None or not 0 < current < 100 or last == "hundred":
                return None
            current, last = current * 100, "hundred"
            continue
        if token == "thousand":
            if current is None or not 0 < current < 1000 or total:
                return None
            total, current, last = current * 1000, None, "thousand"
            continue
        value = _UNITS.get(token, _TENS.get(token))
        if value is None:
            return None
        joins = (
            current is None or last in ("hundred", "thousand") or (last == "tens" and value < 10)
        )
        if not joins:
            flush()
        current = (current or 0) + value
        last = "tens" if token in _TENS else "unit"
    flush()
    return "".join(groups) if groups else None
