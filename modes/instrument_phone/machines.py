"""Which calls' studies ask for answering-machine detection (``telephony: {machine_detection: true}``).

The bridge TwiML is the same for every study but for this: a study whose
fieldwork file turns detection on gets Twilio's ``machineDetection`` on the
respondent's ``<Number>``. The webhooks ask :func:`machine_detection_for`'s
answer with the call's id when the TwiML is fetched; where no served study
turns it on there is no answer to ask, and the bridge reads nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from instrument.fieldwork.settings import FieldworkSettings

__all__ = ["machine_detection_for"]


def machine_detection_for(
    store: Any, settings_for: Callable[[str], FieldworkSettings], questionnaire_ids: list[str]
) -> Callable[[int], bool] | None:
    """A call id -> "does its study ask for answering-machine detection?", or None if none does.

    :param store: the opened store (the call's case names its questionnaire).
    :param settings_for: each questionnaire's fieldwork settings.
    :param questionnaire_ids: the questionnaires served.
    """
    if not any(settings_for(q).telephony.machine_detection for q in questionnaire_ids):
        return None
    studies: dict[str, str] = {}  # case id -> questionnaire id: a case never changes study

    def detect(call_id: int) -> bool:
        call = store.get_call(call_id)
        if call is None:
            return False
        questionnaire = studies.get(call.case_id)
        if questionnaire is None:
            case = store.get_case(call.case_id)
            if case is None:
                return False
            questionnaire = studies[call.case_id] = str(case.questionnaire_id)
        return settings_for(questionnaire).telephony.machine_detection

    return detect
