"""A step asked one piece at a time over a channel that forgets: what automated calls and texts share.

An automated call asks a step prompt by prompt and a text interview question
by question; between two turns the server keeps nothing in memory, so where
the respondent stands inside the step is plain data stored with the call or
the conversation. Both channels keep the same facts about that place (the
engine's page visit and revision, what was announced, the engine's problems,
what was taken so far, the answers last submitted, paradata flags) and make
the same moves with them (begin a step, keep a value, submit the step, keep
or change after soft checks). They live here once:

* :class:`StepState`: the shared facts, with one JSON layout for every
  subclass (a channel adds its own fields: the call's read-back, the text's
  carried words);
* :class:`Submit`: the action "submit these answers to the interview";
* :class:`StepFlow`: the moves both flows make, over the channel's own plan
  and wording (:class:`~instrument.ivr.flow.CallFlow`,
  :class:`~instrument.sms.conversation.SmsFlow`).

Pure: no I/O, no clock, no web or telephony library. The interview service's
side of a submit (saving, what comes next) is
:func:`instrument.interviews.stepwise.carry_out_submits`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar

from instrument.engine import Problem, Step
from instrument.values import DK, REFUSED

__all__ = [
    "StepFlow",
    "StepState",
    "Submit",
    "decode_value",
    "encode_value",
]

_MISSING = "__ivr_missing__"  # the marker's name is kept: states already stored carry it


def encode_value(value: Any) -> Any:
    """A taken value or an answer as JSON: don't know and refused as markers, tuples as lists."""
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


def _listed(value: Any) -> Any:
    return [_listed(v) for v in value] if isinstance(value, tuple) else value


def _tupled(value: Any) -> Any:
    return tuple(_tupled(v) for v in value) if isinstance(value, list) else value


@dataclass(frozen=True)
class StepState:
    """Where one respondent stands inside one step, as plain data (JSON in the store).

    :param phase: ``new`` (nothing shown yet), ``ask``, ``submit`` (waiting for the
        interview to take the step's answers), ``ended``; a channel may add its own.
    :param token: the engine's page visit the state is for (``Step.token``).
    :param revision: the interview's revision that step was shown at (the
        service's ``Seen``; the flow only carries it).
    :param announced_before: what was announced before this step's plan (what the
        plan was made with); ``announced``: after it.
    :param problems: the engine's errors and warnings of the step's last submit,
        as :meth:`Problem.as_row` rows.
    :param values: what was taken so far, by the plan's index (encoded).
    :param index: the piece being asked; ``failures``: entries in a row that did not fit it.
    :param submitted: the answers last submitted (encoded): a soft check kept
        submits them again, confirmed.
    :param flags: ``(key, flag)`` for paradata.
    """

    FORMAT: ClassVar[int] = 1
    """The version of :meth:`to_json`'s layout; a state of another version starts afresh."""

    phase: str = "new"
    token: str | None = None
    revision: int = 0
    announced_before: tuple[str, ...] = ()
    announced: tuple[str, ...] = ()
    problems: tuple[tuple[str, str, str, str], ...] = ()
    values: Mapping[str, Any] = field(default_factory=dict)
    index: int | None = None
    failures: int = 0
    submitted: Mapping[str, Any] | None = None
    flags: tuple[tuple[str, str], ...] = ()

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> dict[str, Any]:
        """The state as JSON-ready data: every field by name, tuples as lists."""
        data: dict[str, Any] = {"format": self.FORMAT}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            data[f.name] = dict(value) if isinstance(value, Mapping) else _listed(value)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Self:
        """A state from :meth:`to_json`'s data; an empty or unknown one starts afresh.

        Each field is read back as its default's kind says (tuples, whole numbers,
        flags), so a subclass's fields need no code of their own.
        """
        if not data or data.get("format") != cls.FORMAT:
            return cls()
        read: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:  # a field added since the state was kept: its default
                continue
            value = data[f.name]
            default = f.default
            if isinstance(default, tuple):
                value = _tupled(value)
            elif isinstance(default, bool):
                value = bool(value)
            elif isinstance(default, int):
                value = int(value)
            elif f.default_factory is dict:  # type: ignore[comparison-overlap]
                value = dict(value)
            read[f.name] = value
        return cls(**read)

    # ------------------------------------------------------------------ reading

    def keyed(self) -> dict[int, Any]:
        """The values taken so far, decoded, by the plan's index."""
        return {int(i): decode_value(v) for i, v in self.values.items()}

    def problem_list(self) -> list[Problem]:
        """The engine's problems the state was made with."""
        return [Problem.from_row(row) for row in self.problems]

    # ------------------------------------------------------------------ moves

    def begin(self, step: Step, *, revision: int, problems: Sequence[Problem], **kept: Any) -> Self:
        """A fresh state asking ``step``: what was announced carries on; ``kept``: a
        channel's own fields carried over. The answers last submitted stay only when the
        same step comes back with the engine's problems (the soft checks may keep them)."""
        return type(self)(
            phase="ask",
            token=step.token,
            revision=revision,
            announced_before=self.announced,
            announced=self.announced,
            problems=tuple(p.as_row() for p in problems),
            submitted=self.submitted if problems and self.token == step.token else None,
            **kept,
        )

    def taking(self, value: Any) -> Self:
        """``value`` taken for the piece being asked."""
        assert self.index is not None
        return replace(self, values={**self.values, str(self.index): encode_value(value)})


