"""Opening a wave: who is in it, their cases' preloads and personal links, in one transaction.

The wave file has been checked by the caller (``instrument wave open`` checks it
as ``instrument check`` does); here the wave and its questionnaire become rows:
the questionnaire's version is stored, each active member is asked the wave's
eligibility expression (over the profile and status), an eligible member's
profile becomes the case's preload values (typed as the questionnaire declares
them), and each case gets a personal link whose token is derived from the case
id (:mod:`instrument.panel.links`), stored only as its hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from instrument.engine import EngineError
from instrument.engine.case import typed_case
from instrument.model import Questionnaire
from instrument.panel.crypto import PanelKeys
from instrument.panel.links import PERSONAL_LINK_SECRET, CaseLinks, open_links
from instrument.panel.links import new_link_secret as new_personal_link_secret
from instrument.panel.waves import Wave
from instrument.store import Store
from instrument.store.panel_waves import EligibleMember, WaveOpened, WaveSpec

__all__ = ["PreloadProblems", "case_links", "open_wave", "typed_profile", "unsubscribe_key"]

_SHOWN_PROBLEMS = 10


class PreloadProblems(ValueError):
    """Members whose profile values the wave or its questionnaire's preloads refuse; nothing was stored."""

    def __init__(self, problems: list[str]) -> None:
        shown = problems[:_SHOWN_PROBLEMS]
        more = len(problems) - len(shown)
        text = "\n".join(shown) + (f"\n... and {more} more" if more else "")
        super().__init__(
            f"{len(problems)} member(s) have profile values the wave's profile or preloads refuse:\n{text}"
        )
        self.problems = problems


def typed_profile(wave: Wave, profile: Mapping[str, Any]) -> dict[str, Any]:
    """The profile variables the wave reads, typed as its ``profile:`` declares them.

    The panel keeps profile values as the members file gave them (text); the
    eligibility expression compares numbers and codes. An empty value is
    missing. ValueError for a value that is not of its type or not one of its codes.
    """
    typed: dict[str, Any] = {}
    for name, variable in wave.profile.items():
        raw = profile.get(name)
        if raw is None or str(raw).strip() == "":
            continue
        text = str(raw).strip()
        value: Any
        try:
            if variable.type in ("integer", "single"):
                value = int(text)
            elif variable.type == "decimal":
                value = Decimal(text)
            elif variable.type == "date":
                value = dt.date.fromisoformat(text)
            else:
                value = text
        except (ValueError, ArithmeticError):
            raise ValueError(f"profile {name} {text!r} is not {variable.type}") from None
        if variable.codes is not None and value not in variable.codes:
            raise ValueError(f"profile {name} {value} is not one of its codes")
        typed[name] = value
    return typed


def case_links(store: Store, keys: PanelKeys, *, now: dt.datetime) -> CaseLinks:
    """This database's personal links, its link key made on first use (PanelKeyError if no key opens it)."""
    secret = store.panel_secret(
        PERSONAL_LINK_SECRET, create=lambda: new_personal_link_secret(keys), now=now
    )
    return open_links(keys, secret)


def open_wave(
    store: Store,
    wave: Wave,
    questionnaire: Questionnaire,
    links: CaseLinks,
    *,
    source: Path,
    now: dt.datetime,
    actor: str,
) -> WaveOpened:
    """Open ``wave`` (read from ``source``) for its eligible members; all of it or nothing.

    :raises store.WaveAlreadyOpened: opened before.
    :raises PreloadProblems: a profile value the questionnaire does not take.
    :raises LookupError: no such panel.
    """
    data = source.read_bytes()
    version = store.add_questionnaire_version(
        questionnaire.id, questionnaire.version, questionnaire.source_text
    )
    today = now.astimezone(wave.tz).date()

    def choose(found: Sequence[EligibleMember]) -> list[tuple[int, Mapping[str, Any]]]:
        chosen: list[tuple[int, Mapping[str, Any]]] = []
        problems: list[str] = []
        for member in found:
            try:
                profile = typed_profile(wave, member.profile)
                if not wave.eligible(profile, member.status, today):
                    continue
                typed = typed_case(questionnaire, wave.preloads(profile))
            except (EngineError, ValueError, ArithmeticError) as exc:
                problems.append(f"member {member.pseudonym}: {exc}")
                continue
            plain = {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in typed.items()}
            chosen.append((member.id, plain))
        if problems:
            raise PreloadProblems(problems)
        return chosen

    spec = WaveSpec(
        panel=wave.panel,
        key=wave.id,
        label=wave.label,
        questionnaire_id=questionnaire.id,
        questionnaire_version_id=version.id,
        file_digest=hashlib.sha256(data).hexdigest(),
        source_text=data.decode("utf-8"),
        source_path=str(source.resolve()),
        starts_at=wave.opens,
        closes_at=wave.closes,
    )

    return store.open_wave(spec, choose, links.token_hash, now=now, actor=actor)


def unsubscribe_key(store: Store, keys: PanelKeys, *, now: dt.datetime) -> bytes:
    """The key of the members' stop links (``instrument.panel.member_links``), made on first use."""
    from instrument.panel.member_links import LINK_SECRET, new_link_secret, open_link_key

    stored = store.panel_secret(LINK_SECRET, create=lambda: new_link_secret(keys), now=now)
    return open_link_key(keys, stored)
