"""``instrument try``: take a questionnaire for a spin in the terminal.

The console mode (:mod:`instrument_console`) does the interviewing; this
command loads the file, starts the interview with the engine and wires the
session to standard input and output. Colour is added with ``click.style``
and stripped by ``click.echo`` whenever the output is not a terminal, so a
pipe or a test sees plain text.
"""

from __future__ import annotations

import secrets
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
    type=click.Choice(["web", "cati", "ivr"]),
    default="web",
    show_default=True,
    help="web: as the respondent sees it; cati: as an interviewer reads it; ivr: an automated call as text.",
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
def try_(
    path: Path, mode: str, language: str | None, seed: int | None, case_pairs: tuple[str, ...]
) -> None:
    """Run an interview of PATH in the terminal, reading answers from standard input.

    Type :help at any prompt for the commands (:back, :jump, :show, :lang, :quit).
    """
    from instrument_console.session import ConsoleSession, utc_now

    from instrument.engine import Engine, EngineError
    from instrument.loader import load_questionnaire

    case = _case(case_pairs)
    loaded = load_questionnaire(path)
    if loaded.questionnaire is None:
        for diagnostic in loaded.diagnostics:
            click.echo(str(diagnostic), err=True)
        raise SystemExit(1)
    engine = Engine(loaded.questionnaire)
    session_seed = seed if seed is not None else secrets.randbelow(1_000_000)
    try:
        state = engine.start(
            now=utc_now(), seed=session_seed, mode=mode, language=language, case=case
        )
    except EngineError as exc:
        click.echo(f"{path}: error: {exc}", err=True)
        raise SystemExit(1) from None
    session = ConsoleSession(engine, state, read=_read, write=click.echo, now=utc_now, style=_style)
    session.run()
