"""Modes as data: what the core needs to know about a way of asking a questionnaire.

A mode is a name and a :class:`ModePolicy`. The loader, the engine, the
simulator and the dataset builder read the policy, never the name: who asks
the questions, whether they are read on a screen or heard, which of a
question's wordings is used, how don't know and refused are offered, and the
code the mode has in datasets. So a mode a plugin registers runs interviews
exactly as the built-in ones do.

Three modes come with the questionnaire format itself, because its texts have
a wording for each (``text``, ``read_out``, ``ivr``): web self-completion, a
telephone interviewer (CATI) and an automated call (IVR). Plugins serve them
(the web mode registers ``web`` with :data:`WEB`) or add their own.

Standard library only: the model imports this.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CATI",
    "IVR",
    "STANDARD_MODES",
    "WEB",
    "WORDINGS",
    "ModePolicy",
    "ModeRegistryError",
    "mode_registry",
]

WORDINGS = ("text", "read_out", "ivr")
"""The wordings a question can have: for the screen, for an interviewer to read, for a call to say."""

Administrator = Literal["respondent", "interviewer", "machine"]
Missing = Literal["on_request", "keyed", "announced"]

_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


@dataclass(frozen=True, kw_only=True)
class ModePolicy:
    """How a mode asks questions, as the core needs to know it.

    :param label: what researchers and dataset labels call it.
    :param description: the mode of collection as a codebook states it (DDI ``collMode``).
    :param administered_by: who puts the questions: the ``respondent``
        (self-completion), an ``interviewer``, or a ``machine`` (an automated call).
    :param spoken: the questions are heard rather than read on a screen.
    :param wording: the question's wordings to use, in order of preference
        (each one of :data:`WORDINGS`); the first the question has is used.
    :param markup: fills and texts may carry HTML (a screen shows them).
    :param missing: how don't know and refused are offered: ``on_request``
        (shown as the questionnaire's ``web_missing`` says, and an empty answer
        may get the skip prompt), ``keyed`` (never read out; an interviewer
        keys them, and may not leave an answer empty) or ``announced`` (always
        offered, e.g. keys a call announces; an empty answer is accepted).
    :param dataset_code: the value of ``mode`` in datasets; unique among modes.
    :param typed_text: the person can give free text (a keypad cannot).
    :param text_messages: the questions go one per text message and the answers
        come back as typed replies (an SMS mode): ``instrument check`` warns of
        questions too long or too wide for that.
    """

    label: str
    description: str
    administered_by: Administrator
    spoken: bool
    wording: tuple[str, ...]
    markup: bool
    missing: Missing
    dataset_code: int
    typed_text: bool = True
    text_messages: bool = False

    def __post_init__(self) -> None:
        if not self.label.strip() or not self.description.strip():
            raise ValueError("ModePolicy.label and .description must be non-empty")
        if self.administered_by not in ("respondent", "interviewer", "machine"):
            raise ValueError(
                f"ModePolicy.administered_by: {self.administered_by!r} is not a kind of administrator"
            )
        wording = tuple(self.wording)
        if (
            not wording
            or any(w not in WORDINGS for w in wording)
            or len(set(wording)) != len(wording)
        ):
            raise ValueError(
                f"ModePolicy.wording must list some of {WORDINGS} once each, got {self.wording!r}"
            )
        object.__setattr__(self, "wording", wording)
        if self.missing not in ("on_request", "keyed", "announced"):
            raise ValueError(
                f"ModePolicy.missing: {self.missing!r} is not one of on_request, keyed, announced"
            )
        if (
            isinstance(self.dataset_code, bool)
            or not isinstance(self.dataset_code, int)
            or self.dataset_code < 1
        ):
            raise ValueError(
                f"ModePolicy.dataset_code must be a positive whole number, got {self.dataset_code!r}"
            )

    @property
    def interviewer(self) -> bool:
        """An interviewer asks (and keys the answers)."""
        return self.administered_by == "interviewer"

    @property
    def keypad(self) -> bool:
        """Answers come from a telephone keypad: numbers only, no free text."""
        return not self.typed_text


WEB = ModePolicy(
    label="Web (self-completion)",
    description="Self-administered questionnaire: web",
    administered_by="respondent",
    spoken=False,
    wording=("text",),
    markup=True,
    missing="on_request",
    dataset_code=1,
)
CATI = ModePolicy(
    label="Telephone with an interviewer (CATI)",
    description="Telephone interview (CATI)",
    administered_by="interviewer",
    spoken=True,
    wording=("read_out", "text"),
    markup=True,
    missing="keyed",
    dataset_code=2,
)
IVR = ModePolicy(
    label="Automated telephone call (IVR)",
    description="Telephone: interactive voice response (IVR)",
    administered_by="machine",
    spoken=True,
    wording=("ivr", "read_out", "text"),
    markup=False,
    missing="announced",
    dataset_code=3,
    typed_text=False,
)

STANDARD_MODES: Mapping[str, ModePolicy] = {"web": WEB, "cati": CATI, "ivr": IVR}
"""The modes every questionnaire may name, whatever plugins are installed."""


class ModeRegistryError(ValueError):
    """Two modes clash (a standard name with another policy, or one dataset code twice)."""


def mode_registry(extra: Iterable[tuple[str, ModePolicy]] = ()) -> dict[str, ModePolicy]:
    """The standard modes and ``extra`` ones (from plugins), checked to fit together.

    A plugin may serve a standard mode (the web mode serves ``web``) only with
    its standard policy, and no two modes may share a dataset code.
    """
    registry = dict(STANDARD_MODES)
    for name, policy in extra:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ModeRegistryError(f"mode name {name!r} must be a lower-case identifier")
        known = registry.get(name)
        if known is not None and known != policy:
            raise ModeRegistryError(f"mode {name!r} is registered with two different policies")
        registry[name] = policy
    codes: dict[int, str] = {}
    for name, policy in registry.items():
        other = codes.setdefault(policy.dataset_code, name)
        if other != name:
            raise ModeRegistryError(
                f"modes {other!r} and {name!r} both have dataset code {policy.dataset_code}"
            )
    return registry
