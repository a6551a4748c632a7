"""``instrument test``: run the scenarios embedded in questionnaires."""

from __future__ import annotations

from pathlib import Path

import click

from instrument.questionnaires import facade_from_context, open_questionnaire
from instrument.scenarios import run_scenarios


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-v", "--verbose", is_flag=True, help="Also list the questions each scenario was asked."
)
def test(paths: tuple[Path, ...], verbose: bool) -> None:
    """Run each questionnaire's test scenarios; exit 1 if any fails."""
    facade = facade_from_context()
    passed = failed = 0
    for path in paths:
        loaded = open_questionnaire(path, facade)
        if loaded.questionnaire is None:
            for diagnostic in loaded.errors:
                click.echo(str(diagnostic))
            click.echo(
                f"{path}: cannot run tests: the questionnaire has errors (see instrument check)"
            )
            failed += 1
            continue
        if not loaded.questionnaire.tests:
            click.echo(f"{path}: no test scenarios")
        for result in run_scenarios(loaded.questionnaire):
            mark = "PASS" if result.passed else "FAIL"
            click.echo(
                f"{result.position}: {mark} {result.name} ({result.outcome or 'unfinished'}, {len(result.asked)} questions)"
            )
            for failure in result.failures:
                click.echo(f"    {failure}")
            if verbose:
                click.echo(f"    asked: {' '.join(result.asked)}")
            passed += result.passed
            failed += not result.passed
    click.echo(f"{passed} passed, {failed} failed")
    raise SystemExit(1 if failed else 0)
