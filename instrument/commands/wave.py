"""``instrument wave open|status|close WAVEFILE``: a panel wave at run time.

``open`` checks the file as ``instrument check`` does (errors with file:line,
nothing stored), stores the questionnaire's version and gives every eligible
member a case of their own with a personal link, in one transaction
(:mod:`instrument.panelwork.opening`). The fieldwork worker
(``instrument fieldwork run``) then carries out the contact plan. ``status``
prints the wave's counts, each computed in SQL; ``close`` closes it. See
docs/waves.md and docs/fieldwork-worker.md.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import click

from instrument.commands.audit import cli_actor

if TYPE_CHECKING:
    from instrument.panel.waves import Wave

_DATABASE_HELP = (
    "Database URL (sqlite:///file.db or postgresql://user@host/db). "
    "Default: $INSTRUMENT_DATABASE_URL, else ./instrument.db."
)
_WAVEFILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("wave")
def wave() -> None:
    """A panel wave: open it for its eligible members, see how it goes, close it."""


def _read_wave(path: Path) -> Wave:
    """The wave in ``path`` once it has no errors (every problem printed with file:line)."""
    from instrument.commands.check import _check_wave
    from instrument.panel.wave_file import load_wave
    from instrument.questionnaires import facade_from_context

    facade = facade_from_context()
    problems = _check_wave(path, facade)
    errors = [d for d in problems if d.severity == "error"]
    for diagnostic in problems:
        click.echo(str(diagnostic), err=True)
    if errors:
        raise click.ClickException(f"{len(errors)} error(s) in the wave; nothing was stored")
    known = tuple(dict.fromkeys(["email", "sms", "letter", *facade.contact_channels()]))
    found, _ = load_wave(path, channels=known)
    assert found is not None
    return found


@wave.command("open")
@click.argument("path", type=_WAVEFILE)
@click.option("--database", metavar="URL", default=None, help=_DATABASE_HELP)
def open_(path: Path, database: str | None) -> None:
    """Open the wave in PATH: a case and a personal link for each eligible member."""
    from instrument.panel.crypto import PanelKeyError, PanelKeys
    from instrument.panel.wave_file import questionnaire_file
    from instrument.panelwork.opening import PreloadProblems, case_links, open_wave
    from instrument.questionnaires import facade_from_context, open_questionnaire
    from instrument.store import StoreError, open_store

    found = _read_wave(path)
    questionnaire_path = questionnaire_file(found)
    if questionnaire_path is None:
        raise click.ClickException(
            f"the questionnaire {found.questionnaire!r} is not a file beside the wave: name its "
            "file under questionnaire: so that its version can be stored"
        )
    loaded = open_questionnaire(questionnaire_path, facade_from_context())
    if loaded.questionnaire is None:
        raise click.ClickException(f"the questionnaire {questionnaire_path} does not load")
    try:
        keys = PanelKeys.from_environment()
    except PanelKeyError as exc:
        raise click.ClickException(str(exc)) from None
    now = dt.datetime.now(dt.UTC)
    store = open_store(database)
    try:
        try:
            links = case_links(store, keys, now=now)
            opened = open_wave(
                store,
                found,
                loaded.questionnaire,
                links,
                source=path,
                now=now,
                actor=cli_actor(),
            )
        except (PanelKeyError, PreloadProblems, StoreError, LookupError) as exc:
            raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    click.echo(
        f"wave {found.id!r} of panel {found.panel!r} opened: {opened.eligible} eligible of "
        f"{opened.considered} active member(s); fieldwork from {found.opens:%Y-%m-%d %H:%M} to "
        f"{found.closes:%Y-%m-%d %H:%M} UTC. `instrument fieldwork run` carries out the plan."
    )


@wave.command("status")
@click.argument("path", type=_WAVEFILE)
@click.option("--database", metavar="URL", default=None, help=_DATABASE_HELP)
def status(path: Path, database: str | None) -> None:
    """How the wave in PATH is going: members, contacts, interviews and messages by state."""
    import hashlib

    from instrument.store import open_store

    panel, key = _keys_of(path)
    store = open_store(database)
    try:
        record = store.get_wave(panel, key)
        if record is None:
            raise click.ClickException(f"wave {key!r} of panel {panel!r} has not been opened")
        counts = store.wave_status(record.id, now=dt.datetime.now(dt.UTC))
    finally:
        store.close()
    state = "closed" if record.closed_at else "open"
    click.echo(f"wave {key!r} of panel {panel!r}: {state}; {record.label}")
    if hashlib.sha256(path.read_bytes()).hexdigest() != record.file_digest:
        click.echo("  note: the file has changed since the wave was opened; the opened one is used")
    for label, value in (
        ("eligible", counts.eligible),
        ("invited", counts.invited),
        ("reminded", counts.reminded),
        ("started", counts.started),
        ("finished", counts.finished),
        ("moved to phone", counts.moved_to_phone),
        ("contact stopped", counts.stopped),
        ("closed", counts.closed),
        ("due now", counts.due_now),
    ):
        click.echo(f"  {label:<16} {value:>8}")
    click.echo("messages and actions by state:")
    for (what, message_state), value in counts.messages.items():
        click.echo(f"  {what:<16} {message_state:<10} {value:>8}")
    if counts.sending:
        click.echo(
            f"  {counts.sending} message(s) still 'sending': a worker stopped between recording and "
            "sending them. They are never sent again on their own; see docs/fieldwork-worker.md"
        )
    if counts.texts_under_way:
        click.echo(
            f"  {counts.texts_under_way} text interview first text(s) under way ('sms_interview' "
            "'sending'): one a stopped worker left is tried again by the next worker after 10 "
            "minutes; see docs/sms.md"
        )


def _keys_of(path: Path) -> tuple[str, str]:
    """The panel and wave of a file that no longer checks (status and close still find it)."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "panel" not in data or "wave" not in data:
        raise click.ClickException(f"{path} names no panel and wave")
    return str(data["panel"]), str(data["wave"])


