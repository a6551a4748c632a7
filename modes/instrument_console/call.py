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
from instrument_console.session import ConsoleSession, _Quit

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


class CallSession(ConsoleSession):
    """One interview played as an automated call in a terminal-like stream.

    :param settings: how the study's calls ask (re-prompts, read-back); the webhooks' defaults
        unless given.
    Other parameters as :class:`~instrument_console.session.ConsoleSession`'s.
    """

    def __init__(
        self, engine: Engine, state: State, *, settings: IvrSettings | None = None, **session: Any
    ) -> None:
        super().__init__(engine, state, **session)
        self.flow = CallFlow(ivr_words(engine.q, state.language), settings or IvrSettings())
        self.flowing = FlowState()
        self.flags: list[tuple[str, str]] = []  # every step's paradata flags, in order
        self.hung_up = False  # the call ended before the interview's end (a partial)

    # ------------------------------------------------------------------ the call

    def _intro(self) -> None:
        super()._intro()
        self.write(
            self.style(
                "Keys: 1, 1975# (# ends a number), * repeats, s is silence; :quit hangs up.", "note"
            )
        )

    def _page(self) -> None:
        """Play the current step until the interview takes its answers (or the call ends)."""
        step = self._step()
        flowing, action = self.flow.show(self.flowing, step)
        while True:
            self.flowing = flowing
            if action.kind == "submit":
                result = self.engine.submit(
                    self.state,
                    action.answers,
                    now=self.now(),
                    token=step.token,
                    confirm=True if action.confirm else (),
                    actor="respondent",
                )
                self.events.extend(result.events)
                if result.accepted:
                    self._flagged(action.flags)
                    return
                step = self._step()
                flowing, action = self.flow.rejected(flowing, step, result.problems, revision=0)
                continue
            if action.kind == "finish":  # the end is said by _ending
                return
            self._speak(action)
            if action.kind == "goodbye":
                self.write(
                    self.style(
                        "(the call ends here; the interview stays a partial for the next call)",
                        "note",
                    )
                )
                self.hung_up = True
                raise _Quit
            if isinstance(action, Ask):
                flowing, action = self.flow.keys(flowing, step, self._listen(action))
            else:  # information: said, then on without keys
                flowing, action = self.flow.keys(flowing, step, None)

    def _ending(self) -> None:
        step = self._step()
        if step.kind == "end" and not self.hung_up:
            self.flowing, action = self.flow.show(self.flowing, step)
            self._speak(action)
            self.write(self.style("(the call hangs up)", "note"))
        self._outcome()

    def _speak(self, action: Action) -> None:
        say = self._say()
        for sentence in said(action):
            self.write(say("call_says", text=sentence))

    def _read(self, prompt: str) -> str:
        try:
            return super()._read(prompt)
        except _Quit:  # :quit or the end of input: the caller hung up
            self.hung_up = True
            raise

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

    def _flagged(self, flags: tuple[tuple[str, str], ...]) -> None:
        """Say in the transcript what the call left unanswered (paradata flags, not heard)."""
        self.flags.extend(flags)
        for key, flag in flags:
            if flag == FREE_TEXT_SKIPPED:
                why = "free text is not asked by a call that does not record"
            elif flag == NO_ANSWER:
                why = "given up after silence or wrong keys"
            else:
                why = "the keypad cannot answer it"
            self.write(self.style(f"({key} left not answered: {why}; flag {flag})", "note"))

    # -------------------------------------------------------------- commands

    def _command(self, text: str) -> None:
        name = text.partition(" ")[0].lower()
        if name in ("help", "h", "?"):
            self.write(CALL_HELP)
        elif name == "quit":
            self.write(self.style("(you hung up: the interview stays a partial to resume)", "note"))
            raise _Quit
        elif name in _NOT_ON_A_CALL:
            self.write(
                self.style(
                    f"! :{name} is not something a caller can do: {_NOT_ON_A_CALL[name]}", "error"
                )
            )
        else:
            super()._command(text)
