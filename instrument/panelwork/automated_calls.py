"""The fieldwork worker's automated calls: a member's case handed to the dialler, and the due
calls of open waves placed through the mode that places them.

A wave's ``automated_call`` step (its day, audience and ``{mode, max_attempts, retry_after}``)
is carried out in two parts:

1. on its day, for each member it reaches, :meth:`AutomatedCalling.hand_over` makes the
   member's case the automated dialler's (``case_queue.taken_by`` 'automated'), the step's
   ``max_attempts`` and ``retry_after`` kept on the case, adding the case to the call queue
   with the member's numbers when it is not there yet. A case an interviewer holds at that
   moment, or with an appointment to keep, stays with the interviewers; the action's detail
   says so (:meth:`~instrument.store.fieldwork_queue.Queue.hand_to_dialler`);
2. every round, :meth:`AutomatedCalling.place_due` asks the mode the step names (by default
   the questionnaire's first automated mode that places calls) to place the study's due
   calls: ``ModeSpec.place_automated_calls`` with the host's
   :class:`~instrument.callqueue.automated.AutomatedCalls` for the study, the same code
   ``instrument calls place`` runs. Which case, when and on which number is the call
   queue's (calling hours in the respondent's time, the do-not-call list, the rules' attempt
   limits and retry delays, the step's own limits, never a case an interviewer holds, nobody
   who finished or stopped contact); the provider's request is the mode's.

The study's questionnaire is the stored one and its fieldwork settings (calling rules, the
telephony's voicemail policy) those of the fieldwork file beside the questionnaire file the wave
names, as ``instrument calls place`` reads them beside the file it is given
(:func:`stored_study`). A worker that cannot read that file places no calls and says why:
calling by default rules could call a study's respondents at hours it does not allow. A mode that cannot place calls on this
machine (Twilio not configured) takes no case and says why: the worker says it once in its
round report and its log, and the actions' detail carries it, so a handed case that is not
being called is never a silent success.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeAlias

from instrument.callqueue import CallQueue
from instrument.callqueue.automated import AUTOMATED_ACTOR, AutomatedCalls
from instrument.fieldwork.settings import FieldworkSettings, settings_for
from instrument.interviews import InterviewService, Surveys
from instrument.loader import LoadOptions
from instrument.panel.wave_file import questionnaire_file
from instrument.panel.waves import AutomatedCall, Wave
from instrument.plugin_types import AutomatedCallReport, AutomatedCallRun, ModeSpec
from instrument.store import Store
from instrument.store.case_import import ImportedCase
from instrument.store.fieldwork_queue import AUTOMATED_CASES

__all__ = [
    "CALLS_PER_ROUND",
    "AutomatedCalling",
    "Placing",
    "Study",
    "StudyNotReady",
    "installed_mode",
    "questionnaire_source",
    "stored_study",
]

Study: TypeAlias = tuple[str, Path | None]
"""A study whose calls are placed: the questionnaire's id and the questionnaire file the wave
names (its fieldwork file beside it gives the calling rules), None when it cannot be found."""

_log = logging.getLogger(__name__)

CALLS_PER_ROUND: Final = 20
"""Automated calls one worker places per study in a round, by default (as many as
``instrument calls place`` does by default): a round never spends long dialling."""


class StudyNotReady(RuntimeError):
    """A study's automated calls cannot be placed: its questionnaire or fieldwork file does not read."""


def questionnaire_source(wave: Wave) -> Path | None:
    """The questionnaire file a wave names, where the wave file was opened from; None: unknown.

    A path in the wave file is relative to the wave file's folder (as ``instrument check`` and
    ``instrument wave open`` read it); an id is ``<id>.yaml`` beside the wave file.
    """
    named = questionnaire_file(wave)
    if named is None or named.is_absolute() or wave.questionnaire_path is None:
        return named
    return Path(wave.source).parent / named if wave.source else named