@wave.command("close")
@click.argument("path", type=_WAVEFILE)
@click.option("--database", metavar="URL", default=None, help=_DATABASE_HELP)
def close(path: Path, database: str | None) -> None:
    """Close the wave in PATH: no more contacts; unfinished cases are closed."""
    from instrument.store import StoreError, open_store

    panel, key = _keys_of(path)
    store = open_store(database)
    try:
        record = store.get_wave(panel, key)
        if record is None:
            raise click.ClickException(f"wave {key!r} of panel {panel!r} has not been opened")
        try:
            closed = store.close_wave(record.id, now=dt.datetime.now(dt.UTC), actor=cli_actor())
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    click.echo(f"wave {key!r} of panel {panel!r} closed: {closed} unfinished case(s) closed")


@wave.command("export")
@click.argument("path", type=_WAVEFILE)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write into.",
)
@click.option(
    "--format",
    "formats",
    default=None,
    help="Comma-separated output formats, as for `instrument export` (default: every default "
    "format).",
)
@click.option("--database", metavar="URL", default=None, help=_DATABASE_HELP)
@click.option(
    "--secret-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="The secret for pseudonymous case ids, as for `instrument export` (else "
    "$INSTRUMENT_EXPORT_SECRET; else a random one).",
)
@click.option(
    "--long-loops", is_flag=True, help="Also write each loop as a long file, as `export` does."
)
@click.option(
    "--name", "stem", default=None, help="File name stem (default: <questionnaire>_<wave>)."
)
def export(
    path: Path,
    out: Path,
    formats: str | None,
    database: str | None,
    secret_file: Path | None,
    long_loops: bool,
    stem: str | None,
) -> None:
    """Export the wave in PATH: one row per eligible member, with the wave's disposition.

    Interviewed or not, every eligible member has a row: the panel's pseudonymous
    member_id (the same in every wave), the AAPOR disposition the dashboard shows,
    and the interview's variables (docs/exports.md, "A panel wave's file").
    """
    from instrument.exporting import ExportFailed
    from instrument.exporting.wave import WaveExportRequest, run_wave_export
    from instrument.questionnaires import facade_from_context
    from instrument.store import open_store

    panel, key = _keys_of(path)
    request = WaveExportRequest(
        panel=panel,
        wave=key,
        out=out,
        questionnaire_path=_questionnaire_beside(path),
        formats=formats.split(",") if formats else None,
        database=database,
        secret=secret_file.read_bytes().strip() if secret_file else None,
        stem=stem,
        long_loops=long_loops,
    )
    try:
        result = run_wave_export(request, facade_from_context())
    except ExportFailed as exc:
        raise click.ClickException(str(exc)) from None
    with open_store(database) as store:
        store.log_staff_action(
            cli_actor(),
            "export",
            subject=f"wave:{panel}/{key}",
            detail={
                "members": result.members,
                "interviews": result.interviews,
                "variables": result.variables,
                "files": len(result.files),
                "formats": formats or "default",
                "out": str(out.resolve()),
            },
        )
    classes = ", ".join(f"{n:,} {cls}" for cls, n in sorted(result.by_class.items()))
    click.echo(
        f"wave {key!r} of panel {panel!r}: {result.members:,} eligible members "
        f"({result.interviews:,} with an interview), {result.variables} variables -> {out} "
        f"({len(result.files) + 1} files); AAPOR classes: {classes or 'none'}"
    )
    for note in result.notes:
        click.echo(note)


def _questionnaire_beside(path: Path) -> Path | None:
    """The questionnaire file the wave file names, when it is a file beside it (for the study's
    call outcomes, kept in the questionnaire's fieldwork file)."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    name = data.get("questionnaire") if isinstance(data, dict) else None
    if not isinstance(name, str):
        return None
    candidate = path.parent / name
    return candidate if candidate.is_file() else None
