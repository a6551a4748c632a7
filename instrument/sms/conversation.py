"""A text-message interview as events and actions: one question per message.

Between two texts the server forgets everything, as between two turns of an
automated call, so where a conversation stands in a step is plain data,
:class:`SmsState` (JSON in the store, with the conversation), and moving it on
is a pure function of that state, the engine's step and one event:

* :meth:`SmsFlow.show`: a step to ask (the first, the next after a save, the
  current one again after a stale answer or from another device);
* :meth:`SmsFlow.reply`: the respondent's text;
* :meth:`SmsFlow.rejected`: the engine did not take the step's answers.

Each returns the new state and one action: :class:`Send` a message (a
question), :class:`Submit` the step's answers, or :class:`Finish` (the end's
words; the interview is complete). A step that asks nothing (information) is
submitted at once and its words go in front of the next message. A reply
that does not fit is answered with what was expected and the question again,
up to :attr:`SmsSettings.reprompts` times; then the question is left not
answered (flagged ``sms_no_answer`` for paradata) and the conversation goes on.

The plan is made again from the step and the state on every event
(:func:`~instrument.sms.messages.plan_step` is deterministic in what was
announced and the engine's problems, both kept in the state). No I/O, no
clock, no web or telephony library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from instrument.engine import Problem, Step
from instrument.sms.messages import Say, SmsPlan, message_text, plan_step
from instrument.sms.replies import read_reply
from instrument.stepflow import StepFlow, StepState, Submit

__all__ = [
    "NO_ANSWER",
    "NOT_ANSWERED",
    "Finish",
    "Send",
    "SmsAction",
    "SmsFlow",
    "SmsSettings",
    "SmsState",
    "Submit",
]

NO_ANSWER = "sms_no_answer"
"""Paradata flag: a question given up on after replies that did not fit (left not answered)."""
NOT_ANSWERED = ""
"""What the engine takes for a question left empty: it stores the not-answered code."""

Phase = Literal["new", "ask", "submit", "ended"]


@dataclass(frozen=True)
class SmsSettings:
    """How a study's text interviews ask.

    :param reprompts: how many times a question whose reply did not fit is asked
        again before it is left not answered.
    """

    reprompts: int = 2

    def __post_init__(self) -> None:
        if self.reprompts < 0:
            raise ValueError("SmsSettings.reprompts must be 0 or more")


@dataclass(frozen=True)
class SmsState(StepState):
    """Where one conversation stands in one step: :class:`~instrument.stepflow.StepState`'s
    facts (the phase is one of :data:`Phase`) and the conversation's own.

    :param carry: words to send in front of the next message (information steps).
    """

    carry: tuple[str, ...] = ()


@dataclass(frozen=True)
class Send:
    """Send ``text``: a question (``index`` of ``plan``)."""

    text: str
    plan: SmsPlan
    index: int
    kind: Literal["send"] = "send"


@dataclass(frozen=True)
class Finish:
    """The interview's end: ``text`` is its closing words (may be empty)."""

    text: str
    plan: SmsPlan
    kind: Literal["finish"] = "finish"


SmsAction = Send | Submit | Finish


@dataclass(frozen=True)
class SmsFlow(StepFlow[SmsState, "Send | Finish"]):
    """The flow of one questionnaire's text interviews in one language."""

    say: Say
    settings: SmsSettings = SmsSettings()

    def plan(self, state: SmsState, step: Step) -> SmsPlan:
        """The plan of ``step`` as ``state`` had it made."""
        return plan_step(
            step, self.say, announced=state.announced_before, problems=state.problem_list()
        )

    def show(
        self, state: SmsState, step: Step, *, revision: int = 0, problems: Sequence[Problem] = ()
    ) -> tuple[SmsState, SmsAction]:
        """Begin asking ``step``: its first question (information goes with it)."""
        fresh = state.begin(step, revision=revision, problems=problems, carry=state.carry)
        plan = self.plan(fresh, step)
        fresh = replace(fresh, announced=tuple(sorted(plan.announced)))
        if plan.end:
            text = message_text([*fresh.carry, *plan.intro])
            return replace(fresh, phase="ended", carry=()), Finish(text, plan)
        if not any(q.kind != "skipped" for q in plan.questions):
            # information only (or nothing a text can ask): on, its words with the next message
            carried = replace(fresh, carry=(*fresh.carry, *plan.intro))
            return self._complete(carried, step, plan)
        return self._advance(replace(fresh, carry=(*fresh.carry, *plan.intro)), step, plan)

    def again(self, state: SmsState, step: Step, before: Sequence[str] = ()) -> SmsAction:
        """The question being asked, whole, with ``before`` in front (START, welcome back)."""
        plan = self.plan(state, step)
        if state.phase != "ask" or state.index is None:
            return Finish(message_text([*before, *plan.intro]), plan)
        asked = plan.questions[state.index]
        return Send(message_text([*before, asked.again]), plan, state.index)

    def reply(self, state: SmsState, step: Step, body: str) -> tuple[SmsState, SmsAction]:
        """The respondent's reply to the question asked."""
        if state.phase == "new" or state.token != step.token:
            return self.show(state, step, revision=state.revision)
        plan = self.plan(state, step)
        if state.phase == "ended":
            return state, Finish(message_text(plan.intro), plan)
        if state.phase == "submit":  # the submit was never answered: make it again
            return self._complete(state, step, plan)
        assert state.index is not None
        question = plan.questions[state.index]
        reading = read_reply(question, body, self.say)
        if reading.status == "help":
            return state, Send(question.again, plan, state.index)
        if reading.status == "invalid":
            failures = state.failures + 1
            if failures <= self.settings.reprompts:
                text = message_text([reading.message or "", question.again])
                return replace(state, failures=failures), Send(text, plan, state.index)
            return self._keep(state, step, plan, NOT_ANSWERED)
        return self._keep(state, step, plan, reading.value)

    # ------------------------------------------------------------------ moves

    def _advance(self, state: SmsState, step: Step, plan: SmsPlan) -> tuple[SmsState, SmsAction]:
        """On to the next question of the step, or submit the step when none is left."""
        read = state.keyed()
        index = next(
            (i for i, q in enumerate(plan.questions) if i not in read and q.kind != "skipped"),
            None,
        )
        if index is None:
            return self._complete(state, step, plan)
        asked = plan.questions[index]
        text = message_text([*state.carry, asked.text])
        moved = replace(state, index=index, failures=0, carry=())
        return moved, Send(text, plan, index)

    def _complete(self, state: SmsState, step: Step, plan: SmsPlan) -> tuple[SmsState, SmsAction]:
        """Every question read (or given up): the step's answers, or the soft checks' choice."""
        read = state.keyed()
        if plan.questions and plan.questions[0].kind == "check":
            return self._after_checks(state, step, plan, kept=read.get(0) == 1)
        answers: dict[str, Any] = {}
        flags: list[tuple[str, str]] = []
        for index, question in enumerate(plan.questions):
            value = read.get(index, NOT_ANSWERED)
            if question.flag:
                flags.append((question.key, question.flag))
            elif isinstance(value, str) and value == NOT_ANSWERED:
                flags.append((question.key, NO_ANSWER))
            answers[question.key] = value
        return self._submit(state, plan, answers, tuple(flags))
