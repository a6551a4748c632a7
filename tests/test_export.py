"""`instrument export` end to end: real interviews in a real store, files read back by pyreadstat, pandas, pyarrow and lxml.

Readers we did not write (PSPP, R) are in tests/test_readers.py.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from test_dataset_support import (
    FLAGSHIP,
    MINI,
    MINI_CHILDREN,
    drive,
    load,
    mini_interviews,
    open_tmp_store,
    save,
)

from instrument.cli import cli
from instrument.dataset import Pseudonymiser, build_dataset
from instrument.engine import Engine
from instrument.loader import load_questionnaire_text
from instrument.scenarios import run_scenarios

XSD = (
    Path(__file__).resolve().parent.parent.parent
    / "shared"
    / "data"
    / "ddi-codebook-2.5.1"
    / "schemas"
    / "codebook.xsd"
)
SECRET = "an export secret of enough length"
PERSONAL = ("Ada Lovelace", "ada@example.org", "+447700900123")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A SQLite store with mini interviews of every kind, exported with every format."""
    tmp = tmp_path_factory.mktemp("export")
    store = open_tmp_store(tmp)
    q = load(MINI)
    version = store.add_questionnaire_version(q.id, q.version, q.source_text)
    ids = {}
    for name, (state, events) in mini_interviews(Engine(q)).items():
        ids[name] = save(store, version.id, state, events)
    test_state, test_events = drive(Engine(q), MINI_CHILDREN, seed=9)
    ids["test"] = save(store, version.id, test_state, test_events, is_test=True)
    for name in ids:
        store.set_contact(f"case-{name}", name=PERSONAL[0], email=PERSONAL[1], phone=PERSONAL[2])
    store.close()
    secret = tmp / "secret"
    secret.write_text(SECRET)
    out = tmp / "out"
    url = f"sqlite:///{tmp / 'instrument.db'}"
    result = CliRunner().invoke(
        cli,
        [
            "export",
            "--questionnaire",
            "mini",
            "--format",
            "sav,dta,csv,parquet,ddi",
            "--out",
            str(out),
            "--database",
            url,
            "--include-partial",
            "--long-loops",
            "--secret-file",
            str(secret),
            "--no-progress",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out / "mini.parquet")
    codebook = json.loads(
        __import__("pyarrow.parquet")
        .parquet.read_schema(out / "mini.parquet")
        .metadata[b"instrument.codebook"]
    )
    return {
        "out": out,
        "ids": ids,
        "url": url,
        "frame": frame,
        "codebook": codebook,
        "secret": secret,
        "q": q,
    }


def test_export_writes_every_file_with_a_checksum(exported):
    out = exported["out"]
    names = {p.name for p in out.iterdir()}
    for expected in (
        "mini.sav",
        "mini.dta",
        "mini.csv",
        "mini.sps",
        "mini.do",
        "mini.R",
        "mini.parquet",
        "mini_ddi.xml",
        "mini_dictionary.csv",
        "mini_paradata.csv",
        "README.md",
        "SHA256SUMS",
        "mini_kids_long.sav",
        "mini_per_source_long.csv",
    ):
        assert expected in names
    listed = {}
    for line in (out / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    assert set(listed) == names - {"SHA256SUMS"}
    for name, digest in listed.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest


def test_default_filters_partial_and_test_interviews(exported):
    frame = exported["frame"]
    assert (
        len(frame) == 8
    )  # every mini interview, partial and screened out included, the test one not
    assert set(frame["outcome"]) == {1, 2, 3}
    case = Pseudonymiser(SECRET).case_id(exported["ids"]["web"])
    assert case in set(frame["case_id"])  # the configured secret gives stable ids


def test_nothing_personal_or_internal_reaches_any_file(exported):
    blobs = b"".join(p.read_bytes() for p in exported["out"].iterdir())
    for secret in PERSONAL + tuple(exported["ids"].values()) + ("I-7", "I-9", "case-web"):
        assert secret.encode() not in blobs, secret


def test_sav_reads_back_with_labels_missing_values_and_levels(exported):
    import pyreadstat

    frame, meta = pyreadstat.read_sav(str(exported["out"] / "mini.sav"), user_missing=True)
    cb = {v["name"]: v for v in exported["codebook"]["variables"]}
    assert list(frame.columns) == list(cb)
    assert meta.file_label == "A small questionnaire with every construct"
    assert any("version 1" in note for note in meta.notes)
    for name, info in cb.items():
        assert meta.column_names_to_labels[name] == info["label"]
    labels = meta.variable_value_labels["parent"]
    assert labels == {
        1.0: "Yes",
        2.0: "No",
        -1.0: "Don't know",
        -2.0: "Refused",
        -8.0: "Inapplicable (routed past)",
        -9.0: "Missing (on route, not answered)",
    }
    assert meta.missing_ranges["parent"] == [{"lo": -9.0, "hi": -1.0}]
    assert meta.missing_ranges["youngest"] == [{"lo": -8.0, "hi": -8.0}]
    assert (
        "comment" not in meta.missing_ranges
    )  # a string over 8 bytes: labels only (ReadStat/PSPP issue)
    assert meta.variable_value_labels["comment"]["-8"] == "Inapplicable (routed past)"
    assert (
        meta.variable_measure["n_kids"] == "scale" and meta.variable_measure["parent"] == "nominal"
    )
    assert meta.original_variable_types["height"] == "F4.1"
    assert frame["parent"].tolist() == exported["frame"]["parent"].tolist()
    # with user_missing off, the codes are missing to SPSS
    plain, _ = pyreadstat.read_sav(str(exported["out"] / "mini.sav"))
    assert plain["n_kids"].isna().sum() == (exported["frame"]["n_kids"] < 0).sum()


def test_dta_is_format_118_with_labels_and_small_integers(exported):
    import pyreadstat

    path = exported["out"] / "mini.dta"
    assert path.read_bytes()[:50].startswith(b"<stata_dta><header><release>118</release>")
    frame, meta = pyreadstat.read_dta(str(path))
    assert meta.column_names_to_labels["parent"] == "Are you a parent?"
    assert meta.variable_value_labels["parent"][-8] == "Inapplicable (routed past)"
    assert meta.readstat_variable_types["parent"] == "int8"
    assert meta.readstat_variable_types["height"] == "double"
    assert meta.variable_value_labels["height"][-9] == "Missing (on route, not answered)"
    assert frame["n_kids"].tolist() == exported["frame"]["n_kids"].tolist()


def test_csv_holds_codes_and_neutralises_formulas(exported):
    out = exported["out"]
    with open(out / "mini.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    comments = {r["comment"] for r in rows}
    assert "'=1+2 and @me" in comments and "=1+2 and @me" not in comments
    assert "-9" in comments and "-8" in comments  # missing codes are not touched
    assert [int(r["parent"]) for r in rows] == exported["frame"]["parent"].tolist()
    assert exported["frame"]["comment"].str.startswith("=").any()  # binary formats keep the text
    sps = (out / "mini.sps").read_text()
    assert (
        "MRSETS" in sps
        and "/MDGROUP NAME=$heard" in sps
        and "MISSING VALUES parent (-9 THRU -1)." in sps
    )
    do = (out / "mini.do").read_text()
    assert 'label define parent 1 `"Yes"\'' in do and "version 14" in do
    r = (out / "mini.R").read_text()
    assert "labelled_spss(" in r and "na_range = c(-9, -1)" in r


def test_parquet_carries_the_codebook(exported):
    cb = exported["codebook"]
    assert cb["missing_codes"] == {"dk": -1, "refused": -2, "routed_past": -8, "unanswered": -9}
    assert [g["name"] for g in cb["groups"]] == ["heard"]
    assert exported["frame"]["parent"].dtype == np.int8


def test_ddi_validates_against_the_2_5_schema(exported):
    from lxml import etree

    if not XSD.exists():
        pytest.skip(f"the DDI schema is not at {XSD}")
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    doc = etree.parse(str(exported["out"] / "mini_ddi.xml"))
    assert schema.validate(doc), schema.error_log
    ns = {"d": "ddi:codebook:2_5"}
    assert doc.find(".//d:varGrp[@name='heard']", ns).get("type") == "multipleResp"
    parent = doc.find(".//d:var[@name='parent']", ns)
    assert parent.find("d:qstn/d:qstnLit", ns).text == "Are you a parent?"
    assert "READ OUT" in parent.find("d:qstn/d:ivuInstr", ns).text
    missing = [c.find("d:catValu", ns).text for c in parent.findall("d:catgry[@missing='Y']", ns)]
    assert missing == ["-1", "-2", "-8", "-9"]
    assert doc.find(".//d:caseQnty", ns).text == "8"


def test_dictionary_paradata_and_readme(exported):
    out = exported["out"]
    dictionary = pd.read_csv(out / "mini_dictionary.csv", dtype=str, keep_default_na=False)
    assert list(dictionary["name"]) == list(exported["frame"].columns)
    parent = dictionary[dictionary["name"] == "parent"].iloc[0]
    assert (
        parent["text_web_cy"] == "Ydych chi'n rhiant?"
        and "[-8] Inapplicable" in parent["missing_codes"]
    )
    paradata = pd.read_csv(out / "mini_paradata.csv", dtype=str, keep_default_na=False)
    assert set(paradata["case_id"]) <= set(exported["frame"]["case_id"])
    assert {"submit", "back"} <= set(paradata["event"])
    assert any(e.startswith("mode_switch:web->cati") for e in paradata["event"])
    submits = paradata[paradata["event"] == "submit"]
    assert (submits["seconds"].astype(float) == 7).all()
    assert "kid_age" in set(submits["questions"])
    readme = (out / "README.md").read_text()
    assert "`-8`: Inapplicable (routed past)" in readme and "mini.sav" in readme


def test_unknown_questionnaire_and_format_are_clear_errors(exported, tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "export",
            "--questionnaire",
            "nope",
            "--out",
            str(tmp_path / "x"),
            "--database",
            exported["url"],
        ],
    )
    assert (
        result.exit_code != 0
        and "no questionnaire 'nope'" in result.output
        and "mini" in result.output
    )
    result = runner.invoke(
        cli,
        [
            "export",
            "--questionnaire",
            "mini",
            "--format",
            "sav,xls",
            "--out",
            str(tmp_path / "x"),
            "--database",
            exported["url"],
        ],
    )
    assert result.exit_code != 0 and "unknown format(s) xls" in result.output


# ----------------------------------------------------------------- traps of outputs.md


def _variant(q, old: str, new: str):
    result = load_questionnaire_text(q.source_text.replace(old, new, 1), "variant.yaml")
    assert result.questionnaire is not None, [str(d) for d in result.errors]
    return result.questionnaire


def _build(q, answers=MINI_CHILDREN):
    state, _ = drive(Engine(q), answers)
    return build_dataset(q, [(state.to_json(), {"id": "x"})])


def test_long_labels_are_shortened_by_the_rule_and_kept_whole_in_the_dictionary(tmp_path):
    import pyreadstat

    from instrument_outputs import dictionary, dta, sav

    long_text = "How many children " + "who live with you most of the time " * 10 + "are there?"
    q = _variant(load(MINI), 'text: {en: "How many children?"', f'text: {{en: "{long_text}"')
    ds = _build(q)
    info = ds.codebook["n_kids"]
    assert len(info.label) > 256
    dta.write(ds, tmp_path / "x.dta")
    sav.write(ds, tmp_path / "x.sav")
    dictionary.write(ds, tmp_path / "d.csv")
    _, meta = pyreadstat.read_dta(str(tmp_path / "x.dta"))
    short = meta.column_names_to_labels["n_kids"]
    assert len(short.encode()) <= 80 and short.endswith("...") and long_text.startswith(short[:-3])
    _, meta = pyreadstat.read_sav(str(tmp_path / "x.sav"))
    spss_label = meta.column_names_to_labels["n_kids"]
    assert len(spss_label.encode()) <= 256 and spss_label.endswith(
        "..."
    )  # ours, not pyreadstat's silent cut
    row = pd.read_csv(tmp_path / "d.csv", dtype=str).set_index("name").loc["n_kids"]
    assert row["label"] == info.label and row["label_dta"] == short


def test_long_value_labels_are_shortened_for_spss_not_truncated(tmp_path):
    import pyreadstat

    from instrument_outputs import sav

    long_label = "Agree, " + "and I would say so to anyone who asked me about it " * 4
    q = _variant(
        load(MINI),
        "{code: 1, label: {en: Agree, cy: Cytuno}}",
        f'{{code: 1, label: {{en: "{long_label}", cy: Cytuno}}}}',
    )
    ds = _build(q)
    sav.write(ds, tmp_path / "x.sav")
    _, meta = pyreadstat.read_sav(str(tmp_path / "x.sav"))
    label = meta.variable_value_labels["b1"][1.0]
    assert len(label.encode()) <= 120 and label.endswith("...")
    assert ds.codebook["b1"].value_labels[1] == long_label


def test_a_name_stata_cannot_take_stops_the_export_before_any_file(tmp_path):
    from instrument_outputs import dta, sav
    from instrument_outputs.common import ExportError

    # The loader already refuses ids whose export names do not fit; this is the
    # writers' own line of defence, for datasets built some other way.
    ds = _build(load(MINI))
    long_name = "how_many_children_live_here_most_of_the_time"
    ds.frame = ds.frame.rename(columns={"n_kids": long_name, "b1": "_all"})
    ds.codebook.variables = {
        {"n_kids": long_name, "b1": "_all"}.get(k, k): v for k, v in ds.codebook.variables.items()
    }
    problem = dta.can_write(ds)
    assert f"{long_name}: not a valid Stata name (44 bytes, the limit is 32)" in problem
    assert "_all: not a valid Stata name (a reserved word)" in problem
    assert sav.can_write(ds) is not None and "_all" in sav.can_write(ds)
    with pytest.raises(ExportError):
        dta.write(ds, tmp_path / "x.dta")
    assert not (tmp_path / "x.dta").exists()


def test_missing_codes_spss_cannot_declare_are_an_error_not_a_silent_drop():
    from instrument.dataset import VariableInfo
    from instrument_outputs.common import ExportError, spss_missing

    info = VariableInfo(
        "x",
        "x",
        "question",
        "int",
        value_labels={-5: "Real negative answer"},
        missing={-1: "a", -2: "b", -8: "c", -9: "d"},
    )
    with pytest.raises(ExportError, match="three values, or one range"):
        spss_missing(info)
    adjacent = VariableInfo(
        "y", "y", "question", "int", missing={-1: "a", -2: "b", -8: "c", -9: "d"}
    )
    assert spss_missing(adjacent) == [{"lo": -9, "hi": -1}]
    outlier = VariableInfo(
        "z",
        "z",
        "question",
        "int",
        value_labels={-5: "Real"},
        missing={-6: "a", -7: "b", -8: "c", -1: "d"},
    )
    assert spss_missing(outlier) == [{"lo": -8, "hi": -6}, {"lo": -1, "hi": -1}]


def test_flagship_exports_through_the_store(tmp_path):
    q = load(FLAGSHIP)
    store = open_tmp_store(tmp_path)
    version = store.add_questionnaire_version(q.id, q.version, q.source_text)
    states = [r.state for r in run_scenarios(q) if r.state is not None and r.state.outcome]
    for state in states:
        save(store, version.id, state, [])
    store.close()
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "export",
            "--questionnaire",
            q.id,
            "--out",
            str(out),
            "--database",
            f"sqlite:///{tmp_path / 'instrument.db'}",
            "--include-partial",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    import pyreadstat

    frame, meta = pyreadstat.read_sav(str(out / f"{q.id}.sav"), user_missing=True)
    assert len(frame) == len(states)
    assert all(meta.column_names_to_labels[c] for c in frame.columns)


def test_neutralising_is_reversible():
    from instrument_outputs.common import neutralise

    missing = {"-8": "x"}
    assert neutralise("=SUM(A1)", missing) == "'=SUM(A1)"
    assert (
        neutralise("@cmd", missing) == "'@cmd"
        and neutralise("+1", missing) == "'+1"
        and neutralise("-x", missing) == "'-x"
    )
    assert neutralise("'quoted", missing) == "''quoted"  # so one apostrophe can always be stripped
    assert neutralise("-8", missing) == "-8" and neutralise("plain", missing) == "plain"
