"""``instrument fieldwork``: the supervisor's view of telephone fieldwork from the command line.

The command only parses options and prints; the overview, the rates and the
call records come from the call-queue service (:mod:`instrument.callqueue`),
the same numbers the supervisor's screen shows. A questionnaire file given
with ``--questionnaire`` brings its fieldwork file's outcomes and rules
(``<stem>.fieldwork.yaml``); cases of other questionnaires use the defaults.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click

_DATABASE_HELP = (
    "Database URL (sqlite:///file.db or postgresql://user@host/db). "
    "Default: $INSTRUMENT_DATABASE_URL, else ./instrument.db."
)
_QUESTIONNAIRE_HELP = (
    "A questionnaire file whose fieldwork file (<stem>.fieldwork.yaml) gives its outcomes and "
    "calling rules; repeat for several."
)


@click.group("fieldwork")
def fieldwork() -> None:
    """Telephone fieldwork: the sample's progress, AAPOR rates and the call records."""


def _queue(database: str | None, questionnaires: tuple[Path, ...]) -> Any:
    """A call queue over the store, with each given questionnaire's fieldwork settings."""
    from instrument.callqueue import CallQueue
    from instrument.fieldwork.settings import FieldworkSettings, settings_for
    from instrument.interviews import InterviewService, Surveys
    from instrument.loader import require_questionnaire
    from instrument.store import open_store

    chosen: dict[str, FieldworkSettings] = {}
    for path in questionnaires:
        settings, diagnostics = settings_for(path)
        if diagnostics.has_errors():
            errors = "\n".join(str(d) for d in diagnostics.errors)
            raise click.ClickException(f"the fieldwork settings have errors:\n{errors}")
        chosen[require_questionnaire(path).id] = settings
    default = FieldworkSettings()
    store = open_store(database)
    return CallQueue(
        store, InterviewService(store, Surveys(store, {})), lambda q: chosen.get(q, default)
    )


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


@fieldwork.command("status")
@click.option("--database", metavar="URL", default=None, help=_DATABASE_HELP)
@click.option(
    "--questionnaire",
    "questionnaires",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=_QUESTIONNAIRE_HELP,
)
@click.option("--e", "e", type=click.FloatRange(0, 1), default=None,
              help="The estimated share of unknown-eligibility cases that are eligible "
                   "(default: eligible among cases of known eligibility).")  # fmt: skip
def status(database: str | None, questionnaires: tuple[Path, ...], e: float | None) -> None:
    """The sample now: cases by outcome, callable now, appointments today, attempts, AAPOR rates."""
    queue = _queue(database, questionnaires)
    try:
        now = dt.datetime.now(dt.UTC)
        overview = queue.sample_overview(now)
        rates = queue.rates(e)
    finally:
        queue.store.close()
    click.echo(f"cases: {overview.cases}  final: {overview.final}  held: {overview.held}  "
               f"callable now: {overview.callable_now}  appointments today: "
               f"{overview.appointments_today}")  # fmt: skip
    click.echo("by outcome:")
    for code, count in overview.by_disposition.items():
        click.echo(f"  {code:<32} {count:>7}")
    click.echo("attempts per case:")
    for attempts, count in overview.attempts_per_case.items():
        click.echo(f"  {attempts:>3} attempts {count:>7} cases")
    click.echo("AAPOR rates:")
    for name, value in rates.items():
        click.echo(f"  {name:<6} {_percent(value):>7}")


@fieldwork.command("calls")
@click.option("--database", metavar="URL", default=None, help=_DATABASE_HELP)
@click.option(
    "--csv",
    "csv_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the call records here (no names or numbers: a number is named by its rank).",
)
@click.option(
    "--questionnaire",
    "questionnaires",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=_QUESTIONNAIRE_HELP,
)
def calls(database: str | None, csv_path: Path, questionnaires: tuple[Path, ...]) -> None:
    """Export every attempt and call as CSV: who, when, which number (by rank), status, outcome."""
    queue = _queue(database, questionnaires)
    try:
        with csv_path.open("w", encoding="utf-8", newline="") as handle:
            rows = queue.write_call_records(handle)
    finally:
        queue.store.close()
    click.echo(f"{rows} call record(s) written to {csv_path}")


