"""``instrument try``: take a questionnaire for a spin in the terminal.

The console mode adds this command to the CLI through the ``register_commands``
hook, as any plugin adds one. The mode does the interviewing, from
opening the file to the last page (:func:`instrument_console.start.run_file`);
this command parses the options and wires the interview to standard input
and output. Colour is added with ``click.style`` and stripped by
``click.echo`` whenever the output is not a terminal, so a pipe or a test
sees plain text.
"""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["try_"]

_STYLES: dict[str, dict[str, bool | str]] = {
    "title": {"bold": True},
    "error": {"fg": "red"},
    "warning": {"fg": "yellow"},
    "note": {"dim": True},
}


def _style(text: str, role: str) -> str:
    return click.style(text, **_STYLES.get(role, {}))  # type: ignore[arg-type]


def _read(prompt: str) -> str:
    try:
        return click.prompt(prompt, default="", show_default=False, prompt_suffix="")
    except click.Abort:  # end of input or Ctrl-C: stop, keeping a partial
        click.echo("")
        raise EOFError from None


def _case(pairs: tuple[str, ...]) -> dict[str, str]:
    case: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected name=value, got {pair!r}", param_hint="--case")
        case[name.strip()] = value.strip()
    return case


@click.command("try")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--mode",
    metavar="MODE",
    default=None,
    help="A mode the questionnaire runs in; the terminal plays it as its policy says: web, as the "
    "respondent sees it; cati, as an interviewer reads it; ivr, the automated call itself (what it "
    "says, and the keys you press); sms, the text conversation itself (each text with its SMS "
    "parts, and the replies you type). Default: the questionnaire's first mode.",
)
@click.option(
    "--lang",
    "language",
    metavar="L",
    default=None,
    help="Language code (default: the questionnaire's default).",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Seed for randomisation and experiment arms (default: a random one, printed).",
)
@click.option(
    "--case",
    "case_pairs",
    metavar="NAME=VALUE",
    multiple=True,
    help="Preloaded sample data, e.g. --case profile_kids=2 (repeatable).",
)
@click.option(
    "--read-back",
    is_flag=True,
    help="ivr: read every number back for the caller to confirm (a study's setting; the calls "
    "do not by default).",
)
def try_(
    path: Path,
    mode: str | None,
    language: str | None,
    seed: int | None,
    case_pairs: tuple[str, ...],
    read_back: bool,
) -> None:
    """Run an interview of PATH in the terminal, reading answers from standard input.

    Type :help at any prompt for the commands (:back, :jump, :show, :lang, :quit). An automated
    call (--mode ivr) is played as the call: type the keys a caller presses, s for silence. A
    text conversation (--mode sms) shows each text as sent: type the replies (STOP, START, HELP
    work as on the line).
    """
    from instrument.ivr.prompts import IvrSettings
    from instrument.questionnaires import facade_from_context
    from instrument_console.start import run_file

    status = run_file(
        path,
        facade=facade_from_context(),
        mode=mode,
        language=language,
        seed=seed,
        case=_case(case_pairs),
        read=_read,
        write=click.echo,
        warn=lambda line: click.echo(line, err=True),
        style=_style,
        ivr=IvrSettings(read_back=read_back),
    )
    if status:
        raise SystemExit(status)
