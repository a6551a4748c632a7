"""The web mode's own words (buttons, headings, its few checks), per language.

Question wording and validation messages come from the questionnaire and
the engine; these are only the words around them. A language without an
entry falls back to English, word by word.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ui"]

UI: dict[str, dict[str, str]] = {
    "en": {
        "continue": "Continue",
        "start": "Start now",
        "back": "Back",
        "save_later": "Save and continue later",
        "error_prefix": "Error",
        "problem": "There is a problem",
        "before_continue": "Before you continue",
        "check_answer": "Check your answer",
        "change_answer": "Change my answer",
        "continue_anyway": "Continue anyway",
        "or": "or",
        "day": "Day",
        "month": "Month",
        "year": "Year",
        "date_hint": "For example, 27 3 2019",
        "progress": "About {percent}% complete",
        "progress_label": "Progress",
        "other_specify": "Please tell us what",
        "language": "Language",
        "skip_to_main": "Skip to main content",
        "not_both": "Either give an answer or choose '{label}', not both",
        "one_missing": "Choose only one of '{dk}' and '{refused}'",
        "saved_title": "Your answers have been saved",
        "saved_body": "To carry on later, on this or another device, use this link. Keep it private: anyone with it can see and change your answers.",
        "saved_continue": "Continue now",
        "saved_once": "This link is shown only now. Copy it or bookmark it before you leave this page.",
        "switch_title": "You have a survey in progress",
        "switch_body": "This browser is in the middle of answering this survey. The link you opened leads to a different one. Your answers so far are saved either way.",
        "switch_open": "Open the survey from the link",
        "switch_keep": "Carry on with the survey in progress",
        "thanks_title": "Thank you",
        "thanks_complete": "Thank you for completing the survey. Your answers have been saved.",
        "invitation_only": "This survey is by invitation only. Use the personal link in your invitation.",
        "thanks_done": "You have already completed this survey. Thank you for taking part.",
        "thanks_screened": "Thank you. You do not need to answer any more questions.",
        "stale": "This page had already been answered, perhaps in another window or tab. Here is where you are now; nothing was overwritten.",
        "timeout_notice": "For your security, we will sign you out if you do nothing for {minutes} minutes. Your answers are saved each time you continue.",
        "timed_out": "You were signed out because you did nothing for {minutes} minutes. Your answers up to the last page you completed are saved. Use your personal link to continue.",
        "timeout_warning": "You will be signed out soon because you have not done anything for a while.",
        "stay": "Stay signed in",
        "start_intro": "Your answers are saved each time you continue, so you can stop and come back later.",
        "link_invalid_title": "This link does not work",
        "link_invalid": "Check that you copied the whole link from your invitation. If it still does not work, contact the research team.",
        "link_expired_title": "This link has expired",
        "link_expired": "The survey may have closed. Contact the research team if you think this is a mistake.",
        "page_title_page": "Question",
        "warning": "Warning",
    },
    "cy": {
        "continue": "Parhau",
        "start": "Dechrau nawr",
        "back": "Yn ôl",
        "save_later": "Cadw a pharhau yn nes ymlaen",
        "error_prefix": "Gwall",
        "problem": "Mae problem wedi codi",
        "change_answer": "Newid fy ateb",
        "continue_anyway": "Parhau beth bynnag",
        "or": "neu",
        "day": "Diwrnod",
        "month": "Mis",
        "year": "Blwyddyn",
        "date_hint": "Er enghraifft, 27 3 2019",
        "progress": "Tua {percent}% wedi'i gwblhau",
        "language": "Iaith",
        "thanks_title": "Diolch",
    },
}


def ui(language: str, key: str, **values: Any) -> str:
    """One of the mode's words in ``language`` (English when it has no translation)."""
    table = UI.get(language) or UI.get(language.split("-")[0]) or UI["en"]
    text = table.get(key) or UI["en"][key]
    return text.format(**values) if values else text


LANGUAGE_NAMES = {
    "en": "English",
    "cy": "Cymraeg",
    "ga": "Gaeilge",
    "gd": "Gàidhlig",
    "fr": "Français",
    "de": "Deutsch",
    "es": "Español",
    "pl": "Polski",
}
