"""A panel wave's export: one row per eligible member, with the wave's disposition.

``instrument wave export WAVEFILE --out DIR`` writes the same files as
``instrument export`` (SPSS, Stata, R, Parquet, CSV, DDI, the dictionary, the
paradata, README and checksums; all or nothing), but of the wave only and with
a row for every eligible member, interviewed or not
(:mod:`instrument.dataset.wave` says what each column holds). The disposition
is the dashboard's: the store reads each member's case with the dashboard's
definitions (:meth:`~instrument.store.Store.wave_member_rows`) and it is
classified by the dashboard's own function
(:func:`~instrument.store.panel_reports.web_disposition`) with the study's call
outcomes, so the file's table of dispositions is the dashboard's table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from instrument.dataset.wave import WaveMember, wave_dataset
from instrument.fieldwork.settings import FieldworkSettings, settings_for
from instrument.plugins import PluginFacade
from instrument.store import open_store
from instrument.store.panel_reports import PhoneClasses, web_disposition
from instrument.store.panel_wave_rows import WaveInterview, WaveMemberRow

from .formats import ExportFailed
from .reading import ProgressBar, no_bar, read_dataset
from .run import prepare, write_files

__all__ = ["WaveExportRequest", "WaveExportResult", "chosen_interview", "run_wave_export"]

_PREFERENCE = {"complete": 4, "screened_out": 3, "abandoned": 2, "active": 1}
"""Which of a case's interviews is its row (a case has one, but an import may have added
another): the furthest on, then the latest. A withdrawn interview has no answers left."""


@dataclass(frozen=True)
class WaveExportRequest:
    """What ``instrument wave export`` asks for; ``questionnaire_path`` finds the study's
    call outcomes (its fieldwork file), as the dashboard does."""

    panel: str
    wave: str
    out: Path
    questionnaire_path: Path | None = None
    formats: Sequence[str] | None = None
    database: str | None = None
    secret: bytes | None = None
    stem: str | None = None
    long_loops: bool = False


@dataclass(frozen=True)
class WaveExportResult:
    questionnaire_id: str
    out: Path
    members: int
    interviews: int
    variables: int
    files: list[str]
    by_class: dict[str, int]
    notes: list[str]


def chosen_interview(interviews: Sequence[WaveInterview]) -> str | None:
    """The id of the interview whose answers are the member's row (None: none to export).

    An interview opened by a link and left with nothing answered is not one: the member's
    row says "no interview" and the disposition says they opened the link.
    """
    usable = [
        i
        for i in interviews
        if i.status in _PREFERENCE and (i.answered or i.status in ("complete", "screened_out"))
    ]
    if not usable:
        return None
    return max(usable, key=lambda i: (_PREFERENCE[i.status], i.updated_at)).id


def phone_classes(questionnaire_path: Path | None) -> PhoneClasses:
    """The study's call outcomes as (AAPOR code, label, rate class), as the dashboard reads them."""
    settings = settings_for(questionnaire_path)[0] if questionnaire_path else FieldworkSettings()
    return {code: (d.aapor, d.label, d.rate_class) for code, d in settings.dispositions.items()}


def wave_members(rows: Sequence[WaveMemberRow], phone: PhoneClasses) -> list[WaveMember]:
    """The store's rows as the wave's file needs them: the disposition decided, the interview
    chosen, nothing kept of a member whose answers were deleted but the disposition."""
    members = []
    for row in rows:
        aapor, label, rate_class = web_disposition(row.facts, phone)
        deleted = row.answers_deleted
        members.append(
            WaveMember(
                row_key=row.case_id,
                member_id="" if deleted else row.pseudonym,
                aapor=aapor,
                aapor_label=label,
                rate_class=rate_class.value,
                interview_id=None if deleted else chosen_interview(row.interviews),
                preload={} if deleted else row.preload,
            )
        )
    return members


def run_wave_export(
    request: WaveExportRequest, facade: PluginFacade, *, progress: ProgressBar = no_bar
) -> WaveExportResult:
    """Write the wave's files; raises :class:`ExportFailed` (having written nothing) when it cannot."""
    formats, pseudonymiser = prepare(facade, request.formats, request.secret)
    with open_store(request.database) as store:
        record = store.get_wave(request.panel, request.wave)
        if record is None:
            raise ExportFailed(
                f"wave {request.wave} of panel {request.panel} was never opened in this database"
            )
        rows = store.wave_member_rows(record.id)
    members = wave_members(rows, phone_classes(request.questionnaire_path))
    chosen = {m.interview_id for m in members if m.interview_id is not None}
    dataset = read_dataset(
        facade,
        record.questionnaire_id,
        database=request.database,
        include_partial=True,
        include_test=False,
        since=None,
        pseudonymiser=pseudonymiser,
        progress=progress,
        only=chosen,
    )
    try:
        wave_file = wave_dataset(dataset, members, wave=request.wave, pseudonymiser=pseudonymiser)
    except ValueError as exc:
        raise ExportFailed(str(exc)) from None
    wave_file.name = request.stem or f"{record.questionnaire_id}_{request.wave}"
    files, notes = write_files(
        wave_file, formats, request.out, long_loops=request.long_loops, progress=progress
    )
    by_class: dict[str, int] = {}
    for member in members:
        by_class[member.rate_class] = by_class.get(member.rate_class, 0) + 1
    return WaveExportResult(
        record.questionnaire_id,
        request.out,
        len(members),
        len(dataset.frame),
        len(wave_file.frame.columns),
        files,
        by_class,
        notes,
    )
