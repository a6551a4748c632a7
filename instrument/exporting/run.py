"""One export from start to finish: choose the formats, read the dataset, check, write.

The order is what makes an export all or nothing: the formats are chosen
and their modules found first, then the dataset is read and closed off from
the store, then every (dataset, format) pair is checked against the
format's limits, and only then is a single file written. The README and the
checksum manifest come last, because they list every other file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from instrument.dataset import Dataset, Pseudonymiser
from instrument.plugin_types import OutputFormat
from instrument.plugins import PluginFacade

from .formats import ExportFailed, choose_formats, plan_files
from .manifest import MANIFEST_NAME, write_manifest
from .reading import ProgressBar, no_bar, read_dataset
from .readme import LONG_FILE, write_readme

__all__ = [
    "ExportRequest",
    "ExportResult",
    "LEFT_OUT_REASONS",
    "left_out_sentence",
    "prepare",
    "run_export",
    "write_files",
]


@dataclass(frozen=True)
class ExportRequest:
    """What to export and where: the options of ``instrument export``.

    ``formats`` None means every format registered as a default;
    ``secret`` is the key for pseudonymous ids (None: a random one).
    """

    questionnaire_id: str
    out: Path
    formats: Sequence[str] | None = None
    database: str | None = None
    include_partial: bool = False
    include_test: bool = False
    since: dt.datetime | None = None
    long_loops: bool = False
    secret: bytes | None = None
    stem: str | None = None


@dataclass
class ExportResult:
    """What an export wrote."""

    questionnaire_id: str
    out: Path
    cases: int
    variables: int
    files: list[str]
    left_out: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    manifest: str = MANIFEST_NAME


def run_export(
    request: ExportRequest, facade: PluginFacade, *, progress: ProgressBar = no_bar
) -> ExportResult:
    """Write the export; raises :class:`ExportFailed` (having written nothing) when it cannot."""
    formats, pseudonymiser = prepare(facade, request.formats, request.secret)
    dataset = read_dataset(
        facade,
        request.questionnaire_id,
        database=request.database,
        include_partial=request.include_partial,
        include_test=request.include_test,
        since=request.since,
        pseudonymiser=pseudonymiser,
        progress=progress,
    )
    if request.stem:
        dataset.name = request.stem
    files, notes = write_files(
        dataset, formats, request.out, long_loops=request.long_loops, progress=progress
    )
    return ExportResult(
        request.questionnaire_id,
        request.out,
        len(dataset.frame),
        len(dataset.frame.columns),
        files,
        dict(dataset.left_out),
        notes,
    )


def prepare(
    facade: PluginFacade, names: Sequence[str] | None, secret: bytes | None
) -> tuple[list[OutputFormat], Pseudonymiser]:
    """The formats asked for and the pseudonymiser of the secret, checked before anything is read."""
    formats = choose_formats(facade.output_formats(), names)
    try:
        return formats, Pseudonymiser(secret)
    except ValueError as exc:
        raise ExportFailed(str(exc)) from None


def write_files(
    dataset: Dataset,
    formats: Sequence[OutputFormat],
    out: Path,
    *,
    long_loops: bool = False,
    progress: ProgressBar = no_bar,
) -> tuple[list[str], list[str]]:
    """Check every (dataset, format) pair, then write the files, the README and the manifest.

    Returns the files written (README last) and the notes of the checks. Raises
    :class:`ExportFailed` before the first file when a format cannot take the
    dataset. Shared by the questionnaire's export and a wave's
    (:mod:`instrument.exporting.wave`).
    """
    long_files = [dataset.long(loop.id) for loop in dataset.codebook.loops] if long_loops else []
    planned, notes = plan_files(dataset, long_files, formats)

    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}  # file name -> its README sentence, in the order written
    bar = progress(total=len(planned), desc="Writing files", unit="file")
    try:
        for item in planned:
            before = {p.name for p in out.iterdir()}
            item.spec.write(item.dataset, out / item.files[0])
            # the files the format says it writes, and any other it added
            made = [name for name in item.files if (out / name).exists()]
            made += sorted({p.name for p in out.iterdir()} - before - set(made))
            for name in made:
                sentence = item.spec.describe(name)
                written.setdefault(name, f"{LONG_FILE} {sentence}" if item.long else sentence)
            bar.update(1)
    finally:
        bar.close()
    write_readme(dataset, out / "README.md", list(written.items()))
    files = [*written, "README.md"]
    write_manifest(out, files)
    return files, notes


LEFT_OUT_REASONS = {
    "partial": ("partial, break-off or unfinished", "--include-partial"),
    "screened_out": ("screened out", "--include-partial"),
    "test": ("test", "--include-test"),
    "since": ("last updated before --since", None),
    "withdrawn": ("withdrawn, answers deleted", None),
    "empty": ("with no stored answers", None),
}
"""Why an interview was left out: the words for it, and the option that takes it in."""


def left_out_sentence(left_out: dict[str, int]) -> str | None:
    """``Left out 12 interviews: 10 partial, ... (add --include-partial); ...``, or None."""
    total = sum(left_out.values())
    if not total:
        return None
    parts = []
    for reason, (words, option) in LEFT_OUT_REASONS.items():
        n = left_out.get(reason, 0)
        if n:
            parts.append(f"{n:,} {words}" + (f" (add {option})" if option else ""))
    parts += [f"{n:,} {reason}" for reason, n in left_out.items() if reason not in LEFT_OUT_REASONS]
    noun = "interview" if total == 1 else "interviews"
    return f"Left out {total:,} {noun}: " + "; ".join(parts) + "."
