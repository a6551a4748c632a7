"""What a call's study asks of the bridge: answering-machine detection and the number shown.

The bridge TwiML is the same for every study but for two things its fieldwork
file may say: ``telephony: {machine_detection: true}`` puts Twilio's
``machineDetection`` on the respondent's ``<Number>``, and ``telephony:
{numbers: [...]}`` (the study's own numbers) makes the first of them the caller
id the respondent sees, so a call back reaches the study's line (docs/ivr.md,
"A study's own number"). The webhooks ask :class:`CallStudies` with the call's
id when the TwiML is fetched; where no served study says either, there is
nothing to ask, and the bridge reads nothing more than before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from instrument.fieldwork.settings import FieldworkSettings

__all__ = ["CallStudies", "call_studies_for"]


class CallStudies:
    """A call id -> its study's fieldwork settings, the case's study remembered (a case never
    changes study), so a bridge fetched again reads the store once for the call only."""

    def __init__(self, store: Any, settings_for: Callable[[str], FieldworkSettings]) -> None:
        self._store = store
        self._settings_for = settings_for
        self._studies: dict[str, str] = {}  # case id -> questionnaire id

    def settings(self, call_id: int) -> FieldworkSettings | None:
        """The fieldwork settings of the call's study; None for a call or case not stored."""
        call = self._store.get_call(call_id)
        if call is None:
            return None
        questionnaire = self._studies.get(call.case_id)
        if questionnaire is None:
            case = self._store.get_case(call.case_id)
            if case is None:
                return None
            questionnaire = self._studies[call.case_id] = str(case.questionnaire_id)
        return self._settings_for(questionnaire)

    def machine_detection(self, call_id: int) -> bool:
        """Whether the call's study asks for answering-machine detection."""
        settings = self.settings(call_id)
        return settings is not None and settings.telephony.machine_detection

    def caller_id(self, call_id: int) -> str | None:
        """The study's own first number, shown to the respondent; None: the instance's."""
        settings = self.settings(call_id)
        numbers = settings.telephony.numbers if settings is not None else ()
        return numbers[0] if numbers else None


def call_studies_for(
    store: Any, settings_for: Callable[[str], FieldworkSettings], questionnaire_ids: list[str]
) -> CallStudies | None:
    """The served studies' answers by call, or None when no study asks for detection or has
    its own number (the bridge then needs no lookup at all).

    :param store: the opened store (the call's case names its questionnaire).
    :param settings_for: each questionnaire's fieldwork settings.
    :param questionnaire_ids: the questionnaires served.
    """
    if not any(
        settings_for(q).telephony.machine_detection or settings_for(q).telephony.numbers
        for q in questionnaire_ids
    ):
        return None
    return CallStudies(store, settings_for)
