"""Numeric answers that meet the missing codes: refused at load, never a traceback at export.

A latitude from -90 to 90 with the default codes (-1, -2, -8, -9) can be
answered -1, which every export would then read as "don't know". `check` says
so at the question's line; an export whose answers still collide (a question
with no min) stops with the variable named; print formats are wide enough for
the codes, which GNU PSPP shows as ``***`` otherwise.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_dataset_support import drive, need_program, open_tmp_store, save
from test_readers import _pspp

from instrument.cli import cli
from instrument.engine import Engine
from instrument.exporting import ExportFailed, ExportRequest, run_export
from instrument.loader import load_questionnaire_text
from instrument.plugins import PluginFacade, get_plugin_manager
from instrument.values import DK

LATITUDE = """\
meta: {id: lat, version: "1", title: Latitude, languages: [en]}
items:
  - id: lat
    type: decimal
    min: -90
    max: 90
    places: 4
    text: Latitude?
"""

NO_MIN = """\
meta: {id: nomin, version: "1", title: No minimum, languages: [en]}
items:
  - id: change
    type: integer
    max: 50
    text: By how much did it change?
"""

FAR_CODES = LATITUDE.replace("id: lat,", "id: far,").replace(
    "items:\n",
    "missing: {dk: -991, refused: -992, routed_past: -998, unanswered: -999}\nitems:\n",
) + ("  - id: small\n    type: integer\n    min: 1\n    max: 5\n    text: From 1 to 5?\n")


def test_check_refuses_a_range_that_includes_the_missing_codes() -> None:
    result = load_questionnaire_text(LATITUDE, "lat.yaml")
    assert result.questionnaire is None
    (error,) = result.errors
    assert (error.position.line, error.position.col) == (5, 5)  # the question's min
    text = str(error)
    assert text.startswith("lat.yaml:5:5: error: question 'lat'")
    assert "-1 don't know" in text and "-9 unanswered" in text
    # what to do: a frame outside the range, spelt out
    assert "missing: {dk: -991, refused: -992, routed_past: -998, unanswered: -999}" in text


def test_check_refuses_a_range_between_the_codes_and_warns_without_a_min() -> None:
    between = LATITUDE.replace("min: -90", "min: -7").replace("max: 90", "max: -3")
    (error,) = load_questionnaire_text(between, "b.yaml").errors
    assert "between the missing codes -9 and -1" in str(error)
    result = load_questionnaire_text(NO_MIN, "n.yaml")
    assert result.questionnaire is not None
    (warning,) = result.diagnostics
    assert warning.severity == "warning" and warning.position.line == 3
    assert "has no min" in str(warning) and "give it a min" in str(warning)
    # a frame outside the range is fine
    assert load_questionnaire_text(FAR_CODES, "f.yaml").diagnostics == []


def _store_answers(tmp: Path, text: str, answers: list[dict]) -> str:
    result = load_questionnaire_text(text, "q.yaml")
    assert result.questionnaire is not None
    q = result.questionnaire
    tmp.mkdir(exist_ok=True)
    store = open_tmp_store(tmp)
    version = store.add_questionnaire_version(q.id, q.version, q.source_text)
    for seed, given in enumerate(answers, 1):
        state, events = drive(Engine(q), given, seed=seed)
        save(store, version.id, state, events)
    store.close()
    return f"sqlite:///{tmp / 'instrument.db'}"


@pytest.mark.parametrize("fmt", ["csv", "sav"])
def test_colliding_answers_stop_the_export_naming_the_variable(tmp_path, fmt) -> None:
    url = _store_answers(tmp_path, NO_MIN, [{"change": -5}, {"change": 3}, {"change": DK}])
    out = tmp_path / "out"
    facade = PluginFacade(get_plugin_manager())
    with pytest.raises(ExportFailed) as failed:
        run_export(ExportRequest("nomin", out, formats=[fmt], database=url), facade)
    message = str(failed.value)
    assert "change: answers (-5) lie among its missing codes" in message
    assert not out.exists() or not any(out.iterdir())
    # and the command says so in one line, with no traceback
    result = CliRunner().invoke(
        cli, ["export", "--questionnaire", "nomin", "--format", fmt, "--out", str(out),
              "--database", url, "--no-progress"]
    )  # fmt: skip
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "change: answers (-5)" in result.output
    # without a colliding answer it exports
    url = _store_answers(tmp_path / "ok", NO_MIN, [{"change": 3}, {"change": DK}])
    run_export(ExportRequest("nomin", tmp_path / "ok_out", formats=[fmt], database=url), facade)


def test_print_formats_hold_the_missing_codes_in_pspp(tmp_path) -> None:
    need_program("pspp")
    url = _store_answers(
        tmp_path, FAR_CODES, [{"lat": 51.4816, "small": 2}, {"lat": -33.8688, "small": 5}]
    )
    out = tmp_path / "out"
    facade = PluginFacade(get_plugin_manager())
    run_export(ExportRequest("far", out, formats=["sav", "csv"], database=url), facade)
    import pyreadstat

    _, meta = pyreadstat.read_sav(str(out / "far.sav"), metadataonly=True)
    assert meta.original_variable_types["small"] == "F4.0"  # -999 needs four places
    assert meta.original_variable_types["lat"] == "F9.4"  # -999.0000
    for syntax in ('GET FILE="far.sav".', 'INSERT FILE="far.sps".'):
        listing = _pspp(out, f"{syntax}\nDISPLAY DICTIONARY.\n")
        assert "-999 THRU -991" in listing
        assert "***" not in listing, listing  # a code too wide for its format
        assert "-991" in listing.split("Table: Value Labels", 1)[1]
    # R's haven reads the same formats and the codes as user-missing
    rscript = need_program("Rscript")
    script = (
        'suppressMessages(library(haven)); s <- read_sav("far.sav", user_na = TRUE); '
        'cat(attr(s$small, "format.spss"), attr(s$lat, "format.spss"), '
        'paste(attr(s$small, "na_range"), collapse = " "), sep = "|")'
    )
    result = subprocess.run(
        [rscript, "-e", script], cwd=out, capture_output=True, text=True, timeout=180
    )
    if "there is no package called" in result.stderr:
        pytest.skip("R package haven is not installed")
    assert result.stdout == "F4.0|F9.4|-999 -991", result.stderr
