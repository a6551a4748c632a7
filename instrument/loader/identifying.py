"""Questions that look as if they ask who someone is: a name, an email, a phone number.

Their answers identify a person, so they belong with the contact details, not
in the answers every export reads. A question says so with
``identifying: true``; one that looks identifying but says nothing either way
gets a warning at load, so a roster's first names do not end up in a deposited
data file because nobody thought to mark them. ``identifying: false`` states
that a question which looks so does not (the first letters of a postcode).
"""

from __future__ import annotations

import re

__all__ = ["IDENTIFYING_TYPES", "looks_identifying"]

IDENTIFYING_TYPES = frozenset({"text", "long_text", "date"})
"""Types whose answers may be a name, an address, a number or a birth date as typed."""

_WORDS = (
    ("name", r"(?:first|last|given|family|full|sur|fore|middle|maiden|nick)?names?"),
    ("email address", r"e-?mails?(?:_?address)?"),
    ("phone number", r"(?:tele|mobile_?|cell_?)?phones?(?:_?number)?|mobile|telephone|tel"),
    ("address", r"(?:home_?|street_?|postal_?)?address(?:es)?|street"),
    ("postcode", r"post_?codes?|zip_?codes?|zip"),
    ("date of birth", r"dob|birth_?date|date_?of_?birth|birthday|born"),
    ("national id number", r"nino|ssn|nhs_?number|passport|national_?insurance"),
)
_WORD = re.compile(
    "|".join(
        f"(?P<w{i}>(?<![a-z])(?:{pattern})(?![a-z]))" for i, (_, pattern) in enumerate(_WORDS)
    ),
    re.IGNORECASE,
)
_TEXT_WORDS = re.compile(
    r"\b(?:(?:first|last|full|given|family)\s+names?|your\s+name|names?\s+of|what\s+is\s+(?:his|her|their|the\s+\w+'s)\s+name"
    r"|e-?mail|phone|mobile\s+number|telephone|address|post\s?code|zip\s+code|date\s+of\s+birth|born)\b",
    re.IGNORECASE,
)


def looks_identifying(qid: str, text: str | None) -> str | None:
    """What the question seems to ask for (``"name"``, ``"email address"``...), or None.

    Read from its id, split at underscores and digits (``first_name``,
    ``email2``), and from its wording in the default language (``What is
    your first name?``).
    """
    found = _WORD.search(re.sub(r"[_\d]+", " ", qid))
    if found is not None:
        index = int(next(k for k, v in found.groupdict().items() if v is not None)[1:])
        return _WORDS[index][0]
    if text:
        match = _TEXT_WORDS.search(text)
        if match is not None:
            word = match.group(0).lower()
            for label, pattern in _WORDS:
                if re.search(pattern.replace("_?", r"\s?"), word.replace(" ", "_"), re.I):
                    return label
            return "name" if "name" in word else word
    return None
