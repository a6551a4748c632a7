"""The telephone keypad rule: which key stands for which answer in an automated call.

Every mode that plays a call (the terminal's ``instrument try --mode ivr``, the
TwiML of the telephone mode, a future SMS mode reading digits) must map keys to
answers the same way, or a researcher hears one thing in the terminal and the
caller another. So the rule lives here, in the core, and modes import it.

* A choice offers the options an interviewer would read out (not those marked
  ``not_read_out``). Each option's key is its own code when every offered code
  fits on the keypad (1-9) without landing on the don't know / refused keys, so
  what the caller presses is what is stored; otherwise keys are numbered 1, 2,
  ... in display order, stepping over the keys in use for don't know and
  refused.
* Don't know is 8 and refused is 9 on a choice (on every row of a grid, and on
  each yes/no question of a multiple choice asked option by option).
* On a number or a date the digits are the answer, so don't know and refused are
  ``*8`` and ``*9`` there, and ``*`` between digits is a decimal point.
* ``*`` alone repeats the question; ``#`` ends a number or a date.
"""

from __future__ import annotations

from instrument.engine import OptionView, QuestionView

__all__ = [
    "DIGITS_DK",
    "DIGITS_REFUSED",
    "FINISH_KEY",
    "IVR_DK_KEY",
    "IVR_REFUSED_KEY",
    "NO_KEY",
    "REPEAT_KEY",
    "YES_KEY",
    "ivr_keypad",
    "ivr_offered",
    "keys_for_options",
    "offers_dk",
    "offers_refused",
    "one_key",
]

IVR_DK_KEY = "8"
IVR_REFUSED_KEY = "9"
DIGITS_DK = "*8"
DIGITS_REFUSED = "*9"
REPEAT_KEY = "*"
FINISH_KEY = "#"
YES_KEY = "1"
NO_KEY = "2"


def offers_dk(view: QuestionView) -> bool:
    """Whether don't know may be chosen now (the engine's ``offer_missing`` decides, per mode)."""
    return view.allow_dk and view.offer_missing


def offers_refused(view: QuestionView) -> bool:
    """Whether refused / prefer not to say may be chosen now."""
    return view.allow_refused and view.offer_missing


def ivr_offered(view: QuestionView) -> tuple[OptionView, ...]:
    """Options an automated call offers: those an interviewer would read out."""
    return tuple(o for o in view.options if not o.not_read_out)


def _reserved(view: QuestionView) -> set[int]:
    reserved = set()
    if view.allow_dk:
        reserved.add(int(IVR_DK_KEY))
    if view.allow_refused:
        reserved.add(int(IVR_REFUSED_KEY))
    return reserved


def keys_for_options(view: QuestionView) -> int:
    """How many options one key each can carry (9, less the keys don't know and refused take)."""
    return 9 - len(_reserved(view))


def ivr_keypad(view: QuestionView) -> dict[str, int]:
    """Keypad key -> option code for an automated call (see the module's rule).

    A list longer than :func:`keys_for_options` gets keys of two digits (10, 11,
    ...), keyed and ended with ``#``; ``instrument check`` warns of it.
    """
    reserved = _reserved(view)
    codes = [o.code for o in ivr_offered(view)]
    if all(1 <= c <= 9 and c not in reserved for c in codes):
        return {str(c): c for c in codes}
    keys: dict[str, int] = {}
    key = 1
    for code in codes:
        while key in reserved:
            key += 1
        keys[str(key)] = code
        key += 1
    return keys


def one_key(keypad: dict[str, int]) -> bool:
    """Whether every answer is a single key (so the call takes it without waiting for ``#``)."""
    return all(len(key) == 1 for key in keypad)
