"""An automated call as events and actions: one flow for the webhooks, the tests and the terminal.

A call is asked one prompt at a time, and between two prompts the server
forgets everything: Twilio posts the keys to a webhook, which must find where
the call stood, decide what to say next and answer within seconds. So the
call's progress through a step is plain data, :class:`FlowState` (JSON in the
store, keyed by the call), and moving it on is a pure function of that state,
the engine's step and one event:

* :meth:`CallFlow.show`: a step to ask (the call's first, or the one after a
  submit was accepted, or the current one again after a stale answer);
* :meth:`CallFlow.keys`: what the caller keyed (``None``: silence);
* :meth:`CallFlow.recorded`: a recording finished (free text, where the study records);
* :meth:`CallFlow.rejected`: the engine did not accept the step's answers.

Each returns the new state and one action: :class:`Ask` a prompt (again, with
words said first), :class:`Inform` (say the step's words, then come back with
no keys), :class:`Submit` the step's answers to the interview, :class:`Finish`
(the interview's end: its words, then hang up) or :class:`Goodbye` (end the
call politely before the end; the interview stays a partial to resume).

The plan of a step is made again from the step and the state on every event
(:func:`~instrument.ivr.prompts.plan_step` is deterministic in what was
announced and the engine's problems, both kept in the state), so the state
holds no wording. No I/O, no clock, no web or telephony library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from instrument.engine import Problem, Step
from instrument.ivr.prompts import IvrSettings, Prompt, Say, StepPlan, plan_step
from instrument.ivr.reading import (
    NOT_ANSWERED,
    after_failure,
    answers_for,
    next_prompt,
    read_back_prompt,
    read_keys,
)
from instrument.stepflow import StepFlow, StepState, Submit, decode_value, encode_value

__all__ = [
    "Action",
    "Ask",
    "CallFlow",
    "Finish",
    "FlowState",
    "Goodbye",
    "Inform",
    "NO_ANSWER",
    "Phase",
    "Submit",
    "said",
]

Phase = Literal["new", "ask", "inform", "submit", "ended"]
"""Where the call stands in its step: nothing shown yet, asking a prompt, saying an information
step, waiting for the interview to take a submit, or ended (finished or said goodbye)."""

NO_ANSWER = "ivr_no_answer"
"""Paradata flag: a prompt given up on after silence or invalid keys (left not answered)."""


@dataclass(frozen=True)
class FlowState(StepState):
    """Where one call stands in one step: :class:`~instrument.stepflow.StepState`'s facts
    (the phase is one of :data:`Phase`) and the call's own.

    :param again: the prompt is being asked again (its whole wording, no introduction).
    :param before: said before it (why it is asked again).
    :param read_back: a number keyed and waiting for the caller's confirmation (encoded).
    :param refusals: the engine's refusals in a row of this step's answers (a number out of
        range, a hard check): counted like wrong keys, so a caller is not asked for ever.
    """

    again: bool = False
    before: tuple[str, ...] = ()
    read_back: Any = None
    refusals: int = 0


@dataclass(frozen=True)
class Ask:
    """Ask prompt ``index`` of ``plan`` (``prompt``: a read-back confirmation in its place)."""

    plan: StepPlan
    index: int
    again: bool = False
    before: tuple[str, ...] = ()
    prompt: Prompt | None = None
    kind: Literal["ask"] = "ask"

    @property
    def asked(self) -> Prompt:
        return self.prompt or self.plan.prompts[self.index]

    @property
    def lead(self) -> tuple[str, ...]:
        """Said before the prompt, with no keys taken yet: the step's introduction when this is
        its first prompt asked afresh, then :attr:`before` (why it is asked again)."""
        first = self.index == next(i for i, p in enumerate(self.plan.prompts) if p.entry != "none")
        intro = self.plan.intro if first and not self.again and self.prompt is None else ()
        return (*intro, *self.before)

    @property
    def words(self) -> tuple[str, ...]:
        """The prompt's own words (a caller may key while they are said): all of them again
        when it is asked again."""
        return self.asked.repeat_says if self.again else self.asked.says


@dataclass(frozen=True)
class Inform:
    """Say the step's words (it asks nothing), then come back with no keys to go on."""

    plan: StepPlan
    kind: Literal["inform"] = "inform"


@dataclass(frozen=True)
class Finish:
    """The interview's end: say its closing words, then hang up."""

    plan: StepPlan
    kind: Literal["finish"] = "finish"