def stored_study(
    store: Store,
    questionnaire_id: str,
    source: str | Path | None,
    options: LoadOptions | None = None,
) -> tuple[Surveys, FieldworkSettings]:
    """The newest stored version of a questionnaire, and the fieldwork settings beside ``source``.

    ``source`` is the questionnaire's file; no fieldwork file beside it (or no ``source``): the
    default settings.

    :raises LookupError: the store holds no such questionnaire.
    :raises StudyNotReady: the fieldwork file has errors (listed, with file:line).
    """
    surveys = Surveys.stored(store, questionnaire_id, options=options)
    if source is None:
        return surveys, FieldworkSettings()
    fieldwork, diagnostics = settings_for(source)
    if diagnostics.has_errors():
        errors = "\n".join(str(d) for d in diagnostics.errors)
        raise StudyNotReady(f"the fieldwork settings have errors:\n{errors}")
    return surveys, fieldwork


def installed_mode(modes: Mapping[str, ModeSpec], name: str) -> ModeSpec | str:
    """The mode ``name`` if it is installed with what it imports, else a sentence saying why not
    (and what to install)."""
    spec = modes.get(name)
    if spec is None:
        return f"mode {name} is not installed"
    missing = spec.missing_requirements()
    if missing:
        extra = f" (pip install survey-instrument[{spec.extra}])" if spec.extra else ""
        return f"mode {name} needs {', '.join(missing)}{extra}"
    return spec


@dataclass
class Placing:
    """What one round's placing of automated calls did."""

    placed: int = 0
    not_placed: int = 0
    notes: list[str] = field(default_factory=list)
    """Sentences for the round's report, each said once by a worker (Twilio not configured)."""


