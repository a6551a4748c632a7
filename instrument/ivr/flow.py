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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
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
from instrument.values import DK, REFUSED

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
    "decode_value",
    "encode_value",
    "said",
]

Phase = Literal["new", "ask", "inform", "submit", "ended"]
"""Where the call stands in its step: nothing shown yet, asking a prompt, saying an information
step, waiting for the interview to take a submit, or ended (finished or said goodbye)."""

_MISSING = "__ivr_missing__"
NO_ANSWER = "ivr_no_answer"
"""Paradata flag: a prompt given up on after silence or invalid keys (left not answered)."""
FORMAT = 1
"""The version of :meth:`FlowState.to_json`'s layout; a state of another version is started afresh."""


def encode_value(value: Any) -> Any:
    """A keyed value or an answer as JSON: don't know and refused as markers, tuples as lists."""
    if value is DK:
        return {_MISSING: "dk"}
    if value is REFUSED:
        return {_MISSING: "refused"}
    if isinstance(value, tuple | list):
        return [encode_value(v) for v in value]
    return value


def decode_value(value: Any) -> Any:
    """The inverse of :func:`encode_value`."""
    if isinstance(value, dict) and _MISSING in value:
        return DK if value[_MISSING] == "dk" else REFUSED
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    return value


@dataclass(frozen=True)
class FlowState:
    """Where one call stands in one step: everything the next event needs, as plain data.

    :param token: the engine's page visit the state is for (``Step.token``).
    :param revision: the interview's revision that step was shown at (the
        webhooks' ``Seen``; the flow itself only carries it).
    :param announced_before: extra keys announced before this step's plan
        (what the plan was made with); ``announced``: after it.
    :param problems: the engine's errors and warnings of the last submit of
        this step, spoken by the plan (``(key, message, id, kind)``).
    :param values: what was keyed so far, by prompt index (encoded).
    :param index: the prompt being asked.
    :param again: it is being asked again (its whole wording, no introduction).
    :param before: said before it (why it is asked again).
    :param failures: silent or invalid entries in a row on it.
    :param read_back: a number keyed and waiting for the caller's confirmation.
    :param submitted: the answers last submitted for the step (encoded): a
        soft check kept by the caller submits them again, confirmed.
    :param flags: ``(key, flag)`` for paradata (free text skipped, ...).
    """

    phase: Phase = "new"
    token: str | None = None
    revision: int = 0
    announced_before: tuple[str, ...] = ()
    announced: tuple[str, ...] = ()
    problems: tuple[tuple[str, str, str, str], ...] = ()
    values: Mapping[str, Any] = field(default_factory=dict)
    index: int | None = None
    again: bool = False
    before: tuple[str, ...] = ()
    failures: int = 0
    read_back: Any = None
    submitted: Mapping[str, Any] | None = None
    flags: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The state as JSON-ready data (what the store keeps for a call)."""
        return {
            "format": FORMAT,
            "phase": self.phase,
            "token": self.token,
            "revision": self.revision,
            "announced_before": list(self.announced_before),
            "announced": list(self.announced),
            "problems": [list(p) for p in self.problems],
            "values": dict(self.values),
            "index": self.index,
            "again": self.again,
            "before": list(self.before),
            "failures": self.failures,
            "read_back": self.read_back,
            "submitted": dict(self.submitted) if self.submitted is not None else None,
            "flags": [list(f) for f in self.flags],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> FlowState:
        """A state from :meth:`to_json`'s data; an empty or unknown one starts afresh."""
        if not data or data.get("format") != FORMAT:
            return cls()
        return cls(
            phase=data["phase"],
            token=data["token"],
            revision=int(data["revision"]),
            announced_before=tuple(data["announced_before"]),
            announced=tuple(data["announced"]),
            problems=tuple((str(a), str(b), str(c), str(d)) for a, b, c, d in data["problems"]),
            values=dict(data["values"]),
            index=data["index"],
            again=bool(data["again"]),
            before=tuple(data["before"]),
            failures=int(data["failures"]),
            read_back=data["read_back"],
            submitted=data["submitted"],
            flags=tuple((str(k), str(f)) for k, f in data["flags"]),
        )

    def keyed(self) -> dict[int, Any]:
        """The values keyed so far, decoded, by prompt index."""
        return {int(i): decode_value(v) for i, v in self.values.items()}


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
class Submit:
    """Submit the step's answers to the interview.

    :param confirm: True when the caller kept the soft checks (the same answers again).
    :param flags: ``(key, flag)`` of the step for paradata.
    """

    plan: StepPlan
    answers: Mapping[str, Any]
    confirm: bool = False
    flags: tuple[tuple[str, str], ...] = ()
    kind: Literal["submit"] = "submit"


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


def _problems(problems: Sequence[Problem]) -> tuple[tuple[str, str, str, str], ...]:
    return tuple((p.key, p.message, p.id, p.kind) for p in problems)


@dataclass(frozen=True)
class CallFlow:
    """The flow of one questionnaire's calls in one language: the call's words and settings."""

    say: Say
    settings: IvrSettings = IvrSettings()

    # ------------------------------------------------------------------ events

    def plan(self, state: FlowState, step: Step) -> StepPlan:
        """The plan of ``step`` as ``state`` had it made."""
        problems = [Problem(k, m, i, d) for k, m, i, d in state.problems]  # type: ignore[arg-type]
        return plan_step(
            step,
            self.say,
            settings=self.settings,
            announced=state.announced_before,
            problems=problems,
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
        fresh = FlowState(
            phase="ask",
            token=step.token,
            revision=revision,
            announced_before=state.announced,
            announced=state.announced,
            problems=_problems(problems),
            submitted=state.submitted if problems and state.token == step.token else None,
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

        Unless the caller gave up on a question the engine requires (silent or wrong keys until
        the re-prompts ran out): asking it again would go round for ever, so the call ends
        politely and the interview stays a partial to resume.
        """
        given_up = {key for key, flag in state.flags if flag == NO_ANSWER}
        if any(p.kind == "error" and p.key in given_up for p in problems):
            return replace(state, phase="ended"), self._goodbye(self.plan(state, step))
        return self.show(state, step, revision=revision, problems=problems)

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

    def _keep(
        self, state: FlowState, step: Step, plan: StepPlan, value: Any
    ) -> tuple[FlowState, Action]:
        assert state.index is not None
        values = {**state.values, str(state.index): encode_value(value)}
        return self._advance(replace(state, values=values), step, plan)

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
            if values.get(0) is True and state.submitted is not None:
                answers = {k: decode_value(v) for k, v in state.submitted.items()}
                return replace(state, phase="submit"), Submit(plan, answers, confirm=True)
            # change: the questions again, without the checks' words
            changed = replace(state, problems=(), announced=state.announced_before)
            return self.show(changed, step, revision=state.revision)
        answers = answers_for(plan, values)
        flags = tuple((p.key, p.flag) for p in plan.prompts if p.flag) + tuple(
            (p.key, NO_ANSWER)
            for i, p in enumerate(plan.prompts)
            if p.flag is None and _given_up(values.get(i))
        )
        submitted = {k: encode_value(v) for k, v in answers.items()}
        done = replace(state, phase="submit", submitted=submitted, flags=flags)
        return done, Submit(plan, answers, flags=flags)

    def _goodbye(self, plan: StepPlan) -> Goodbye:
        return Goodbye((self.say("goodbye_no_answer"),), plan.language)
