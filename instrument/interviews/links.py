"""Cases and personal links: how a known person reaches their own interview.

A *case* is one sample unit for one questionnaire (a panel member in a wave,
a household in a sample); its pseudonymous id is all the answers ever carry.
What the study already knows about the case (its preload values: dependent
data such as the number of children in the panel profile) is stored with it,
and reaches the interview whatever mode starts it.

A *personal link* holds a random token (only its hash is stored) for a case or
an interview. Opening it starts the case's interview, with its preloads, or
resumes the one already started, on any device and in any mode that shows links.

This is part of :class:`~instrument.interviews.InterviewService` (a mixin over
the same store and questionnaires), kept apart because it is about who may
open which interview, not about the turn itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from instrument.engine import EngineError
from instrument.engine.case import typed_case
from instrument.interviews.outcomes import LinkOpened, LinkProblem
from instrument.store import CaseWithdrawn, InterviewNotFound
from instrument.store.case_import import ImportedCase

if TYPE_CHECKING:
    from instrument.interviews.outcomes import Saved
    from instrument.interviews.surveys import Surveys
    from instrument.store import Store

__all__ = ["LinkOperations", "LinkTarget"]


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """Where a personal link leads, found without starting anything.

    ``interview_id`` is None for a link whose interview has not begun yet.
    """

    token_id: int
    questionnaire_id: str
    interview_id: str | None
    case_id: str | None
    is_test: bool


class LinkOperations:
    """Cases, and opening and issuing personal links (mixed into the interview service)."""

    store: Store
    surveys: Surveys

    if TYPE_CHECKING:

        def start(self, questionnaire_id: str, **kwargs: Any) -> Saved: ...

        def _tell(
            self, kind: str, interview_id: str, at: dt.datetime, mode: str, data: Mapping[str, Any]
        ) -> None: ...

    # -- cases -------------------------------------------------------------------

    def put_case(
        self,
        questionnaire_id: str,
        case_id: str,
        preload: Mapping[str, Any],
        *,
        now: dt.datetime,
    ) -> None:
        """Store a case and its preload values, checked against the questionnaire first.

        :raises EngineError: a name is not one of the questionnaire's preload
            variables, or a value is not valid for it (the message says which).
        """
        checked = typed_case(self.surveys[questionnaire_id].questionnaire, preload)
        plain = {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in checked.items()}
        self.store.put_case(case_id, questionnaire_id, plain, now=now)

    def import_cases(
        self, questionnaire_id: str, sample: Sequence[ImportedCase], *, now: dt.datetime
    ) -> list[str]:
        """Store a whole sample in one transaction (all or nothing); the ids put in the call queue.

        Each case's preload values are checked against the questionnaire first,
        as :meth:`put_case` checks one case's.

        :raises EngineError: a preload name or value the questionnaire does not take.
        :raises StoreError: a case withdrawn or stored for another questionnaire
            (nothing is stored then).
        """
        questionnaire = self.surveys[questionnaire_id].questionnaire
        checked = []
        for entry in sample:
            typed = typed_case(questionnaire, entry.preload)
            plain = {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in typed.items()}
            checked.append(dataclasses.replace(entry, preload=plain))
        return self.store.import_cases(questionnaire_id, checked, now=now)

    def case_preload(self, questionnaire_id: str, case_id: str) -> dict[str, Any]:
        """The stored preload values of a case for this questionnaire ({} if none are stored)."""
        case = self.store.get_case(case_id)
        if case is None:
            return {}
        if case.withdrawn_at is not None:
            raise CaseWithdrawn(f"case {case_id!r} was withdrawn")
        if case.questionnaire_id != questionnaire_id:
            raise EngineError(
                f"case {case_id!r} belongs to questionnaire {case.questionnaire_id!r}, "
                f"not {questionnaire_id!r}"
            )
        return dict(case.preload)

    # -- personal links ----------------------------------------------------------

    def inspect_link(self, token: str, *, mode: str, now: dt.datetime) -> LinkTarget | LinkProblem:
        """Where a personal link leads in ``mode``, or why it cannot be used; changes nothing."""
        found = self.store.find_token(token)
        survey = self.surveys.get(found.questionnaire_id) if found is not None else None
        if found is None or survey is None or mode not in survey.questionnaire.modes:
            return LinkProblem("invalid")
        if found.is_expired(now):
            return LinkProblem("expired")
        if found.interview_id is not None:
            try:
                record = self.store.load_interview(found.interview_id)
            except InterviewNotFound:
                return LinkProblem("invalid")
            if record.status == "withdrawn":
                return LinkProblem("expired")
        return LinkTarget(
            token_id=found.id,
            questionnaire_id=found.questionnaire_id,
            interview_id=found.interview_id,
            case_id=found.case_id,
            is_test=found.purpose == "test",
        )

    def open_link(
        self,
        token: str,
        *,
        mode: str,
        actor: str,
        now: dt.datetime,
        language: str | None = None,
    ) -> LinkOpened | LinkProblem:
        """Start the link's interview (with its case's preloads) or resume the one it began.

        Two devices opening a new link at the same moment: the first to attach
        its interview wins and both continue that one (the other new
        interview stays empty and unattached). A case in the telephone call
        queue has one interview whatever the mode: the link continues the one
        an interviewer started, decided by the store under a lock on the case.
        """
        target = self.inspect_link(token, mode=mode, now=now)
        if isinstance(target, LinkProblem):
            return target
        if target.interview_id is not None:
            self._tell("resumed", target.interview_id, now, mode, {"link": "personal"})
            return LinkOpened(target.interview_id, target.questionnaire_id, started=False)
        started = self.start(
            target.questionnaire_id,
            mode=mode,
            actor=actor,
            now=now,
            language=language,
            case_id=target.case_id,
            is_test=target.is_test,
            one_per_case=target.case_id is not None
            and self.store.queue_row(target.case_id) is not None,
        )
        attached = self.store.attach_token(target.token_id, started.interview.id, now=now)
        return LinkOpened(
            attached, target.questionnaire_id, started=attached == started.interview.id
        )

    def resume_link(
        self, interview_id: str, *, now: dt.datetime, expires_at: dt.datetime | None = None
    ) -> str:
        """Issue a new personal link that resumes this interview on any device; returns its token.

        The token exists in clear only in the return value: show it to the
        person once and keep it nowhere else.
        """
        record = self.store.load_interview(interview_id)
        return self.store.issue_token(
            record.questionnaire_id,
            interview_id=record.id,
            case_id=record.case_id,
            expires_at=expires_at,
            now=now,
        )

    def issue_link(
        self,
        questionnaire_id: str,
        *,
        case_id: str | None,
        now: dt.datetime,
        purpose: str = "respondent",
        expires_at: dt.datetime | None = None,
    ) -> str:
        """Issue a personal link that starts a (case's) interview of ``questionnaire_id``."""
        if questionnaire_id not in self.surveys:
            raise KeyError(f"questionnaire {questionnaire_id!r} is not served")
        if case_id is not None:
            self.case_preload(questionnaire_id, case_id)  # refuses a withdrawn case
        return self.store.issue_token(
            questionnaire_id, case_id=case_id, purpose=purpose, expires_at=expires_at, now=now
        )
