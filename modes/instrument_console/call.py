"""An automated call played in the terminal: what the call says, and the keys a caller presses.

``instrument try PATH --mode ivr`` (or any mode whose policy is spoken by a machine) runs the
interview through the same :class:`~instrument.ivr.flow.CallFlow` the telephone mode's webhooks
run, so the terminal says what a caller would hear, sentence for sentence
(:func:`~instrument.ivr.flow.said`, held to the webhooks' TwiML by
``tests/test_ivr_flow_said.py``): the step's words, each prompt, the keys for don't know,
refused and ``*`` announced once per call, a multiple choice asked option by option, a number
read back, the engine's hard and soft checks, the re-prompts after silence or a wrong key, and
the end. Nothing of the call's logic is here: this module turns a typed line into what Twilio
would post (``Digits``, or nothing on a timeout) and prints what the flow says.

The terminal differs from a call in what is not a key: ``s`` (or an empty line) stands for
silence, and the console's ``:quit`` (hang up), ``:show`` and ``:help`` work. ``:back``,
``:jump``, ``:lang`` and ``:remove`` are not things a caller can do, and say so.
"""

from __future__ import annotations

import re
from typing import Any

from instrument.engine import Engine, State
from instrument.ivr.flow import NO_ANSWER, Action, Ask, CallFlow, FlowState, said
from instrument.ivr.keypad import FINISH_KEY
from instrument.ivr.prompts import FREE_TEXT_SKIPPED, IvrSettings, ivr_words
from instrument_console.channel import ChannelSession
from instrument_console.session import _Quit

__all__ = ["CALL_HELP", "CallSession", "gathered"]

CALL_HELP = """\
The call speaks; answer at the keys> prompt with the keys a caller would press, then Enter.
  1              one key (a question with one-key answers takes the first key only)
  1975#          digits, then # (without #, the call takes them when it times out)
  *              hear the question again
  8 / 9          don't know / refused on a choice, where the call says so
  *8# / *9#      don't know / refused on a number or a date
  s              silence: press nothing until the call times out (an empty line too)
Commands, at any prompt:
  :show          the answers recorded so far
  :quit          hang up; the interview is kept as a partial (the next call resumes it)
  :help          this text
A caller cannot go back, jump or change language: :back, :jump, :lang and :remove are not
offered on a call (press * to hear a question again; start with --lang for another language)."""

_KEYS = re.compile(r"[0-9*#]+\Z")
_SILENCE = frozenset({"", "s"})
_NOT_ON_A_CALL = {
    "back": "a call only goes forward (press * to hear the question again)",
    "jump": "a call only goes forward (press * to hear the question again)",
    "remove": "a call has no list summary to remove anyone from",
    "lang": "a call keeps the language it began in (start again with --lang)",
}


def gathered(keys: str, entry: str) -> tuple[str, str | None]:
    """What Twilio posts as ``Digits`` for ``keys`` pressed at a prompt, and a note when some
    keys do not count: a one-key prompt takes the first key; a prompt ended by ``#`` takes the
    keys before it (a lone ``#`` is posted as it is), and the keys without one when it times out.
    """
    if entry == "one_key":
        note = f"(a one-key question takes one key: {keys[0]}; the rest is lost)"
        return keys[0], note if len(keys) > 1 else None
    head, finished, tail = keys.partition(FINISH_KEY)
    if not finished:
        return head, f"(no #: the call takes {head} when it times out)"
    lost = f"(the keys after # are lost: {tail})" if tail else None
    return head or FINISH_KEY, lost


class CallSession(ChannelSession):
    """One interview played as an automated call in a terminal-like stream.

    :param settings: how the study's calls ask (re-prompts, read-back); the webhooks' defaults
        unless given.
    Other parameters as :class:`~instrument_console.session.ConsoleSession`'s. ``left``: the
    call ended before the interview's end (hung up, or the call's goodbye: a partial).
    """

    HELP = CALL_HELP
    WHO = "a caller"
    NOT_OFFERED = _NOT_ON_A_CALL
    QUIT_NOTE = "(you hung up: the interview stays a partial to resume)"
    FLAG_WHY = {
        FREE_TEXT_SKIPPED: "free text is not asked by a call that does not record",
        NO_ANSWER: "given up after silence or wrong keys",
    }
    OTHER_FLAG = "the keypad cannot answer it"

    def __init__(
        self, engine: Engine, state: State, *, settings: IvrSettings | None = None, **session: Any
    ) -> None:
        super().__init__(engine, state, **session)
        self.flow = CallFlow(ivr_words(engine.q, state.language), settings or IvrSettings())
        self.flow_state = FlowState()

    # ------------------------------------------------------------------ the call

    def _intro(self) -> None:
        super()._intro()
        self.write(
            self.style(
                "Keys: 1, 1975# (# ends a number), * repeats, s is silence; :quit hangs up.", "note"
            )
        )

    def _carry_out(self, state: Any, step: Any, action: Any) -> tuple[Any, Any]:
        """Say what the call says, then hear the keys (or go on after information)."""
        self._speak(action)
        if action.kind == "goodbye":
            self.write(
                self.style(
                    "(the call ends here; the interview stays a partial for the next call)",
                    "note",
                )
            )
            self.left = True
            raise _Quit
        if isinstance(action, Ask):
            return self.flow.keys(state, step, self._listen(action))
        return self.flow.keys(state, step, None)  # information: said, then on without keys

    def _ending(self) -> None:
        step = self._step()
        if step.kind == "end" and not self.left:
            self.flow_state, action = self.flow.show(self.flow_state, step)
            self._speak(action)
            self.write(self.style("(the call hangs up)", "note"))
        self._outcome()

    def _speak(self, action: Action) -> None:
        say = self._say()
        for sentence in said(action):
            self.write(say("call_says", text=sentence))

    def _listen(self, action: Ask) -> str | None:
        """The caller's keys for the prompt asked (None: silence)."""
        while True:
            text = "".join(self._read("keys> ").split())
            if text.lower() in _SILENCE:
                self.write(self.style("(silence: nothing keyed before the call timed out)", "note"))
                return None
            if not _KEYS.match(text):
                self.write(
                    self.style(
                        "! A caller presses 0-9, * and #: type the keys (1975#), s for silence, "
                        ":help for help",
                        "error",
                    )
                )
                continue
            digits, note = gathered(text, action.asked.entry)
            if note:
                self.write(self.style(note, "note"))
            return digits