class AutomatedCalling:
    """One worker's automated calls: hands cases to the dialler and places the due calls.

    :param modes: the installed modes by name (the plugin host's registry).
    :param options: what the plugin host adds to questionnaires, to load the stored ones.
    :param limit: calls placed per study in a round.
    """

    def __init__(
        self,
        store: Store,
        modes: Mapping[str, ModeSpec],
        *,
        clock: Callable[[], dt.datetime],
        options: LoadOptions | None = None,
        limit: int = CALLS_PER_ROUND,
    ) -> None:
        if limit < 0:
            raise ValueError(f"calls per round must be 0 or more, not {limit}")
        self.store = store
        self.modes = dict(modes)
        self.clock = clock
        self.options = options
        self.limit = limit
        self._calls: dict[Study, AutomatedCalls | str] = {}
        """Each study's dialler, or why it cannot have one (loaded once per worker)."""
        self._unavailable: dict[str, str | None] = {}
        """Per mode: why it cannot place calls here, None when it can, as last learned."""
        self._said: set[str] = set()

    # ------------------------------------------------------------------ handing a case over

    def hand_over(
        self,
        study: Study,
        case_id: str,
        call: AutomatedCall,
        imported: Callable[[], ImportedCase],
        *,
        now: dt.datetime,
    ) -> dict[str, Any]:
        """Make the case the dialler's under the step's limits; the action's detail.

        ``imported()`` is the case as the call queue needs it (the member's numbers,
        decrypted in memory only), asked for only when the case is not in the queue yet.
        """
        questionnaire_id = study[0]
        spacing = call.retry_after
        detail: dict[str, Any] = {
            "max_attempts": call.max_attempts,
            "retry_after_s": int(spacing.total_seconds()),
        }
        mode = self._mode_for(study, call.mode)
        if isinstance(mode, tuple):
            detail["mode"] = mode[0]
        handed = self.store.hand_to_dialler(
            case_id, calls=call.max_attempts, spacing=spacing, dialler=AUTOMATED_ACTOR, now=now
        )
        if not handed.queued:
            case = dataclasses.replace(
                imported(),
                taken_by=AUTOMATED_CASES,
                automated_calls=call.max_attempts,
                automated_spacing=spacing,
            )
            detail["numbers"] = len(case.numbers or ())
            if not self.store.import_cases(questionnaire_id, [case], now=now):
                detail.update(handed=False, why="no phone number to call")
                return detail
        elif not handed.handed:
            detail.update(handed=False, why=handed.why)
            return detail
        detail["handed"] = True
        why_not = mode if isinstance(mode, str) else self._can_place(mode[0], mode[1])
        if why_not is not None:
            detail["calls_not_placed"] = why_not
        return detail

    # ------------------------------------------------------------------ placing the due calls

    def place_due(self, studies: Iterable[tuple[Study, str | None]]) -> Placing:
        """Place the due calls of each ``(study, mode named by the step)`` once.

        A study or mode that cannot place calls is said once (not every round); one that
        fails unexpectedly is logged with its traceback and the others go on.
        """
        placing = Placing()
        for study, named in dict.fromkeys(studies):
            questionnaire_id = study[0]
            mode = self._mode_for(study, named)
            if isinstance(mode, str):
                self._say(placing, f"automated calls to {questionnaire_id}: {mode}")
                continue
            name, place = mode
            calls = self._dialler(study)
            assert isinstance(calls, AutomatedCalls)  # _mode_for read the study
            try:
                report = place(AutomatedCallRun(questionnaire_id, calls, self.limit, self.clock))
            except Exception:
                _log.exception("automated calls to %s (mode %s) failed", questionnaire_id, name)
                self._say(
                    placing,
                    f"automated calls to {questionnaire_id}: mode {name} failed (see the log)",
                )
                continue
            self._learn(name, report)
            if report.unavailable is not None:
                self._say(
                    placing,
                    f"automated calls to {questionnaire_id} are not placed: {report.unavailable}",
                )
                continue
            placing.placed += len(report.placed)
            placing.not_placed += len(report.not_placed)
            for case_id, why in report.not_placed:
                _log.info("automated call to case %s not placed: %s", case_id, why)
        return placing

    # ------------------------------------------------------------------ studies and modes

    def _dialler(self, study: Study) -> AutomatedCalls | str:
        """The study's dialler over the call queue, or why it has none (read once per worker)."""
        found = self._calls.get(study)
        if found is None:
            questionnaire_id, source = study
            try:
                if source is None or not source.is_file():
                    raise StudyNotReady(
                        f"its questionnaire file ({source or 'the one the wave names'}) is not "
                        "on this machine, so the study's calling hours and rules (the fieldwork "
                        "file beside it) are unknown here"
                    )
                surveys, fieldwork = stored_study(
                    self.store, questionnaire_id, source, self.options
                )
            except (LookupError, StudyNotReady) as exc:
                found = str(exc.args[0])
            else:
                queue = CallQueue(
                    self.store, InterviewService(self.store, surveys), lambda _id: fieldwork
                )
                found = AutomatedCalls(queue)
            self._calls[study] = found
        return found

    def _mode_for(
        self, study: Study, named: str | None
    ) -> tuple[str, Callable[[AutomatedCallRun], AutomatedCallReport]] | str:
        """The mode that places the study's calls and its placer, or why there is none.

        ``named`` is the step's ``automated_call.mode``; None: the questionnaire's first
        automated mode (asked by a machine) whose plugin places calls.
        """
        calls = self._dialler(study)
        if isinstance(calls, str):
            return calls
        questionnaire = calls.queue.interviews.surveys[study[0]].questionnaire
        policies = questionnaire.mode_policies
        machine = [m for m in questionnaire.modes if policies[m].administered_by == "machine"]
        if named is None:
            placing = [m for m in machine if self._placer(m) is not None]
            if not placing:
                return (
                    "no installed mode places automated calls for it (its automated modes: "
                    f"{', '.join(machine) or 'none'})"
                )
            named = placing[0]
        spec = installed_mode(self.modes, named)
        if isinstance(spec, str):
            return spec
        place = spec.place_automated_calls
        if place is None:
            return f"mode {named} places no automated calls"
        return named, place

    def _placer(self, mode: str) -> Callable[[AutomatedCallRun], AutomatedCallReport] | None:
        spec = self.modes.get(mode)
        return None if spec is None else spec.place_automated_calls

    def _can_place(
        self, mode: str, place: Callable[[AutomatedCallRun], AutomatedCallReport]
    ) -> str | None:
        """Why ``mode`` cannot place calls on this machine, None when it can (asked once)."""
        if mode not in self._unavailable:
            probe = AutomatedCallRun("-", None, 0, self.clock)
            try:
                self._learn(mode, place(probe))
            except Exception as exc:
                return f"mode {mode} cannot say whether it can place calls: {exc}"
        return self._unavailable[mode]

    def _learn(self, mode: str, report: AutomatedCallReport) -> None:
        was = self._unavailable.get(mode)
        self._unavailable[mode] = report.unavailable
        if was is not None and report.unavailable is None:
            # it can place calls again: should it stop, that is said again
            self._said = {note for note in self._said if was not in note}

    def _say(self, placing: Placing, note: str) -> None:
        if note in self._said:
            return
        self._said.add(note)
        placing.notes.append(note)
        _log.warning("fieldwork worker: %s", note)
