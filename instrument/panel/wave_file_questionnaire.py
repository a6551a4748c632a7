"""What a wave asks of its questionnaire and of the installed channels.

Of the questionnaire: the preloads it fills, the modes and languages it uses;
of the channels: the templates it names. Apart from reading the wave file,
because both come through the plugin host (any importer may have read the
questionnaire, any plugin added a channel), which ``instrument check``
asks; these functions are handed what it found.
"""

from __future__ import annotations

from collections.abc import Mapping

from instrument.diagnostics import Diagnostics, Position, did_you_mean
from instrument.model import Preload, Questionnaire

from .waves import ProfileVariable, Wave

__all__ = ["check_against_questionnaire", "check_templates"]


def check_against_questionnaire(wave: Wave, questionnaire: Questionnaire) -> Diagnostics:
    """What a wave asks of its questionnaire: its preloads (and their types), modes, languages."""
    d = Diagnostics()
    where = wave.positions
    fallback = Position(wave.source or "<wave>", 1, 1)
    preloads = {p.id: p for p in questionnaire.preload}
    for name, target in wave.preload.items():
        pos = where.get(f"preload.{name}", fallback)
        declared = preloads.get(target)
        if declared is None:
            known = ", ".join(preloads) or "none"
            d.error(
                pos,
                f"preload.{name}: the questionnaire has no preload '{target}' (its preloads: "
                f"{known}){did_you_mean(target, preloads)}",
            )
            continue
        _check_preload_type(d, pos, wave.profile[name], declared)
    given = set(wave.preload.values())
    for declared in questionnaire.preload:
        if declared.id not in given:
            d.warning(
                where.get("preload", where.get("questionnaire", fallback)),
                f"the questionnaire's preload '{declared.id}' is not given by this wave, so it is "
                "missing in every interview; map a profile variable to it under preload",
            )
    policies = questionnaire.mode_policies
    for step in wave.steps:
        if step.kind == "move_to_phone" and not any(
            policies[mode].administered_by == "interviewer" for mode in questionnaire.modes
        ):
            d.error(
                step.pos,
                "move_to: phone, but the questionnaire has no interviewer mode (such as cati)",
            )
        if step.kind == "automated_call" and step.call is not None:
            machine = [m for m in questionnaire.modes if policies[m].administered_by == "machine"]
            if step.call.mode is not None and step.call.mode not in machine:
                d.error(
                    step.pos,
                    f"automated_call: '{step.call.mode}' is not an automated mode of the "
                    f"questionnaire (it has: {', '.join(machine) or 'none'})",
                )
            elif not machine:
                d.error(
                    step.pos,
                    "automated_call, but the questionnaire has no automated mode (such as ivr)",
                )
        if step.kind == "sms_interview" and step.sms is not None:
            texting = [m for m in questionnaire.modes if policies[m].text_messages]
            if step.sms.mode is not None and step.sms.mode not in texting:
                d.error(
                    step.pos,
                    f"sms_interview: '{step.sms.mode}' is not a mode of the questionnaire asked "
                    f"by text message (it has: {', '.join(texting) or 'none'})",
                )
            elif not texting:
                d.error(
                    step.pos,
                    "sms_interview, but the questionnaire is not asked by text message: list "
                    f"sms in its modes (it has: {', '.join(questionnaire.modes)})",
                )
        for channel, names in step.templates.items():
            for language in names:
                if language != "*" and language not in questionnaire.languages:
                    d.warning(
                        step.pos,
                        f"templates.{channel}: a template in '{language}', a language the "
                        f"questionnaire is not in ({', '.join(questionnaire.languages)})",
                    )
    if wave.default_language not in questionnaire.languages:
        d.error(
            where.get("default_language", fallback),
            f"default_language '{wave.default_language}' is not a language of the questionnaire "
            f"({', '.join(questionnaire.languages)})",
        )
    return d


_COMPATIBLE = {
    "integer": ("integer", "decimal"),
    "decimal": ("decimal",),
    "text": ("text",),
    "date": ("date",),
    "single": ("single",),
}


def _check_preload_type(
    d: Diagnostics, pos: Position, variable: ProfileVariable, declared: Preload
) -> None:
    what = f"preload.{variable.name}"
    if declared.type not in _COMPATIBLE[variable.type]:
        d.error(
            pos,
            f"{what}: the profile variable is {variable.type} but the questionnaire's preload "
            f"'{declared.id}' is {declared.type}",
        )
        return
    if variable.codes is not None and declared.choices is not None:
        codes = {option.code for option in declared.choices.options}
        extra = sorted(variable.codes - codes)
        if extra:
            d.error(
                pos,
                f"{what}: the profile's codes {', '.join(map(str, extra))} are not options of the "
                f"preload '{declared.id}' (its codes: {', '.join(map(str, sorted(codes)))})",
            )


def check_templates(wave: Wave, shipped: Mapping[str, frozenset[str]]) -> Diagnostics:
    """Templates the installed channels do not ship: warnings, as a study may add its own.

    ``shipped`` maps a channel to the templates it comes with (a plugin's
    ``ContactChannel.templates``); a channel that ships none is not checked.
    """
    d = Diagnostics()
    for step in wave.steps:
        for channel, names in step.templates.items():
            known = shipped.get(channel, frozenset())
            for name in sorted(set(names.values()) - known if known else ()):
                d.warning(
                    step.pos,
                    f"the {step.kind} on day {step.day}: the {channel} channel ships no template "
                    f"'{name}' (it has: {', '.join(sorted(known))}); the study's own templates "
                    "must provide it",
                )
    return d