# ---------------------------------------------------------------- panel waves: the worker

PUBLIC_URL_ENV = "INSTRUMENT_PUBLIC_URL"
"""The web address respondents reach the server at: personal and stop links start with it."""

SENDERS = 4
"""Messages a worker hands to the channels at once by default (``FieldworkWorker.senders``'s own
default)."""

MAX_SENDERS = 64
"""The most ``--senders`` allows: as many connections as the email channel may hold (it sizes
its pool to the senders, ``ContactChannel.expect_senders``); more threads would only wait."""


@fieldwork.command("run")
@click.option("--database", metavar="URL", default=None, help=_DATABASE_HELP)
@click.option("--once", is_flag=True, help="One pass over what is due now, then exit.")
@click.option(
    "--base-url",
    envvar=PUBLIC_URL_ENV,
    required=True,
    metavar="URL",
    help=f"The public web address links in messages start with (default: ${PUBLIC_URL_ENV}).",
)
@click.option("--batch", default=200, show_default=True, type=click.IntRange(1, 5000),
              help="Members claimed per round.")  # fmt: skip
@click.option("--idle", default=5.0, show_default=True, type=click.FloatRange(0.1, 3600),
              help="Seconds to wait when nothing is due.")  # fmt: skip
@click.option(
    "--senders",
    default=SENDERS,
    show_default=True,
    metavar="N",
    type=click.IntRange(1, MAX_SENDERS),
    help=f"Messages handed to the channels at once (threads, 1 to {MAX_SENDERS}; 1: one after "
    "the other). Each member's own messages still go in the plan's order. The email channel "
    "holds N connections to the SMTP server, one per sender, unless "
    "INSTRUMENT_SMTP_CONNECTIONS is set (a relay's limit: the threads then share that many).",
)
def run(
    database: str | None, once: bool, base_url: str, batch: int, idle: float, senders: int
) -> None:
    """The fieldwork worker: send what open waves' contact plans say is due (see docs/fieldwork-worker.md).

    Several may run at once, on one machine or many: each claims different
    members, and no message is ever sent twice. Needs the panel keys
    (INSTRUMENT_PANEL_KEYS or INSTRUMENT_PANEL_KEY_FILE) and the channels'
    settings (INSTRUMENT_SMTP_*, INSTRUMENT_TWILIO_*, ...; docs/channels.md).
    """
    import signal
    import threading

    from instrument.panel.crypto import PanelKeyError, PanelKeys
    from instrument.panelwork.recording_deletions import use_recording_providers
    from instrument.panelwork.worker import WaveNotLoadable, worker_for
    from instrument.plugin_types import ChannelSetupError
    from instrument.questionnaires import facade_from_context
    from instrument.store import open_store

    try:
        keys = PanelKeys.from_environment()
    except PanelKeyError as exc:
        raise click.ClickException(str(exc)) from None
    plugins = facade_from_context()
    channels = plugins.contact_channels()
    store = open_store(database)
    stop = threading.Event()
    try:
        try:
            worker = worker_for(
                store,
                channels,
                keys,
                clock=lambda: dt.datetime.now(dt.UTC),
                base_url=base_url,
                batch=batch,
                senders=senders,
                plugins=plugins,  # its modes place the automated_call steps' calls
            )
        except PanelKeyError as exc:
            raise click.ClickException(str(exc)) from None
        except ChannelSetupError as exc:  # a channel that cannot take N senders
            raise click.ClickException(f"--senders {senders}: {exc}") from None
        use_recording_providers(worker, facade_from_context().recording_providers())
        if once:
            total = 0
            while (report := worker.run_round()).busy:  # members, automated calls, notes
                total += report.claimed
                click.echo(f"round: {report}")
            click.echo(f"nothing more is due now ({total} member(s) seen)")
            return
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        click.echo(f"fieldwork worker {worker.name} running; Ctrl+C or SIGTERM stops it")
        try:
            worker.run(stop, idle=idle)
        except KeyboardInterrupt:
            click.echo("stopped")
    except ChannelSetupError as exc:
        raise click.ClickException(f"a channel cannot send: {exc}") from None
    except WaveNotLoadable as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
