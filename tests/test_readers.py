"""The export read by programs we did not write: GNU PSPP and R (haven).

Each test skips, saying why, when the program is missing, and fails instead
when the environment variable CI is set (CI installs them).
"""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

import pytest
from test_dataset_support import need_program
from test_export import exported  # noqa: F401  (the module-scoped export fixture)


def _pspp(directory: Path, syntax: str) -> str:
    pspp = need_program("pspp")
    script = directory / "_check.sps"
    script.write_text(syntax, encoding="utf-8")
    result = subprocess.run(
        [pspp, "-O", "format=csv", str(script)],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
    )
    script.unlink()
    assert "error:" not in result.stdout + result.stderr, result.stdout + result.stderr
    return result.stdout


def _table(output: str, title: str) -> list[dict[str, str]]:
    block = output.split(f"Table: {title}\n", 1)[1].split("\n\n", 1)[0]
    return list(csv.DictReader(io.StringIO(block)))


def test_pspp_reads_the_sav_with_labels_levels_and_missing_values(exported):
    out = exported["out"]
    listing = _pspp(
        out,
        'GET FILE="mini.sav".\nDISPLAY DICTIONARY.\nDISPLAY DOCUMENTS.\nFREQUENCIES VARIABLES=n_kids.\n',
    )
    # regression: pyreadstat's long-string missing-value record made PSPP call the file broken
    assert "warning" not in listing
    rows = {r["Name"]: r for r in _table(listing, "Variables")}
    cb = {v["name"]: v for v in exported["codebook"]["variables"]}
    assert list(rows) == list(cb)
    for name, info in cb.items():
        assert rows[name]["Label"] == info["label"]
        assert rows[name]["Measurement Level"].lower() == info["level"]
    assert rows["parent"]["Missing Values"] == "-9 THRU -1"
    assert rows["youngest"]["Missing Values"] == "-8"
    assert "version 1" in listing  # the note, read as SPSS documents
    # FREQUENCIES counts the codes as missing, not as answers
    assert "Missing,Inapplicable (routed past)," in listing and ",Refused," in listing


def test_pspp_runs_the_sps_on_the_csv_and_gets_the_same_dictionary(exported):
    import pyreadstat

    out = exported["out"]
    _pspp(out, 'INSERT FILE="mini.sps".\nSAVE OUTFILE="_from_csv.sav".\n')
    try:
        frame_csv, meta_csv = pyreadstat.read_sav(str(out / "_from_csv.sav"), user_missing=True)
    finally:
        (out / "_from_csv.sav").unlink(missing_ok=True)
    frame_sav, meta_sav = pyreadstat.read_sav(str(out / "mini.sav"), user_missing=True)
    assert meta_csv.column_names == meta_sav.column_names
    assert meta_csv.column_names_to_labels == meta_sav.column_names_to_labels
    assert meta_csv.variable_measure == meta_sav.variable_measure
    assert meta_csv.file_label == meta_sav.file_label
    for name in meta_sav.column_names:
        assert meta_csv.variable_value_labels.get(name) == meta_sav.variable_value_labels.get(
            name
        ), name
        expected = meta_sav.missing_ranges.get(name)
        found = meta_csv.missing_ranges.get(name)
        if found and isinstance(found[0]["lo"], str):
            # PSPP pads string missing values to the variable's width; the .sav declares
            # them only on strings of up to 8 bytes (see docs/exports.md)
            found = sorted(d["lo"].rstrip() for d in found)
            expected = sorted(d["lo"] for d in expected) if expected else None
            if expected is None:
                assert frame_sav[name].map(lambda v: len(str(v).encode("utf-8"))).max() > 8, name
                continue
        assert found == expected, name
    assert set(meta_csv.mr_sets) == {"heard"}
    assert meta_csv.mr_sets["heard"]["variable_list"] == [
        "heard_1",
        "heard_2",
        "heard_3",
        "heard_96",
        "heard_97",
    ]
    numeric = [c for c in frame_sav.columns if frame_sav[c].dtype.kind in "if"]
    assert frame_csv[numeric].equals(frame_sav[numeric])
    # the CSV's open text was neutralised for spreadsheets; the .sps undoes it exactly
    assert frame_csv["comment"].str.rstrip().tolist() == frame_sav["comment"].tolist()
    assert "=1+2 and @me" in set(frame_csv["comment"].str.rstrip())


R_CHECK = r"""
suppressMessages(library(haven))
s <- read_sav("mini.sav", user_na = TRUE)
d <- read_dta("mini.dta")
csv_file <- "mini.csv"
source("mini.R", encoding = "UTF-8")
flat <- function(x) if (is.null(x)) "" else paste(format(x, trim = TRUE), collapse = "|")
labs <- function(x) { l <- attr(x, "labels"); if (is.null(l)) "" else paste(paste(unname(l), names(l), sep = "="), collapse = "|") }
for (n in names(s)) {
  same <- isTRUE(all.equal(as.vector(unclass(data[[n]])), as.vector(unclass(s[[n]])), check.attributes = FALSE))
  cat(n, attr(s[[n]], "label"), attr(data[[n]], "label"), attr(d[[n]], "label"),
      flat(attr(s[[n]], "na_range")), flat(attr(data[[n]], "na_range")),
      flat(attr(s[[n]], "na_values")), flat(attr(data[[n]], "na_values")),
      labs(s[[n]]), labs(data[[n]]), labs(d[[n]]), same, sep = "\t")
  cat("\n")
}
"""


def test_r_haven_reads_sav_and_dta_and_sources_the_r_script(exported):
    rscript = need_program("Rscript")
    out = exported["out"]
    result = subprocess.run(
        [rscript, "-e", R_CHECK], cwd=out, capture_output=True, text=True, timeout=180
    )
    if "there is no package called" in result.stderr:
        if __import__("os").environ.get("CI"):
            pytest.fail(result.stderr)
        pytest.skip("R package haven is not installed")
    assert result.returncode == 0, result.stderr
    rows = {}
    for line in result.stdout.splitlines():
        fields = line.split("\t")
        rows[fields[0]] = fields
    cb = {v["name"]: v for v in exported["codebook"]["variables"]}
    assert list(rows) == list(cb)
    for name, (
        _,
        sav_label,
        r_label,
        dta_label,
        sav_range,
        r_range,
        sav_values,
        r_values,
        sav_labels,
        r_labels,
        dta_labels,
        same,
    ) in rows.items():
        info = cb[name]
        assert sav_label == r_label == dta_label == info["label"], name
        assert same == "TRUE", name
        assert sav_range == r_range, name
        if info["storage"] != "str":
            assert sav_values == r_values, name
            assert sav_labels == r_labels, name
            if info["storage"] in ("int", "float"):
                assert set(dta_labels.split("|")) == set(sav_labels.split("|")), name
    assert rows["parent"][4] == "-9|-1"
    assert rows["youngest"][6] == "-8"
    assert "-1=Don't know" in rows["parent"][8]
    # strings: SPSS declares three missing codes, R all four
    assert set(rows["comment"][7].split("|")) == {"-1", "-2", "-8", "-9"}