@dataclass(frozen=True)
class Goodbye:
    """End the call politely before the end (nothing heard); the interview stays a partial."""

    words: tuple[str, ...]
    language: str
    kind: Literal["goodbye"] = "goodbye"


Action = Ask | Inform | Submit | Finish | Goodbye


def said(action: Action) -> tuple[str, ...]:
    """Everything the call says for ``action``, in order (a submit says nothing).

    The one reading of an action's words, so the terminal (``instrument try --mode ivr``) says
    what the TwiML of the webhooks says; ``tests/test_ivr_flow_said.py`` holds the two together.
    """
    if isinstance(action, Ask):
        return (*action.lead, *action.words)
    if isinstance(action, Inform | Finish):
        return action.plan.intro
    if isinstance(action, Goodbye):
        return action.words
    return ()


def _given_up(value: Any) -> bool:
    return isinstance(value, str) and value == NOT_ANSWERED


@dataclass(frozen=True)
class CallFlow(StepFlow[FlowState, "Ask | Inform | Finish | Goodbye"]):
    """The flow of one questionnaire's calls in one language: the call's words and settings."""

    say: Say
    settings: IvrSettings = IvrSettings()

    # ------------------------------------------------------------------ events

    def plan(self, state: FlowState, step: Step) -> StepPlan:
        """The plan of ``step`` as ``state`` had it made."""
        return plan_step(
            step,
            self.say,
            settings=self.settings,
            announced=state.announced_before,
            problems=state.problem_list(),
        )

    def show(
        self,
        state: FlowState,
        step: Step,
        *,
        revision: int = 0,
        problems: Sequence[Problem] = (),
    ) -> tuple[FlowState, Action]:
        """Begin asking ``step`` (the first prompt; what was announced this call carries on).

        :param problems: the engine's problems of the step's last submit (see :meth:`rejected`).
        """
        errors = any(p.kind == "error" for p in problems) and state.token == step.token
        fresh = state.begin(
            step, revision=revision, problems=problems, refusals=state.refusals if errors else 0
        )
        plan = self.plan(fresh, step)
        fresh = replace(fresh, announced=tuple(sorted(plan.announced)))
        if plan.end:
            return replace(fresh, phase="ended"), Finish(plan)
        if not plan.prompts:
            return replace(fresh, phase="inform"), Inform(plan)
        return self._advance(fresh, step, plan)

    def rejected(
        self, state: FlowState, step: Step, problems: Sequence[Problem], *, revision: int
    ) -> tuple[FlowState, Action]:
        """The engine did not take the step's answers: ask again, its problems spoken.

        Unless the error is on a question the caller gave up on (silent or wrong keys until the
        re-prompts ran out) or one the call does not ask (free text): asking again would go
        round for ever, so the call ends politely and the interview stays a partial to resume.
        """
        given_up = {key for key, flag in state.flags if flag == NO_ANSWER}
        plan = self.plan(state, step)
        # A question the call does not ask (free text) cannot be put right by the caller either.
        given_up |= {prompt.key for prompt in plan.prompts if prompt.kind == "skipped"}
        refused = [p.key for p in problems if p.kind == "error"]
        if any(key in given_up for key in refused):
            return replace(state, phase="ended"), self._goodbye(plan)
        if not refused or state.token != step.token:
            return self.show(state, step, revision=revision, problems=problems)
        counted = replace(state, refusals=state.refusals + 1)
        move = after_failure(counted.refusals, self.settings)
        if move == "again":
            return self.show(counted, step, revision=revision, problems=problems)
        if move == "end" or counted.submitted is None:
            return replace(counted, phase="ended"), self._goodbye(plan)
        # skip: the refused answers are not answered (and flagged); the rest stand. A question
        # that must be answered is refused again, and then ends the call as given up on.
        answers = {k: decode_value(v) for k, v in counted.submitted.items()}
        answers.update(dict.fromkeys(refused, NOT_ANSWERED))
        flags = tuple(f for f in counted.flags if f[0] not in refused)
        flags += tuple((key, NO_ANSWER) for key in dict.fromkeys(refused))
        return self._submit(replace(counted, revision=revision), plan, answers, flags)

    def keys(self, state: FlowState, step: Step, digits: str | None) -> tuple[FlowState, Action]:
        """What the caller keyed for the prompt asked (``None`` or empty: silence)."""
        if state.phase == "new" or state.token != step.token:
            return self.show(state, step, revision=state.revision)
        plan = self.plan(state, step)
        if state.phase == "ended":
            return state, Finish(plan) if plan.end else self._goodbye(plan)
        if state.phase == "inform":
            return replace(state, phase="submit"), Submit(plan, {})
        if state.phase == "submit":  # the submit was never answered: make it again
            return self._complete(state, step, plan)
        assert state.index is not None
        prompt = plan.prompts[state.index]
        if state.read_back is not None:
            return self._confirm(state, step, plan, prompt, digits)
        if prompt.entry == "recording":  # keys instead of a recording: nothing was said
            return self._failed(state, step, plan, self.say("silent"))
        reading = read_keys(prompt, digits, self.say)
        if reading.status == "repeat":
            return replace(state, again=True, before=()), Ask(plan, state.index, again=True)
        if reading.failed:
            return self._failed(state, step, plan, reading.message or "")
        if prompt.kind == "number" and prompt.read_back:
            check = read_back_prompt(prompt, reading.value, self.say)
            waiting = replace(state, read_back=encode_value(reading.value), again=False, before=())
            return waiting, Ask(plan, state.index, prompt=check)
        return self._keep(state, step, plan, reading.value)

    def recorded(self, state: FlowState, step: Step, reference: str) -> tuple[FlowState, Action]:
        """A recording ended: ``reference`` (the provider's id of it) answers the free text."""
        if state.phase != "ask" or state.token != step.token:
            return self.keys(state, step, None)
        plan = self.plan(state, step)
        assert state.index is not None
        if plan.prompts[state.index].entry != "recording":
            return self.keys(state, step, None)
        if not reference:
            return self._failed(state, step, plan, self.say("silent"))
        return self._keep(state, step, plan, reference)

    # ------------------------------------------------------------------ moves

    def _confirm(
        self, state: FlowState, step: Step, plan: StepPlan, prompt: Prompt, digits: str | None
    ) -> tuple[FlowState, Action]:
        """The caller's answer to a number read back: 1 keeps it, 2 keys it again."""
        assert state.index is not None
        value = decode_value(state.read_back)
        check = read_back_prompt(prompt, value, self.say)
        reading = read_keys(check, digits, self.say)
        if reading.status == "answer" and reading.value is True:
            return self._keep(replace(state, read_back=None), step, plan, value)
        if reading.status == "answer":  # 2: key it again
            again = replace(state, read_back=None, again=True, before=())
            return again, Ask(plan, state.index, again=True)
        before = (reading.message,) if reading.message else ()
        return replace(state, before=before), Ask(plan, state.index, before=before, prompt=check)

    def _failed(
        self, state: FlowState, step: Step, plan: StepPlan, message: str
    ) -> tuple[FlowState, Action]:
        """A silent or invalid entry: ask again, or give up as the settings say."""
        assert state.index is not None
        failures = state.failures + 1
        move = after_failure(failures, self.settings)
        if move == "end":
            return replace(state, phase="ended", failures=failures), self._goodbye(plan)
        if move == "again":
            before = (message,) if message else ()
            asked = replace(state, failures=failures, again=True, before=before, read_back=None)
            return asked, Ask(plan, state.index, again=True, before=before)
        return self._keep(state, step, plan, NOT_ANSWERED)

    def _advance(self, state: FlowState, step: Step, plan: StepPlan) -> tuple[FlowState, Action]:
        """On to the next prompt of the step, or submit the step when none is left."""
        index = next_prompt(plan, state.keyed())
        if index is None:
            return self._complete(state, step, plan)
        moved = replace(state, index=index, again=False, before=(), failures=0, read_back=None)
        return moved, Ask(plan, index)

    def _complete(self, state: FlowState, step: Step, plan: StepPlan) -> tuple[FlowState, Action]:
        """Every prompt answered (or given up): the step's answers, or the soft checks' choice."""
        values = state.keyed()
        if plan.prompts and plan.prompts[0].kind == "check":
            return self._after_checks(state, step, plan, kept=values.get(0) is True)
        answers = answers_for(plan, values)
        flags = tuple((p.key, p.flag) for p in plan.prompts if p.flag) + tuple(
            (p.key, NO_ANSWER)
            for i, p in enumerate(plan.prompts)
            if p.flag is None and _given_up(values.get(i))
        )
        return self._submit(state, plan, answers, flags)

    def _goodbye(self, plan: StepPlan) -> Goodbye:
        return Goodbye((self.say("goodbye_no_answer"),), plan.language)
