"""``instrument check``'s warnings for questions an automated call cannot ask well.

Only for a questionnaire that runs in a keypad mode (a machine asks, spoken,
no typed text: ``ivr``, by its policy). Each warning points at the question's line.
"""

from __future__ import annotations

from instrument.diagnostics import Diagnostic, Position
from instrument.ivr.recording import REFERENCE_LENGTH, holds_reference
from instrument.ivr.settings import missing_voices
from instrument.model import Question, Questionnaire

__all__ = ["GRID_COLUMNS", "UNFOLDED_OPTIONS", "ivr_advice"]

UNFOLDED_OPTIONS = 10
"""A multiple choice asked option by option (yes/no each) longer than this is long to hear.

Asking each option as its own yes/no is the form telephone surveys recommend for "choose all
that apply" (a forced choice per item); each is a two-key question like a grid's row, so the
series is warned of only when it is long, as a long grid would be."""
GRID_COLUMNS = 5
"""A grid's scale wider than this is hard to keep in mind row after row (4-5 items per menu)."""


def _read_out(question: Question) -> list[int]:
    if question.choices is None:
        return []
    return [o.code for o in question.choices.options if not o.not_read_out]


def ivr_advice(q: Questionnaire, *, recording: bool = False) -> list[Diagnostic]:
    """The warnings, in question order; none when no mode of the questionnaire is a keypad call.

    ``recording``: the study records calls (its fieldwork file's ``telephony.recording``), so
    a free-text question is recorded after the consent question rather than skipped.
    """
    calls = [m for m in q.modes if q.mode_policies[m].keypad and q.mode_policies[m].spoken]
    if not calls:
        return []
    mode = calls[0]
    found: list[Diagnostic] = []
    for language in missing_voices(q):
        found.append(
            Diagnostic(
                q.ivr.pos or Position(q.source_path, 1, 1),
                "warning",
                f"an automated ({mode}) call has no voice for language '{language}': name one "
                f"in meta.ivr.voices.{language} (calls in it cannot be answered)",
            )
        )
    for question in q.questions.values():
        message = _problem(question, mode, recording)
        if message is not None:
            found.append(Diagnostic(question.pos, "warning", message))
    return found


def _problem(question: Question, mode: str, recording: bool) -> str | None:
    name = f"question '{question.id}'"
    offered = _read_out(question)
    keys = 9 - question.allow_dk - question.allow_refused  # 8 and 9 are don't know and refused
    if question.type in ("single", "yesno") and len(offered) > keys:
        return (
            f"{name} reads out {len(offered)} options but an automated ({mode}) call has {keys} single keys "
            "for them: callers must key two digits and #; shorten or split the list"
        )
    if question.type == "multi":
        unfolded = [c for c in offered if not _exclusive(question, c)]
        if len(unfolded) > UNFOLDED_OPTIONS:
            return (
                f"{name} is asked by an automated ({mode}) call as {len(unfolded)} yes/no questions, one per "
                f"option (more than {UNFOLDED_OPTIONS} is long to hear); shorten or split the list"
            )
    if question.type == "grid" and len(offered) > min(keys, GRID_COLUMNS):
        return (
            f"{name} has a scale of {len(offered)} answers, read out for each row of an automated ({mode}) "
            f"call (more than {GRID_COLUMNS} is hard to keep in mind); use a shorter scale"
        )
    if (
        question.type in ("text", "long_text")
        and recording
        and not holds_reference(question.max_length)
    ):
        return (
            f"{name} has max_length {question.max_length}, too short for a recording's reference "
            f"({REFERENCE_LENGTH} characters: 'recording:' and the provider's id), so an automated "
            f"({mode}) call cannot record it: it is skipped (not answered, flagged in paradata); "
            f"raise max_length to {REFERENCE_LENGTH} or more to record it"
        )
    if question.type in ("text", "long_text") and not recording:
        return (
            f"{name} asks for free text, which an automated ({mode}) call cannot take by keypad: without "
            "recording it is skipped (not answered, flagged in paradata"
            + ("; it is required, which a call cannot honour" if question.required else "")
            + ")"
        )
    return None


def _exclusive(question: Question, code: int) -> bool:
    option = question.choices.option(code) if question.choices is not None else None
    return option is not None and (option.exclusive or option.other_specify)
