"""A study's own telephone numbers (``telephony: numbers:``): checked, and one study each.

An instance may rent a Twilio number per study, so that a respondent who calls the number on
their letter is offered that study's languages and asked for that study's access code, and the
study's automated calls show it as their caller id. The fieldwork file lists the numbers in
E.164 (``+442920180001``); each is checked with Google's libphonenumber (``phonenumbers``), the
library the case import checks respondents' numbers with, so a number that cannot exist (a
wrong length or prefix) is reported at its line before fieldwork, not found out when nobody
rings. A number is one study's: :func:`numbers_claimed_twice` finds a number two studies list,
for ``instrument check`` over several files and for the server at start-up. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from instrument.diagnostics import Position

__all__ = ["NumberClaim", "e164", "numbers_claimed_twice", "study_number"]


def e164(text: str, region: str | None) -> str:
    """``text`` as an E.164 number, read in ``region`` when it has no country code (None: it
    must have one).

    ValueError saying what is wrong: not a number, or not one that can be dialled
    (libphonenumber's ``is_valid_number``: right length and prefix). The one rule for a
    respondent's number in a sample and a study's own number, so both are spelt alike.
    """
    # Imported here: only a telephone sample or a study with numbers needs it, and loading
    # the modules that import this one should not load its metadata.
    import phonenumbers

    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"'{text}' is not a phone number ({exc._msg})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(
            f"'{text}' is not a valid phone number (country code +{parsed.country_code}: "
            "wrong length or prefix)"
        )
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def study_number(text: str) -> str:
    """``text`` as a study's number in E.164, checked by libphonenumber (:func:`e164`).

    Written in E.164 (a ``+`` and the country code) and nothing else, because the webhooks
    compare it with Twilio's ``To``, which is always E.164: ``+44 29 2018 0001`` is read as
    ``+442920180001``, but ``029 2018 0001`` (no country) is refused rather than guessed.

    :raises ValueError: not a number, not in international form, or not a valid number.
    """
    written = text.strip()
    if not written.startswith("+"):
        raise ValueError(
            f"'{text}' is not in E.164 form: write the number with + and its country code, "
            "such as +442920180001"
        )
    return e164(written, None)


@dataclass(frozen=True)
class NumberClaim:
    """A number a study lists, where it lists it (for a message), and the study."""

    number: str
    study: str
    position: Position


def numbers_claimed_twice(
    claims: Iterable[NumberClaim],
) -> list[tuple[NumberClaim, NumberClaim]]:
    """Each later claim of a number another study claimed first, with that first claim.

    A study listing a number twice is its own file's error (reported where it is read); here
    only numbers shared between studies, in the order the claims are given.
    """
    first: dict[str, NumberClaim] = {}
    twice: list[tuple[NumberClaim, NumberClaim]] = []
    for claim in claims:
        earlier = first.setdefault(claim.number, claim)
        if earlier is not claim and earlier.study != claim.study:
            twice.append((claim, earlier))
    return twice
