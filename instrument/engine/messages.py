"""The engine's own messages (validation errors, prompts), per language.

Questionnaire authors write their own check messages; these are the built-in
ones every questionnaire shares. English is complete; other languages fall back
to English for any message they lack.
"""

from __future__ import annotations

from typing import Any

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "choose_one": "Select an answer",
        "choose_some": "Select at least one answer",
        "enter_number": "Enter a whole number, like 12",
        "enter_decimal": "Enter a number, like 12.5",
        "too_many_places": "Enter a number with no more than {places} decimal places",
        "at_least": "Enter a number that is {min} or more",
        "at_most": "Enter a number that is {max} or less",
        "between": "Enter a number between {min} and {max}",
        "enter_text": "Enter an answer",
        "too_long": "Your answer must be {max_length} characters or fewer (it is {length})",
        "enter_date": "Enter a real date, like 27 3 2019",
        "date_after": "Enter a date on or after {min}",
        "date_before": "Enter a date on or before {max}",
        "not_an_option": "Select one of the answers shown",
        "exclusive": "You cannot select '{label}' together with other answers",
        "min_choices": "Select at least {n} answers",
        "max_choices": "Select no more than {n} answers",
        "other_needed": "Tell us what '{label}' is",
        "required": "This question needs an answer",
        "dk_not_allowed": "This question needs an answer; don't know is not accepted",
        "refused_not_allowed": "This question needs an answer",
        "interviewer_key": "Key an answer, or don't know or refused",
        "skip_prompt": "You have not answered this question. Choose an answer, or 'Don't know' or 'Prefer not to say'.",
        "dk": "Don't know",
        "refused": "Prefer not to say",
        "refused_cati": "Refused",
    },
    "cy": {
        "choose_one": "Dewiswch ateb",
        "choose_some": "Dewiswch o leiaf un ateb",
        "enter_number": "Rhowch rif cyfan, fel 12",
        "enter_decimal": "Rhowch rif, fel 12.5",
        "at_least": "Rhowch rif sy'n {min} neu fwy",
        "at_most": "Rhowch rif sy'n {max} neu lai",
        "between": "Rhowch rif rhwng {min} a {max}",
        "enter_text": "Rhowch ateb",
        "enter_date": "Rhowch ddyddiad go iawn, fel 27 3 2019",
        "not_an_option": "Dewiswch un o'r atebion a ddangosir",
        "required": "Mae angen ateb y cwestiwn hwn",
        "skip_prompt": "Nid ydych wedi ateb y cwestiwn hwn. Dewiswch ateb, neu 'Ddim yn gwybod' neu 'Gwell gennyf beidio â dweud'.",
        "dk": "Ddim yn gwybod",
        "refused": "Gwell gennyf beidio â dweud",
    },
}


def message(language: str, key: str, **values: Any) -> str:
    """A built-in message in ``language`` (falling back to English), with values filled in."""
    table = MESSAGES.get(language) or MESSAGES.get(language.split("-")[0]) or MESSAGES["en"]
    template = table.get(key) or MESSAGES["en"][key]
    return template.format(**values)
