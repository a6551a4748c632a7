"""``instrument simulate``: random respondents down every route, and optionally into the store.

The simulation itself lives in :mod:`instrument.simulate` (no database or web
code); this command loads the questionnaire, prints the report, picks the exit
code and, with ``--database``, stores each simulated interview as test data so
a researcher can try exports and dashboards before fieldwork.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from instrument.plugin_types import EndToEndRun
from instrument.questionnaires import facade_from_context, open_questionnaire
from instrument.simulate import NO_BREAKOFF, Behaviour, SimulationReport
from instrument.simulate import simulate as run_simulation

if TYPE_CHECKING:
    from instrument.model import Questionnaire
    from instrument.simulate.storing import SimulationStorer

EXIT_OK = 0
EXIT_ENGINE_ERROR = 1
EXIT_USAGE = 2  # click's own code for bad options
EXIT_UNREACHED = 3
EXIT_BAD_QUESTIONNAIRE = 4
EXIT_STORE_FAILED = 5
EXIT_END_TO_END_FAILED = 6

# The store's environment variable (instrument.store.engine.ENV_VAR); spelled out here so that
# `instrument simulate` without --database does not import SQLAlchemy.
DATABASE_ENV = "INSTRUMENT_DATABASE_URL"


@click.command(
    epilog=(
        "\b\nExit codes:\n"
        "  0  every question was reached and the engine raised no error\n"
        "  1  engine error: an exception, or an invalid input the engine accepted\n"
        "     (each is listed with the respondent's seed, to replay it)\n"
        "  2  bad command-line usage\n"
        "  3  some questions were never reached\n"
        "  4  the questionnaire has errors (run `instrument check`)\n"
        "  5  storing the interviews in the database failed\n"
        "  6  --end-to-end: a respondent's session went wrong (each error is listed)"
    )
)
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "-n",
    "n",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Number of respondents.",
)
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="Seed: the same seed gives the same report.",
)
@click.option(
    "--mode",
    metavar="MODE",
    default=None,
    help="A mode the questionnaire runs in (web, cati, ivr or a plugin's). Default: its first.",
)
@click.option(
    "--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--database",
    metavar="URL",
    envvar=DATABASE_ENV,
    default=None,
    help=f"Store every simulated interview here, marked as test data (default: ${DATABASE_ENV} if set; "
    "without either, nothing is stored).",
)
@click.option(
    "--include-partial/--no-partial",
    default=True,
    show_default=True,
    help="Let some respondents break off (their interviews end as partial / abandoned).",
)
@click.option(
    "--now",
    metavar="ISO-TIME",
    default=None,
    help="When the first interview starts (UTC if no offset). Default: a fixed date, so the seed "
    "alone reproduces a report; with --database, the current time.",
)
@click.option(
    "--end-to-end",
    is_flag=True,
    help="Play the respondents through the mode as it is served (for ivr: calls into the real "
    "webhooks of an in-process server, through the call simulator), where the mode offers it. "
    "Without --database, in a temporary SQLite database.",
)
def simulate(
    path: Path,
    n: int,
    seed: int,
    mode: str | None,
    output: str,
    database: str | None,
    include_partial: bool,
    now: str | None,
    end_to_end: bool,
) -> None:
    """Send N random respondents through the questionnaire at PATH.

    Respondents answer from what each page shows: valid answers mostly, some
    don't know and refused, skips, out-of-range and malformed values (which
    the engine must reject), soft warnings confirmed or answers changed, going
    back and jumping, and the occasional break-off. The report lists how often
    each question was reached, the questions nobody reached, which checks
    fired, and the outcomes.
    """
    result = open_questionnaire(path, facade_from_context())
    if result.questionnaire is None:
        for diagnostic in result.errors:
            click.echo(str(diagnostic), err=True)
        click.echo(
            f"{path}: cannot simulate: the questionnaire has errors (see instrument check)",
            err=True,
        )
        raise SystemExit(EXIT_BAD_QUESTIONNAIRE)
    questionnaire = result.questionnaire
    mode = mode or questionnaire.modes[0]
    if mode not in questionnaire.modes:
        raise click.UsageError(
            f"questionnaire '{questionnaire.id}' does not run in mode '{mode}' (it runs in {', '.join(questionnaire.modes)})"
        )
    start = _parse_now(now) if now else (_utc_now() if database else None)
    if end_to_end:
        raise SystemExit(_end_to_end(path, questionnaire, mode, n, seed, database, start, output))
    behaviour = Behaviour() if include_partial else NO_BREAKOFF

    storer: SimulationStorer | None = None
    store_failed: type[Exception] = _NothingStored
    if database:
        from instrument.simulate.storing import SimulationStorer, StoreFailed  # loads SQLAlchemy

        store_failed = StoreFailed
        try:
            storer = SimulationStorer.open(database, questionnaire)
        except Exception as exc:
            click.echo(f"cannot open the database: {exc}", err=True)
            raise SystemExit(EXIT_STORE_FAILED) from None
    try:
        report = run_simulation(
            questionnaire, n, seed, mode, now=start, behaviour=behaviour, on_interview=storer
        )
        if storer is not None:
            storer.flush()
    except store_failed as exc:
        click.echo(
            f"storing simulated interviews failed after {exc.stored} were stored: {exc.__cause__}",
            err=True,
        )
        raise SystemExit(EXIT_STORE_FAILED) from None
    finally:
        if storer is not None:
            storer.close()

    if output == "json":
        data = report.to_json()
        if storer is not None:
            data["stored"] = {
                "interviews": storer.stored,
                "seconds": round(storer.seconds, 3),
                "database": storer.where,
            }
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        for line in format_report(report):
            click.echo(line)
        if storer is not None:
            rate = f" ({storer.stored / storer.seconds:,.0f}/s)" if storer.seconds > 0 else ""
            click.echo(
                f"Stored {storer.stored:,} test interviews in {storer.where} in {storer.seconds:.1f} s{rate}."
            )
    raise SystemExit(exit_code(report))


def _end_to_end(
    path: Path,
    questionnaire: Questionnaire,
    mode: str,
    n: int,
    seed: int,
    database: str | None,
    start: dt.datetime | None,
    output: str,
) -> int:
    """The mode's own end-to-end simulation (``ModeSpec.simulate_end_to_end``); the exit status.

    The command may not import a mode, nor a mode the server: the mode is found through the
    plugin host and is handed the server's app factory (:class:`EndToEndRun`).
    """
    spec = facade_from_context().modes().get(mode)
    if spec is None or spec.simulate_end_to_end is None:
        raise click.UsageError(f"mode '{mode}' has no end-to-end simulation (--end-to-end)")
    missing = spec.missing_requirements()
    if missing:
        raise click.UsageError(f"mode '{mode}' needs {', '.join(missing)} installed")

    def make_app(config: Mapping[str, Any]) -> Any:
        from instrument.server.app import create_app  # Flask is loaded only for this

        return create_app(config)

    run = EndToEndRun(
        path=path,
        questionnaire=questionnaire,
        n=n,
        seed=seed,
        make_app=make_app,
        database=database,
        now=start,
        progress=lambda line: click.echo(line, err=True),
    )
    report = spec.simulate_end_to_end(run)
    if output == "json":
        data = {"mode": mode, "seed": seed, **report.counts, "error_list": list(report.errors)}
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        for line in report.lines:
            click.echo(line)
    return EXIT_END_TO_END_FAILED if report.errors else EXIT_OK


class _NothingStored(Exception):
    """Never raised: what ``except`` catches when nothing is being stored."""


def exit_code(report: SimulationReport) -> int:
    """The command's exit status for a report (see the epilog of --help)."""
    if report.failures:
        return EXIT_ENGINE_ERROR
    if report.never_reached:
        return EXIT_UNREACHED
    return EXIT_OK


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _parse_now(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO date-time (e.g. 2026-03-01T09:00)", param_hint="--now"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


# --------------------------------------------------------------------------------------------------
# The text report


def format_report(report: SimulationReport) -> list[str]:
    """The report as lines for a terminal."""
    n = report.n
    lines = [
        (
            f"Simulated {n:,} respondents of {report.questionnaire_id} {report.version} "
            f"(mode {report.mode}, seed {report.seed}, from {report.now.isoformat()}) in {report.seconds:.2f} s: "
            f"{report.respondents_per_second:,.0f} respondents/s, {_share(report.engine_seconds, report.seconds)} of it in the engine"
        ),
        "",
        "Outcomes: " + ", ".join(f"{k} {v:,} ({_pct(v, n)})" for k, v in report.outcomes.items()),
    ]
    pages = report.pages_summary()
    lines.append(
        f"Pages answered per interview: mean {pages['mean']}, median {pages['median']}, min {pages['min']}, max {pages['max']}"
    )
    lines.append(
        f"Don't know {report.dk:,}, refused {report.refused:,}, left unanswered {report.skipped:,}; "
        f"soft warnings confirmed {report.warnings_confirmed:,}, answers changed instead {report.answers_changed:,}; "
        f"back {report.backs:,}, jumps {report.jumps:,}, break-offs {report.breakoffs:,}"
    )
    tried = sum(report.invalid_tried.values())
    rejected = sum(report.invalid_rejected.values())
    kinds = ", ".join(f"{k} {v}" for k, v in report.invalid_tried.items())
    lines.append(
        f"Invalid inputs: {tried:,} tried, {rejected:,} rejected" + (f" ({kinds})" if kinds else "")
    )
    if report.rejections:
        lines.append(
            "Pages sent back for other reasons: "
            + ", ".join(f"{k} {v:,}" for k, v in report.rejections.items())
        )
    lines.append("")
    lines.append(f"Questions reached (interviews that were shown each question, of {n:,}):")
    width = max((len(q.id) for q in report.questions), default=10)
    for stat in report.questions:
        mark = "  <- never reached" if stat.reached == 0 else ""
        lines.append(
            f"  {stat.id:<{width}}  {stat.type:<9} {stat.reached:>9,}  {_pct(stat.reached, n):>6}{mark}"
        )
    lines.append("")
    never = report.never_reached
    if never:
        lines.append(f"Never reached ({len(never)}): {', '.join(never)}")
    else:
        lines.append("Never reached: none")
    lines.append("")
    if report.checks:
        lines.append("Checks fired (question#check, severity: times fired, interviews):")
        cwidth = max(len(f"{c.question}#{c.index}") for c in report.checks)
        for check in report.checks:
            name = f"{check.question}#{check.index}"
            kind = "hard" if check.severity == "error" else "soft"
            lines.append(
                f"  {name:<{cwidth}}  {kind}  {check.fired:>9,}  {check.interviews:>9,} ({_pct(check.interviews, n)})"
            )
        if report.checks_never_fired:
            lines.append(f"Checks that never fired: {', '.join(report.checks_never_fired)}")
    else:
        lines.append("Checks fired: the questionnaire has no checks")
    if report.stuck:
        lines.append("")
        lines.append("Respondents who gave up on a page after every answer they tried was refused:")
        lines.extend(f"  {line}" for line in stuck_lines(report))
    lines.append("")
    if report.failures:
        lines.append(f"ENGINE ERRORS ({len(report.failures)}):")
        for failure in report.failures[:20]:
            lines.append(
                f"  respondent {failure.respondent} (seed {failure.seed}, page {failure.page}): {failure.message}"
            )
            lines.append(f"    replay: {failure.reproduce()}")
            for tb_line in failure.traceback.rstrip().splitlines():
                lines.append(f"    {tb_line}")
        if len(report.failures) > 20:
            lines.append(f"  ... and {len(report.failures) - 20} more (use --format json for all)")
    else:
        lines.append("Engine errors: none")
    return lines


def stuck_lines(report: SimulationReport) -> list[str]:
    """One line per page someone gave up on: how often its hard checks fired, and whether anyone
    got past it. Only a page nobody got past is suspected of a check that can never pass."""
    lines = []
    for page, gave_up in report.stuck.items():
        fired = [c for c in report.stuck_checks.get(page, ()) if c.fired]
        checks = "; ".join(
            f"hard check {c.question}#{c.index} fired {c.fired:,} times in {c.interviews:,} interviews"
            for c in fired
        )
        line = f"{page}: {gave_up:,} gave up"
        if report.never_passed(page):
            line += ", and nobody got past it (a hard check that can never pass?)"
        else:
            line += f"; {report.passed[page]:,} got past it"
        lines.append(line + (f"; {checks}" if checks else ""))
    return lines


def _pct(count: int, n: int) -> str:
    return f"{100.0 * count / n:.1f}%" if n else "-"


def _share(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.0f}%" if whole > 0 else "-"
