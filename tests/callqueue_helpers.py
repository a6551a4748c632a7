"""Shared set-up for the call-queue service tests: a store, the interview service, cases in the queue."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from instrument.callqueue import CallQueue, Claimed, Coded
from instrument.fieldwork.settings import FieldworkSettings
from instrument.interviews import Answers, InterviewService, Seen, Shown, Surveys
from instrument.loader import require_questionnaire
from instrument.store import Store

ROOT = Path(__file__).resolve().parent.parent
MINI = ROOT / "tests" / "data" / "mini.yaml"
T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)  # Monday 10:00 in London (GMT)
NAME = "Ann Example-Sample"
NUMBER = "+442071234567"


def queue_on(store: Store, settings: FieldworkSettings | None = None) -> CallQueue:
    """The call queue over the interview service serving tests/data/mini.yaml."""
    service = InterviewService(store, Surveys.serve(store, [require_questionnaire(MINI)]))
    chosen = settings or FieldworkSettings()
    return CallQueue(store, service, lambda _questionnaire_id: chosen)


def add_case(
    store: Store,
    case_id: str,
    *,
    numbers: tuple[str, ...] = (NUMBER,),
    zone: str = "Europe/London",
    priority: int = 0,
    now: dt.datetime = T0,
    taken_by: str = "interviewer",
    language: str = "en",
) -> None:
    """A stored case with a name and numbers, queued with no window yet (the service works it out),
    for interviewers or (``taken_by="automated"``) for the automated dialler, in ``language``."""
    store.put_case(case_id, "mini", {"region": 1}, now=now)
    store.set_contact(case_id, name=NAME, now=now)
    store.set_phone_numbers(case_id, numbers, now)
    store.enqueue_case(
        case_id,
        zone=zone,
        language=language,
        priority=priority,
        window=None,
        now=now,
        taken_by=taken_by,
    )


def answer_first_page(
    service: InterviewService,
    interview_id: str,
    values: dict[str, Any],
    *,
    mode: str,
    actor: str,
    now: dt.datetime,
    key: str,
) -> Any:
    """Answer the page the interview is on, as a mode does."""
    shown = service.show(interview_id, mode=mode, actor=actor, now=now)
    assert isinstance(shown, Shown), shown
    seen = Seen(revision=shown.interview.revision, token=shown.step.token, key=key, shown_at=now)
    return service.answer(
        interview_id, seen, lambda _step: Answers(values), mode=mode, actor=actor, now=now
    )  # fmt: skip


def claim(queue: CallQueue, who: str, now: dt.datetime) -> Claimed:
    """ "Next case" that must hand a case out."""
    claimed = queue.next_case(who, now=now)
    assert isinstance(claimed, Claimed), claimed
    return claimed


def run_all(targets: list[Callable[[], object]]) -> list[BaseException]:
    """Start every callable at the same moment (one thread each); the errors they raised."""
    barrier = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def wrapped(target: Callable[[], object]) -> None:
        try:
            barrier.wait()
            target()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def dial_and_code(
    queue: CallQueue, who: str, disposition: str, now: dt.datetime, *, note: str | None = None
) -> Coded:
    """Take the next case, dial its first number by hand and code the call five minutes later."""
    claimed = claim(queue, who, now)
    assert queue.place_call(claimed.attempt_id, 1, dialer=None, now=now).kind == "placed"
    coded = queue.code_outcome(
        claimed.attempt_id, disposition=disposition, note=note, actor=who,
        now=now + dt.timedelta(minutes=5),
    )  # fmt: skip
    assert isinstance(coded, Coded), coded
    return coded
