"""``instrument check``: every problem in a questionnaire, with file, line and column."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from instrument.diagnostics import Diagnostic, Position
from instrument.fieldwork.numbers import NumberClaim, numbers_claimed_twice
from instrument.fieldwork.settings import (
    FieldworkSettings,
    fieldwork_path_for,
    is_fieldwork_file,
    load_fieldwork,
)
from instrument.ivr.advice import ivr_advice
from instrument.panel.wave_file import (
    check_against_questionnaire,
    is_wave_file,
    load_wave,
    questionnaire_file,
)
from instrument.panel.wave_file_questionnaire import check_templates
from instrument.panel.waves import BUILTIN_CHANNELS
from instrument.panelwork.message_checks import advise_messages
from instrument.questionnaires import facade_from_context, open_questionnaire
from instrument.sms.advice import sms_advice

if TYPE_CHECKING:
    from instrument.model import Questionnaire
    from instrument.plugins import PluginFacade


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json gives one object per problem, for editors and CI tools.",
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def check(paths: tuple[Path, ...], output: str, strict: bool) -> None:
    """Check questionnaire files (and the fieldwork file beside each) and wave files; exit 1 on errors."""
    facade = facade_from_context()
    problems = []
    failed = False
    claims: list[NumberClaim] = []  # the studies' numbers, to find one listed by two
    reported: set[NumberClaim] = set()
    for path in paths:
        if is_fieldwork_file(path):  # a study's fieldwork file, named on its own
            settings, diagnostics = load_fieldwork(path)
            claims.extend(_claims(path, settings))
            found = diagnostics.sorted()
        elif is_wave_file(path):  # a panel wave's file, and the questionnaire it names
            found = _check_wave(path, facade, claims)
        else:
            found = _check_questionnaire(path, facade, claims)[0]
        found += _shared_numbers(claims, reported)
        problems.extend(found)
        if any(d.severity == "error" for d in found) or (strict and found):
            failed = True
    if output == "json":
        click.echo(
            json.dumps({"ok": not failed, "problems": [d.as_dict() for d in problems]}, indent=2)
        )
    else:
        for diagnostic in problems:
            click.echo(str(diagnostic), err=False)
        errors = sum(d.severity == "error" for d in problems)
        warnings = len(problems) - errors
        summary = f"{len(paths)} file{'s' if len(paths) != 1 else ''} checked: {errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}"
        click.echo(summary, err=True)
    raise SystemExit(1 if failed else 0)


def _claims(path: Path, settings: FieldworkSettings) -> list[NumberClaim]:
    """The numbers a fieldwork file lists, its study named by the file (read twice, one study)."""
    telephony = settings.telephony
    study = str(path.resolve())
    return [
        NumberClaim(number, study, pos)
        for number, pos in zip(telephony.numbers, telephony.number_positions, strict=True)
    ]


def _shared_numbers(claims: list[NumberClaim], reported: set[NumberClaim]) -> list[Diagnostic]:
    """A number two of the files checked list, reported once (``reported`` holds those
    reported already), where the later one lists it."""
    found = []
    for claim, earlier in numbers_claimed_twice(claims):
        if claim in reported:
            continue
        reported.add(claim)
        where = f"{earlier.position.file}:{earlier.position.line}"
        found.append(
            Diagnostic(
                claim.position,
                "error",
                f"telephony.numbers: {claim.number} is also another study's number ({where}); "
                "a call to it could not tell the studies apart: give each study its own",
            )
        )
    return found


def _check_questionnaire(
    path: Path, facade: PluginFacade, claims: list[NumberClaim] | None = None
) -> tuple[list[Diagnostic], Questionnaire | None]:
    """A questionnaire's problems, and those of the fieldwork file beside it (if it has one);
    the numbers that file lists are added to ``claims``."""
    opened = open_questionnaire(path, facade)
    found = opened.diagnostics
    beside = fieldwork_path_for(path)
    recording = False
    if beside.is_file():
        settings, problems = load_fieldwork(beside)
        if claims is not None:
            claims.extend(_claims(beside, settings))
        recording = bool(settings.telephony.recording)
        found = [*found, *problems.sorted()]
    if opened.questionnaire is not None:  # questions an automated call cannot ask well
        found = [*found, *ivr_advice(opened.questionnaire, recording=recording)]
        found = [*found, *sms_advice(opened.questionnaire)]  # ... and a text message
    return found, opened.questionnaire


def _check_wave(
    path: Path, facade: PluginFacade, claims: list[NumberClaim] | None = None
) -> list[Diagnostic]:
    """A wave file's problems, then its questionnaire's, then what the wave asks of it."""
    channels = facade.contact_channels()
    known = tuple(dict.fromkeys([*BUILTIN_CHANNELS, *channels]))  # a plugin's too
    wave, diagnostics = load_wave(path, channels=known)
    if wave is None:
        return diagnostics.sorted()
    shipped = {name: channel.templates for name, channel in channels.items()}
    diagnostics.extend(check_templates(wave, shipped).items)
    questionnaire_path = questionnaire_file(wave)
    if questionnaire_path is None:
        diagnostics.extend(advise_messages(wave, channels).items)
        diagnostics.warning(
            wave.positions.get("questionnaire", Position(str(path), 1, 1)),
            f"the questionnaire '{wave.questionnaire}' is named by its id and there is no "
            f"{wave.questionnaire}.yaml beside the wave file: its preloads and modes were not checked",
        )
        return diagnostics.sorted()
    found, questionnaire = _check_questionnaire(questionnaire_path, facade, claims)
    # The texts are measured as they will be sent: where members may reply to answer by
    # text, the invitation and reminders say so, which can push them into a second part.
    reply_by_text = questionnaire is not None and any(
        questionnaire.mode_policies[mode].text_messages for mode in questionnaire.modes
    )
    diagnostics.extend(advise_messages(wave, channels, reply_by_text=reply_by_text).items)
    found = [*diagnostics.sorted(), *found]
    if questionnaire is not None:
        found += check_against_questionnaire(wave, questionnaire).sorted()
    return found
