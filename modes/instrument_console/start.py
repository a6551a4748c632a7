"""``instrument try`` without the command line: open the file, start the interview, run it.

The command parses its options and hands over what to read from and write
to; everything about the interview happens here and in
:class:`~instrument_console.session.ConsoleSession`, so a notebook or another
front end can run a terminal interview the same way.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from instrument.engine import Engine, EngineError
from instrument.ivr.prompts import IvrSettings
from instrument.questionnaires import open_questionnaire
from instrument.sms.conversation import SmsSettings
from instrument_console.call import CallSession
from instrument_console.render import style_of
from instrument_console.session import ConsoleSession, Reader, Styler, Writer, utc_now
from instrument_console.texting import TextSession

if TYPE_CHECKING:
    from instrument.plugins import PluginFacade

__all__ = ["EXIT_FAILED", "EXIT_OK", "run_file"]

EXIT_OK = 0
EXIT_FAILED = 1  # the file has errors, or the interview cannot start as asked


def _plain(text: str, role: str) -> str:
    return text


def run_file(
    path: Path,
    *,
    facade: PluginFacade | None,
    mode: str | None,
    language: str | None,
    seed: int | None,
    case: Mapping[str, Any],
    read: Reader,
    write: Writer,
    warn: Writer,
    style: Styler = _plain,
    now: Callable[[], dt.datetime] = utc_now,
    ivr: IvrSettings | None = None,
    sms: SmsSettings | None = None,
) -> int:
    """Interview *path* in *mode*; returns the exit status.

    The file's problems, or why the interview cannot start (an unknown
    language, a preload the questionnaire does not have), go to *warn* as
    ``file:line:col: error: ...`` lines. ``seed`` None draws one; the session
    prints it, so the interview can be run again exactly. A mode spoken by a machine (``ivr``)
    is played as the call itself (:class:`~instrument_console.call.CallSession`), asking as
    ``ivr`` says (re-prompts, read-back; the webhooks' defaults when None); a mode that texts
    (``sms``) as the text conversation itself (:class:`~instrument_console.texting.TextSession`),
    asking as ``sms`` says.
    """
    loaded = open_questionnaire(path, facade)
    if loaded.questionnaire is None:
        for diagnostic in loaded.diagnostics:
            warn(str(diagnostic))
        return EXIT_FAILED
    engine = Engine(loaded.questionnaire)
    try:
        state = engine.start(
            now=now(),
            seed=seed if seed is not None else secrets.randbelow(1_000_000),
            mode=mode,
            language=language,
            case=dict(case),
        )
    except EngineError as exc:
        warn(f"{path}: error: {exc}")
        return EXIT_FAILED
    look = style_of(engine.q.mode_policies[state.mode])
    if look == "call":
        CallSession(engine, state, read=read, write=write, now=now, style=style, settings=ivr).run()
    elif look == "text":
        TextSession(engine, state, read=read, write=write, now=now, style=style, settings=sms).run()
    else:
        ConsoleSession(engine, state, read=read, write=write, now=now, style=style).run()
    return EXIT_OK
