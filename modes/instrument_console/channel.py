"""What the terminal's automated channels share: a call and a text conversation played in it.

Both run a piece-by-piece flow over the engine (:mod:`instrument.stepflow`): the step shown,
the flow's submits handed to the engine, its rejections shown again, only going forward; they
end early when the respondent stops (``:quit`` or the end of input) and leave some questions
not answered with a paradata flag. :class:`ChannelSession` holds that once; a channel gives its
flow, what it does with the flow's other actions (:meth:`ChannelSession._carry_out`: say them
and hear keys, send them and read the reply), its help text, who its respondent is (a caller,
a texter), what its ``:quit`` note says and why each of its flags leaves a question unanswered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from instrument.engine import Step
from instrument.stepflow import StepFlow
from instrument_console.session import ConsoleSession, _Quit

__all__ = ["ChannelSession"]


class ChannelSession(ConsoleSession):
    """A console session played as a channel a machine runs, going only forward."""

    HELP: ClassVar[str] = ""
    """The channel's ``:help`` text."""
    WHO: ClassVar[str] = "a respondent"
    """Who answers on the channel, in ``! :back is not something <who> can do``."""
    NOT_OFFERED: ClassVar[Mapping[str, str]] = {}
    """Console commands the channel cannot do, each with why."""
    QUIT_NOTE: ClassVar[str] = "(you stopped: the interview stays a partial)"
    FLAG_WHY: ClassVar[Mapping[str, str]] = {}
    """Why a question flagged so was left not answered, by flag."""
    OTHER_FLAG: ClassVar[str | None] = None
    """Why for any other flag (None: the flag itself)."""

    flow: StepFlow[Any, Any]
    """The channel's flow: :class:`~instrument.ivr.flow.CallFlow`,
    :class:`~instrument.sms.conversation.SmsFlow`."""
    flow_state: Any
    """Where the flow stands in the current step (its state), kept between steps."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flags: list[tuple[str, str]] = []  # every step's paradata flags, in order
        self.left = False  # the channel ended before the interview's end (a partial)

    def _page(self) -> None:
        """Run the current step until the interview takes its answers (or the channel ends)."""
        step = self._step()
        state, action = self.flow.show(self.flow_state, step)
        while True:
            self.flow_state = state
            if action.kind == "submit":
                result = self._submitted(step, action.answers, action.confirm)
                if result.accepted:
                    self._flagged(action.flags)
                    return
                step = self._step()
                state, action = self.flow.rejected(state, step, result.problems, revision=0)
                continue
            if action.kind == "finish":  # the end is the channel's _ending
                return
            state, action = self._carry_out(state, step, action)

    def _carry_out(self, state: Any, step: Step, action: Any) -> tuple[Any, Any]:
        """The channel's own action (ask, say, send), then the flow's next state and action."""
        raise NotImplementedError

    def _read(self, prompt: str) -> str:
        try:
            return super()._read(prompt)
        except _Quit:  # :quit or the end of input: the respondent is gone
            self.left = True
            raise

    def _flagged(self, flags: tuple[tuple[str, str], ...]) -> None:
        """Say in the transcript what the channel left unanswered (paradata flags, not heard)."""
        self.flags.extend(flags)
        for key, flag in flags:
            why = self.FLAG_WHY.get(flag, self.OTHER_FLAG or flag)
            self.write(self.style(f"({key} left not answered: {why}; flag {flag})", "note"))

    def _command(self, text: str) -> None:
        name = text.partition(" ")[0].lower()
        if name in ("help", "h", "?"):
            self.write(self.HELP)
        elif name == "quit":
            self.write(self.style(self.QUIT_NOTE, "note"))
            raise _Quit
        elif name in self.NOT_OFFERED:
            self.write(
                self.style(
                    f"! :{name} is not something {self.WHO} can do: {self.NOT_OFFERED[name]}",
                    "error",
                )
            )
        else:
            super()._command(text)