@dataclass(frozen=True)
class Submit:
    """Submit the step's answers to the interview.

    :param plan: the channel's plan of the step.
    :param confirm: True when the respondent kept the soft checks (the same answers again).
    :param flags: ``(key, flag)`` of the step for paradata.
    """

    plan: Any
    answers: Mapping[str, Any]
    confirm: bool = False
    flags: tuple[tuple[str, str], ...] = ()
    kind: Literal["submit"] = "submit"


S = TypeVar("S", bound=StepState)
A = TypeVar("A")


class StepFlow(Generic[S, A]):
    """The moves a piece-by-piece flow makes the same way whatever the channel.

    A subclass gives :meth:`show` (ask a step: the channel's plan and first words)
    and :meth:`_advance` (the next piece, or the step's submit); the rest is here.
    """

    def show(
        self, state: S, step: Step, *, revision: int = 0, problems: Sequence[Problem] = ()
    ) -> tuple[S, A | Submit]:
        raise NotImplementedError

    def _advance(self, state: S, step: Step, plan: Any) -> tuple[S, A | Submit]:
        raise NotImplementedError

    def rejected(
        self, state: S, step: Step, problems: Sequence[Problem], *, revision: int
    ) -> tuple[S, A | Submit]:
        """The engine did not take the step's answers: ask it again, its problems said first."""
        return self.show(state, step, revision=revision, problems=problems)

    def _keep(self, state: S, step: Step, plan: Any, value: Any) -> tuple[S, A | Submit]:
        """``value`` taken for the piece asked: on to the next."""
        return self._advance(state.taking(value), step, plan)

    def _after_checks(self, state: S, step: Step, plan: Any, kept: bool) -> tuple[S, A | Submit]:
        """The soft checks' choice: keep (the answers submitted again, confirmed) or change
        (the step's questions again, without the checks' words)."""
        if kept and state.submitted is not None:
            answers = {k: decode_value(v) for k, v in state.submitted.items()}
            return replace(state, phase="submit"), Submit(plan, answers, confirm=True)
        changed = replace(state, problems=(), announced=state.announced_before)
        return self.show(changed, step, revision=state.revision)

    @staticmethod
    def _submit(
        state: S, plan: Any, answers: Mapping[str, Any], flags: tuple[tuple[str, str], ...]
    ) -> tuple[S, Submit]:
        """Submit the step's answers, kept (encoded) for a soft check to confirm later."""
        submitted = {k: encode_value(v) for k, v in answers.items()}
        done = replace(state, phase="submit", submitted=submitted, flags=flags)
        return done, Submit(plan, answers, flags=flags)
