"""Submitting a step asked piece by piece, and deciding what the respondent hears or reads next.

An automated call and a text conversation both reach a point where their flow
(:class:`~instrument.stepflow.StepFlow`) says "submit these answers". What
follows is the same for both and is the interview service's business: save
them with compare-and-set on the revision the step was shown at, keyed so a
retried webhook stores nothing twice; then ask the next step (saved), the same
step with the engine's problems (rejected), the step the interview is on now
(replayed, stale: another device moved it on) or stop (unavailable). A step
that asks nothing (information) is submitted at once and the loop goes on, up
to :data:`MAX_SUBMITS` in a row.

:func:`carry_out_submits` is that loop, once, so the two channels cannot come
to treat an outcome differently; each channel turns the action it ends with
into its own words (TwiML ``<Say>``, a text message).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from instrument.engine import Problem
from instrument.interviews.outcomes import Answers, Seen
from instrument.stepflow import StepFlow, StepState, Submit

if TYPE_CHECKING:
    from instrument.interviews.service import InterviewService

__all__ = ["MAX_SUBMITS", "Stepped", "carry_out_submits"]

MAX_SUBMITS = 8
"""Submits in a row one turn may make (information steps following one another)."""

S = TypeVar("S", bound=StepState)


@dataclass(frozen=True)
class Stepped(Generic[S]):
    """Where a turn ended.

    :param state: the flow's state to keep.
    :param action: the flow's action to carry out (ask, send, finish, goodbye); ``None``
        when the interview is no longer available or steps that ask nothing kept
        following one another (:attr:`unavailable` tells which).
    """

    state: S
    action: Any
    unavailable: bool = False


def carry_out_submits(
    service: InterviewService,
    flow: StepFlow[S, Any],
    interview_id: str,
    state: S,
    action: Any,
    *,
    mode: str,
    actor: str,
    clock: Callable[[], dt.datetime],
    key: Callable[[int], str],
    client: Callable[[S, Submit], Mapping[str, str]],
) -> Stepped[S]:
    """Carry out ``action`` and the submits that follow until the flow asks or ends.

    :param key: the idempotency key of the turn's ``n``-th submit (a retried webhook
        makes the same keys, so the service replays instead of saving again).
    :param client: what the channel records with the submit (its paradata flags).
    """
    for number in range(MAX_SUBMITS):
        if not isinstance(action, Submit):
            return Stepped(state, action)
        submit = action
        seen = Seen(revision=state.revision, token=state.token or "", key=key(number))

        def read(_step: Any, submit: Submit = submit) -> Answers:
            return Answers(submit.answers, confirmed=True if submit.confirm else ())

        outcome = service.answer(
            interview_id,
            seen,
            read,
            mode=mode,
            actor=actor,
            now=clock(),
            client={"channel": mode, **client(state, submit)},
            show_next=True,
        )
        if outcome.kind == "saved" and outcome.step is not None:
            state, action = flow.show(state, outcome.step, revision=outcome.interview.revision)
        elif outcome.kind == "rejected":
            problems: list[Problem] = [*outcome.errors, *outcome.warnings, *outcome.prompts]
            state, action = flow.rejected(
                state, outcome.step, problems, revision=outcome.interview.revision
            )
        elif outcome.kind == "unavailable":
            return Stepped(state, None, unavailable=True)
        else:  # replayed or stale: ask the step the interview is on now
            shown = service.show(interview_id, mode=mode, actor=actor, now=clock())
            if shown.kind != "shown":
                return Stepped(state, None, unavailable=True)
            state, action = flow.show(state, shown.step, revision=shown.interview.revision)
    return Stepped(state, None)
