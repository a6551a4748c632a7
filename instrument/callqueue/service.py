"""The call-queue service: "next case", the case screen, dialling and coding the end of a call.

The interviewer's console (and the panel runner, and tests) work telephone
cases only through :class:`CallQueue`, as modes work interviews only through
the interview service: the time and the actor are arguments, every operation
returns one typed outcome (:mod:`instrument.callqueue.outcomes`), the rules
are the pure ones in :mod:`instrument.fieldwork`, and the store does each
change in one transaction. What it guarantees, once for every caller:

* a case goes to one interviewer at a time, inside calling hours and after its
  retry delay (the window the rules computed), a vanished interviewer's case
  coming back after the hold timeout;
* a case has ONE interview whatever the mode: the web partial is continued
  by phone and the reverse, the interview service recording each answer's mode;
* a number on the do-not-call list or known dead is never dialled;
* an outcome is coded once: a double click or a second tab is told it was
  coded already, and the case's next window comes from the rules.

This package imports no web framework or telephony library; a provider is
reached through the :class:`~instrument.callqueue.outcomes.Dialer` protocol.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from instrument.callqueue.coding import Coding
from instrument.callqueue.outcomes import CallPlaced, Claimed, Dialer, NoCase, Refused
from instrument.callqueue.recording import Recording
from instrument.callqueue.scheduling import Scheduling
from instrument.callqueue.supervisor import Supervision
from instrument.callqueue.views import CaseView, build_view
from instrument.fieldwork.settings import FieldworkSettings
from instrument.interviews import InterviewService
from instrument.store import NumberNotCallable, Store

__all__ = ["CallQueue"]


class CallQueue(Coding, Supervision, Recording, Scheduling):
    """Telephone cases on one store, for the questionnaires ``interviews`` serves.

    :param store: the opened store.
    :param interviews: the interview service (the case's interview is started
        and continued through it, never written here).
    :param settings_for: a questionnaire id's fieldwork settings (its calling
        rules and disposition table); called often, so the caller caches.
    """

    def __init__(
        self,
        store: Store,
        interviews: InterviewService,
        settings_for: Callable[[str], FieldworkSettings],
    ) -> None:
        self.store = store
        self.interviews = interviews
        self.settings_for = settings_for
        self._questionnaires = {}

    # -- next case -------------------------------------------------------------

    def next_case(self, interviewer: str, *, now: dt.datetime) -> Claimed | NoCase:
        """Hand ``interviewer`` the case to call now, opening an attempt on it.

        Stale holds are released and ended windows renewed first (see
        :meth:`keep_windows_true`). An interviewer who already holds a case gets
        it back (a refresh or a double press never leaves a second case held).
        """
        self.keep_windows_true(now)
        claim = self.store.claim_next_case(interviewer, now=now, resume=True)
        if claim is None:
            return NoCase("no case may be called now: none is due, or all are held or resting")
        return Claimed(
            case_id=claim.case_id,
            attempt_id=claim.attempt_id,
            questionnaire_id=self._remember_questionnaire(claim.case_id, claim.questionnaire_id),
            window_kind=claim.window_kind,
            zone=claim.zone,
            language=claim.language,
            attempts=claim.attempts,
            resumed=claim.resumed,
        )

    # -- the case screen ---------------------------------------------------------

    def case_view(self, case_id: str, *, viewer_zone: str, now: dt.datetime) -> CaseView:
        """The case screen: name and numbers (personal, shown only here), history, appointments.

        LookupError for a case not in the call queue; ValueError for an unknown zone.
        """
        settings = self.settings_for(self._questionnaire_of(case_id))
        return build_view(
            self.store,
            case_id,
            self._questionnaire_of(case_id),
            settings.dispositions,
            zone_of=settings.calling.zone,
            viewer_zone=settings.calling.zone(viewer_zone),
            now=now,
        )

    def holds(self, attempt_id: int, interviewer: str) -> bool:
        """Whether ``interviewer`` holds a case through this attempt (open, not coded, not released)."""
        return self.store.holder_of(attempt_id) == interviewer

    # -- the interview -----------------------------------------------------------

    def interview_for(
        self,
        case_id: str,
        *,
        mode: str,
        actor: str,
        now: dt.datetime,
        language: str | None = None,
        look_first: bool = True,
    ) -> str:
        """The id of the case's one interview: the existing one whatever its mode, else a new one.

        A new one starts with the case's preloads, in the case's language when
        the questionnaire has it. Two tabs, or the phone and a web link at the
        same moment, get the same interview (the store decides under a lock on
        the case). The mode switch is recorded when the interview is next shown
        in ``mode``.

        ``look_first=False`` with the case's ``language`` (the console knows both
        from the claim and the case screen) skips reading the case's interviews
        and queue row first: the store's start returns the interview started
        meanwhile, if any, under that same lock.
        """
        questionnaire_id = self._questionnaire_of(case_id)
        if look_first:
            existing = [
                r for r in self.store.interviews_for_case(case_id) if r.status != "withdrawn"
            ]
            if existing:
                return existing[0].id
            row = self.store.queue_row(case_id)
            language = None if row is None else row["language"]
        languages = self.interviews.surveys[questionnaire_id].questionnaire.languages
        saved = self.interviews.start(
            questionnaire_id,
            mode=mode,
            actor=actor,
            now=now,
            case_id=case_id,
            language=language if language in languages else None,  # type: ignore[arg-type]
            one_per_case=True,
        )
        return saved.interview.id

    # -- dialling ----------------------------------------------------------------

    def place_call(
        self, attempt_id: int, number_rank: int, *, dialer: Dialer | None, now: dt.datetime
    ) -> CallPlaced | Refused:
        """Record a call on one of the case's numbers and, with a dialer, place it.

        Refused for a coded attempt, an unknown, dead or do-not-call number, or
        a provider that would not place the call. A second press while the
        attempt's call to that number is still going gets that call back.
        """
        provider = "manual" if dialer is None else "twilio"
        try:
            # every check is made by the store under the attempt's lock, so two presses
            # at once (a double click, two tabs) record and dial one call
            opened = self.store.open_call(
                attempt_id, number_rank=number_rank, provider=provider, now=now
            )
        except LookupError:
            return Refused((f"there is no attempt {attempt_id}",))
        except NumberNotCallable as exc:
            return Refused((str(exc),))
        except ValueError:
            return Refused(("this call's outcome is coded already; take the next case",))
        call_id = opened.call_id
        if opened.reused:
            return CallPlaced(
                call_id, attempt_id, number_rank, provider, opened.provider_sid, again=True
            )
        if dialer is None:
            return CallPlaced(call_id, attempt_id, number_rank, "manual", None)
        try:
            sid = dialer.place(opened.e164, call_id)
        except Exception as exc:  # the provider's error, whatever its library calls it
            # the call ends failed, so the next press records and places a new one
            self.store.not_placed(call_id, now=now)
            return Refused((f"the call could not be placed: {exc}",))
        self.store.set_call_sid(call_id, sid)
        return CallPlaced(call_id, attempt_id, number_rank, "twilio", sid)

    def hang_up(self, call_id: int, *, dialer: Dialer | None) -> bool:
        """Ask the provider to end a call; False when there is nothing to end (by hand, or no sid)."""
        call = self.store.get_call(call_id)
        if call is None or dialer is None or call.provider_sid is None:
            return False
        dialer.hang_up(call.provider_sid)
        return True
