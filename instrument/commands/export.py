"""``instrument export``: harmonised response files for SPSS, Stata, R and pandas.

Reads every stored version of a questionnaire and its interviews, builds one
harmonised dataset (:mod:`instrument.dataset`) and hands it to the output
formats the plugins registered. Every format's limits are checked before the
first file is written, so an export either writes everything or nothing.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

_DATABASE_HELP = (
    "Database URL (sqlite:///file.db or postgresql://user@host/db). "
    "Default: $INSTRUMENT_DATABASE_URL, else ./instrument.db."
)
DEFAULT_FORMATS = "sav,dta,csv,parquet,ddi"
ALWAYS = ("dictionary", "paradata")
DATA_FORMATS = ("sav", "dta", "csv", "parquet")
SUFFIX = {
    "sav": ".sav",
    "dta": ".dta",
    "csv": ".csv",
    "parquet": ".parquet",
    "ddi": "_ddi.xml",
    "dictionary": "_dictionary.csv",
    "paradata": "_paradata.csv",
}


def parse_since(text: str | None) -> dt.datetime | None:
    """A date (midnight UTC) or an ISO date-time (UTC unless it says otherwise)."""
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a date (YYYY-MM-DD) or ISO date-time", param_hint="--since"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


def _file_name(stem: str, fmt: str, spec: Any) -> str:
    return stem + SUFFIX.get(fmt, "." + spec.extensions[0])


@click.command("export")
@click.option(
    "--questionnaire",
    "questionnaire_id",
    required=True,
    metavar="ID",
    help="The questionnaire's meta.id.",
)
@click.option(
    "--format",
    "formats",
    default=DEFAULT_FORMATS,
    show_default=True,
    help="Comma-separated output formats (see `instrument plugins`). "
    "The dictionary, paradata, README and SHA256SUMS are always written.",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write into.",
)
@click.option("--database", "database", metavar="URL", default=None, help=_DATABASE_HELP)
@click.option(
    "--include-partial", is_flag=True, help="Also partial, unfinished and screened-out interviews."
)
@click.option(
    "--since",
    "since",
    metavar="DATE",
    default=None,
    help="Only interviews updated on or after DATE (UTC).",
)
@click.option(
    "--include-test", is_flag=True, help="Also test interviews (e.g. from `instrument simulate`)."
)
@click.option(
    "--long-loops",
    is_flag=True,
    help="Also write each loop as a long file (one row per case and iteration).",
)
@click.option(
    "--secret-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="A file holding the secret for pseudonymous ids, so case ids stay the same across exports "
    "(else $INSTRUMENT_EXPORT_SECRET; else a random secret: ids differ every export).",
)
@click.option(
    "--name", "stem", default=None, help="File name stem (default: the questionnaire id)."
)
@click.option(
    "--progress/--no-progress",
    "show_progress",
    default=None,
    help="Show a progress bar (default: when writing to a terminal).",
)
def export(
    questionnaire_id: str,
    formats: str,
    out: Path,
    database: str | None,
    include_partial: bool,
    since: str | None,
    include_test: bool,
    long_loops: bool,
    secret_file: Path | None,
    stem: str | None,
    show_progress: bool | None,
) -> None:
    """Export the interviews of a questionnaire as labelled data files."""
    from tqdm import tqdm

    from instrument.dataset import DatasetError, Pseudonymiser, RowCoder, build_dataset
    from instrument.dataset.paradata import PARADATA_KINDS, keep_cases, read_events
    from instrument.loader import load_questionnaire_text
    from instrument.questionnaires import facade_from_context
    from instrument.store import open_store

    since_at = parse_since(since)
    facade = facade_from_context()
    registry = facade.output_formats()
    wanted = [f.strip() for f in formats.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in registry]
    if unknown:
        raise click.UsageError(
            f"unknown format(s) {', '.join(unknown)}; available: {', '.join(sorted(registry))}"
        )
    for fmt in wanted + [f for f in ALWAYS if f in registry]:
        missing = registry[fmt].missing_requirements()
        if missing:
            raise click.ClickException(
                f"format {fmt} needs {', '.join(missing)}: pip install 'survey-instrument[{registry[fmt].extra or 'export'}]'"
            )
    all_formats = wanted + [f for f in ALWAYS if f in registry and f not in wanted]

    secret = secret_file.read_bytes().strip() if secret_file else None
    try:
        pseudonymiser = Pseudonymiser(secret)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    show = sys.stderr.isatty() if show_progress is None else show_progress

    store = open_store(database)
    try:
        stored = store.list_questionnaire_versions(questionnaire_id)
        if not stored:
            known = ", ".join(store.questionnaire_ids()) or "none"
            raise click.ClickException(
                f"no questionnaire '{questionnaire_id}' in the database (it has: {known})"
            )
        versions: dict[int | str, Any] = {}
        loaded = []
        for row in sorted(stored, key=lambda r: (r.created_at, r.id)):
            result = load_questionnaire_text(
                row.source_text,
                f"<{row.questionnaire_id} version {row.version}>",
                text_environment=facade.prepare_text_environment,
                question_types=dict(facade.question_types()),
            )
            if result.questionnaire is None:
                first = result.errors[0] if result.errors else "unknown error"
                raise click.ClickException(
                    f"stored version {row.version} of {questionnaire_id} no longer loads: {first}"
                )
            versions[row.id] = result.questionnaire
            versions[row.content_hash] = result.questionnaire
            loaded.append(result.questionnaire)
        newest = loaded[-1]

        events = store.iter_events(
            questionnaire_id, kinds=PARADATA_KINDS, include_test=include_test
        )
        paradata, interviewers = read_events(events, loaded, pseudonymiser)

        counts = store.count_by_status(questionnaire_id, include_test=include_test)
        total = sum(counts.values())
        bar = tqdm(
            total=total,
            desc="Reading interviews",
            unit="interview",
            disable=not show,
            file=sys.stderr,
        )
        try:
            dataset = build_dataset(
                newest,
                store.iter_export_records(
                    questionnaire_id,
                    include_test=include_test,
                    since=since_at,
                    export_keys={RowCoder(q).key for q in loaded},
                ),
                include_partial=include_partial,
                include_test=include_test,
                since=since_at,
                progress=bar.update,
                versions=versions,
                pseudonymiser=pseudonymiser,
                interviewers=interviewers,
            )
        except DatasetError as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            bar.close()
    finally:
        store.close()
    dataset.paradata = keep_cases(paradata, dataset.frame["case_id"])
    if stem:
        dataset.name = stem
    datasets = [dataset]
    if long_loops:
        datasets += [dataset.long(loop.id) for loop in dataset.codebook.loops]

    # every check before any file is written
    problems = []
    for ds in datasets:
        for fmt in all_formats:
            if ds is not dataset and fmt not in DATA_FORMATS:
                continue
            check = registry[fmt].can_write
            reason = check(ds) if check is not None else None
            if reason and fmt != "paradata":
                problems.append(f"{fmt}: {reason}")
    if problems:
        raise click.ClickException("nothing was written:\n  " + "\n  ".join(problems))

    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    steps = [
        (ds, fmt) for ds in datasets for fmt in all_formats if ds is dataset or fmt in DATA_FORMATS
    ]
    for ds, fmt in tqdm(
        steps, desc="Writing files", unit="file", disable=not show, file=sys.stderr
    ):
        spec = registry[fmt]
        dest = out / _file_name(ds.stem, fmt, spec)
        before = {p.name for p in out.iterdir()}
        spec.write(ds, dest)
        after = {p.name for p in out.iterdir()}
        new = sorted((after - before) | ({dest.name} if dest.exists() else set()))
        if fmt == "csv":
            new = sorted(
                set(new)
                | {p.name for p in out.glob(ds.stem + ".*") if p.suffix in (".sps", ".do", ".R")}
            )
        written += [n for n in new if n not in written]

    from instrument_outputs.manifest import MANIFEST_NAME, write_manifest
    from instrument_outputs.readme import write_readme

    write_readme(dataset, out / "README.md", written)
    written.append("README.md")
    write_manifest(out, written)
    click.echo(
        f"{questionnaire_id}: {len(dataset.frame)} cases, {len(dataset.frame.columns)} variables "
        f"-> {out} ({len(written) + 1} files, checksums in {MANIFEST_NAME})"
    )
