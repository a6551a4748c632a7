"""``instrument check``'s warnings for questions an automated call cannot ask well.

Only for a questionnaire that runs in a keypad mode (a machine asks, spoken,
no typed text: ``ivr``, by its policy). Each warning points at the question's line.
"""

from __future__ import annotations

import jinja2
from jinja2 import nodes

from instrument.diagnostics import Diagnostic, Position
from instrument.engine.wording import spoken_source
from instrument.ivr.recording import REFERENCE_LENGTH, holds_reference
from instrument.ivr.settings import missing_voices
from instrument.model import Question, Questionnaire, Text

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
    found.extend(_silent_fills(q, mode, recording))
    for question in q.questions.values():
        # A hard check is what a researcher relies on for the data; a soft one (the flagship's
        # "is that an email address?") only nudges, and is left unsaid.
        hard = [c for c in question.checks if c.severity == "error"] if _keyless(question) else []
        if hard:
            found.append(
                Diagnostic(
                    hard[0].message.pos,
                    "warning",
                    f"question '{question.id}' has hard checks, which an automated ({mode}) call "
                    "does not run: free text there is left empty or a recording's reference, "
                    "nothing the caller typed (the web and interviewers still run them)",
                )
            )
    return found


def _keyless(question: Question) -> bool:
    """Free text: a call skips it, or keeps a recording's reference as its answer.

    Either way there is no word to say where a text fills it in.
    """
    return question.type in ("text", "long_text")


def _silent_fills(q: Questionnaire, mode: str, recording: bool) -> list[Diagnostic]:
    """Spoken texts that fill in an answer the call itself skips, so the caller hears a gap.

    A household roster asks names as free text, which a keypad call skips; a later
    "What is {{ first_name }}'s date of birth?" is then said as "What is 's date of birth?".
    Nothing the program could put in the gap is right in every language, so the author is
    told where: a question can have an ``ivr:`` text that does without the name (the list's
    ``loop.number``, say); any text can test the name first (``{% if first_name %}`` or
    ``{{ first_name or 'this person' }}``), which this check takes as handled.
    """
    skipped = {qid for qid, question in q.questions.items() if _keyless(question)}
    if not skipped:
        return []
    policy = q.mode_policies[mode]
    found: list[Diagnostic] = []
    for question in q.questions.values():
        if question.id in skipped:
            continue
        said = f"question '{question.id}'"
        spoken: list[tuple[str, Text | None, str]] = [
            (said, spoken_source(question, policy), "give it an ivr: text without them")
        ]
        spoken += [
            (f"{said} (row '{row.id}')", spoken_source(row, policy), "give the row an ivr: text")
            for row in question.rows
        ]
        spoken += [
            (
                f"check {check.index + 1} of {said}",
                check.message,
                "word it so it reads well without them",
            )
            for check in question.checks
        ]
        for what, text, remedy in spoken:
            gaps = _unguarded(text, skipped) if text is not None else []
            if gaps and text is not None:
                message = _gap_message(what, gaps, mode, remedy, recording)
                found.append(Diagnostic(text.pos, "warning", message))
    return found


_PARSER = jinja2.Environment()
"""Parses a text's source to read its tree (nothing is compiled or rendered with it)."""


def _unguarded(text: Text, skipped: set[str]) -> list[str]:
    """The skipped answers ``text`` says without the author having tested for them.

    Handled: a name in a test (``{% if first_name %}``, ``{{ first_name or 'you' }}``), and any
    name said only inside the branch taken when such a test holds (``{% if first_name %}{{
    first_name }} {{ last_name }}{% else %}...``).
    """
    gaps = text.names & skipped
    if not gaps:
        return []
    said: set[str] = set()
    for template in text.by_language.values():
        try:
            tree = _PARSER.parse(template.source)
        except jinja2.TemplateSyntaxError:  # the loader has reported it already
            continue
        said |= _said_untested(tree, gaps)
    return sorted(said)


def _said_untested(node: nodes.Node, gaps: set[str]) -> set[str]:
    """Names of ``gaps`` in ``node`` outside any test of them and any branch such a test guards."""
    if isinstance(node, nodes.Name):
        return {node.name} & gaps
    children: list[nodes.Node] = list(node.iter_child_nodes())
    if isinstance(node, (nodes.If, nodes.CondExpr, nodes.Or)):
        test = node.left if isinstance(node, nodes.Or) else node.test
        if {n.name for n in (test, *test.find_all(nodes.Name)) if isinstance(n, nodes.Name)} & gaps:
            children = _taken_when_false(node)  # only these can say a missing name
    return set().union(*(_said_untested(child, gaps) for child in children))


def _taken_when_false(node: nodes.If | nodes.CondExpr | nodes.Or) -> list[nodes.Node]:
    """What is said when ``node``'s test does not hold (the name tested may be missing)."""
    if isinstance(node, nodes.Or):
        return [node.right]
    if isinstance(node, nodes.If):
        return [*node.elif_, *node.else_]
    return [node.expr2] if node.expr2 is not None else []


def _gap_message(what: str, gaps: list[str], mode: str, remedy: str, recording: bool) -> str:
    names = ", ".join(f"'{g}'" for g in gaps)
    plural = "answers" if len(gaps) > 1 else "answer"
    heard = (
        "records free text, so the caller hears a recording's reference or nothing there"
        if recording
        else "skips free text, so the caller hears nothing there"
    )
    return (
        f"{what} says the {plural} to {names} aloud, but an automated ({mode}) call {heard}; "
        f"{remedy}, or test them first ({{% if ... %}} or {{{{ ... or '...' }}}})"
    )


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
