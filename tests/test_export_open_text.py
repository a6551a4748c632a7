"""An open-text answer typed as a missing code ("-8") can be told from the code.

Text variables hold the missing codes as text and SPSS declares them missing,
so an answer typed as ``-8`` used to be read as "routed past" by every
program. It is now exported with one leading apostrophe (``'-8``). Checked
by readers we did not write: pyreadstat (ReadStat) on the ``.sav``, and GNU
PSPP running the generated ``.sps`` on the CSV, asked which cells are missing.
"""

from __future__ import annotations

import csv
import io

import pytest
from click.testing import CliRunner
from test_dataset_support import MINI, MINI_CHILDREN, drive, load, open_tmp_store, save
from test_readers import _pspp

from instrument.cli import cli
from instrument.dataset import Pseudonymiser, build_dataset
from instrument.dataset.coding import escape_text
from instrument.engine import Engine

SECRET = b"open text typed as a code, secret"
TYPED = {"typed_code": "-8", "typed_quoted": "'-9", "typed_plain": "-8 apples"}


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("open_text")
    store = open_tmp_store(tmp)
    q = load(MINI)
    version = store.add_questionnaire_version(q.id, q.version, q.source_text)
    engine = Engine(q)
    case = {"region": 1, "profile_kids": 2}
    ids = {}
    for name, text in TYPED.items():
        state, events = drive(engine, {**MINI_CHILDREN, "comment": text}, case=case)
        ids[name] = save(store, version.id, state, events)
    state, events = drive(engine, {"parent": 2})  # screened out: comment routed past
    ids["screened"] = save(store, version.id, state, events)
    store.close()
    (tmp / "secret").write_bytes(SECRET)
    out = tmp / "out"
    result = CliRunner().invoke(
        cli,
        [
            "export",
            "--questionnaire=mini",
            "--format=sav,csv",
            f"--out={out}",
            f"--database=sqlite:///{tmp / 'instrument.db'}",
            "--include-partial",
            f"--secret-file={tmp / 'secret'}",
            "--no-progress",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    pseudonym = Pseudonymiser(SECRET)
    return {"out": out, "case": {name: pseudonym.case_id(i) for name, i in ids.items()}}


def test_escape_is_reversible_and_never_yields_a_code() -> None:
    codes = frozenset({"-1", "-2", "-8", "-9"})
    for typed in ("-8", "'-8", "''-9", "-8 apples", "'quoted'", "", "8"):
        out = escape_text(typed, codes)
        assert out not in codes
        back = out[1:] if out.lstrip("'") in codes else out
        assert back == typed


def test_the_build_and_the_stored_row_escape_alike() -> None:
    q = load(MINI)
    engine = Engine(q)
    state, _ = drive(
        engine, {**MINI_CHILDREN, "comment": "-9"}, case={"region": 1, "profile_kids": 2}
    )
    from instrument.dataset import RowCoder

    item = (state.to_json(), {"id": "a"})
    rowed = (state.to_json(), {"id": "b", "export_row": RowCoder(q).encode(state)})
    frame = build_dataset(q, [item, rowed]).frame
    assert frame["comment"].tolist() == ["'-9", "'-9"]


def test_pyreadstat_reads_the_typed_text_as_an_answer_and_the_code_as_missing(export) -> None:
    import pyreadstat

    frame, meta = pyreadstat.read_sav(str(export["out"] / "mini.sav"), user_missing=True)
    by_case = dict(zip(frame["case_id"], frame["comment"]))
    case = export["case"]
    assert by_case[case["typed_code"]] == "'-8"
    assert by_case[case["typed_quoted"]] == "''-9"
    assert by_case[case["typed_plain"]] == "-8 apples"
    assert by_case[case["screened"]] == "-8"
    labels = meta.variable_value_labels["comment"]
    assert labels["-8"] == "Inapplicable (routed past)" and "'-8" not in labels


def test_pspp_counts_only_the_code_as_missing(export) -> None:
    listing = _pspp(export["out"], 'INSERT FILE="mini.sps".\nFREQUENCIES VARIABLES=comment.\n')
    block = listing.split(",,Frequency,Percent,", 1)[1].split("\n\n", 1)[0]
    rows = list(csv.reader(io.StringIO(block)))[1:]
    section = ""
    counted: dict[str, dict[str, str]] = {"Valid": {}, "Missing": {}}
    for first, value, frequency, *_ in rows:
        section = first or section
        if section in counted:
            counted[section][value.strip()] = frequency
    assert counted["Valid"] == {"''-9": "1", "'-8": "1", "-8 apples": "1"}
    assert counted["Missing"] == {"Inapplicable (routed past)": "1"}
