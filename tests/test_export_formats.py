"""What an export writes is decided by the formats themselves, and it says what it left out.

A third party's formats (``tests/plugins_for_tests/dataset_formats_plugin.py``)
are chosen by default, named, written per loop, described in the README and
listed in the checksums exactly like the built-ins; the export command holds
no list of format names. Exports run through the real CLI on a real SQLite
store of interviews driven through the real engine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_dataset_support import (
    MINI,
    MINI_CHILDREN,
    drive,
    load,
    mini_interviews,
    open_tmp_store,
    save,
)

from instrument.cli import cli
from instrument.engine import Engine
from instrument.exporting import left_out_sentence
from instrument.plugin_types import OutputFormat
from instrument.plugins import PluginFacade, get_plugin_manager

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from plugins_for_tests import dataset_formats_plugin


def facade_with_third_party_formats() -> PluginFacade:
    pm = get_plugin_manager(load_entrypoints=False, strict=True)
    pm.register(dataset_formats_plugin, name="dataset_formats")
    return PluginFacade(pm)


def export(url: str, out: Path, *options: str, facade: PluginFacade | None = None):
    args = ["export", "--questionnaire=mini", f"--out={out}", f"--database={url}", "--no-progress"]
    return CliRunner().invoke(cli, [*args, *options], obj=facade)


@pytest.fixture(scope="module")
def store_url(tmp_path_factory) -> str:
    """Every kind of mini interview, and one test interview."""
    tmp = tmp_path_factory.mktemp("formats")
    store = open_tmp_store(tmp)
    q = load(MINI)
    version = store.add_questionnaire_version(q.id, q.version, q.source_text)
    for state, events in mini_interviews(Engine(q)).values():
        save(store, version.id, state, events)
    state, events = drive(Engine(q), MINI_CHILDREN, seed=9)
    save(store, version.id, state, events, is_test=True)
    store.close()
    return f"sqlite:///{tmp / 'instrument.db'}"


def test_a_third_party_format_is_chosen_named_and_described_like_a_built_in(store_url, tmp_path):
    out = tmp_path / "out"
    result = export(
        store_url,
        out,
        "--long-loops",
        "--include-partial",
        facade=facade_with_third_party_formats(),
    )
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    # its own default format, with its suffix and its second file, also per loop
    assert {
        "mini_rows.jsonl",
        "mini.txt",
        "mini_kids_long_rows.jsonl",
        "mini_kids_long.txt",
    } <= names
    # its always-written format, and the built-in defaults beside it
    assert {"mini_summary.txt", "mini.sav", "mini_ddi.xml", "mini_dictionary.csv"} <= names
    assert not any(name.endswith(".needy") for name in names)  # not a default
    rows = [json.loads(line) for line in (out / "mini_rows.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and {"case_id", "comment"} <= set(rows[0])
    readme = (out / "README.md").read_text()
    assert "- `mini_rows.jsonl`: Every case as one JSON object." in readme
    assert "- `mini.txt`: How many rows." in readme
    assert "- `mini_kids_long_rows.jsonl`: A loop as a long file" in readme
    assert "- `mini.sav`: SPSS data file" in readme  # a built-in's sentence, from its descriptor
    listed = dict(
        reversed(line.split("  ", 1)) for line in (out / "SHA256SUMS").read_text().splitlines()
    )
    assert set(listed) == names - {"SHA256SUMS"}
    assert (
        listed["mini_rows.jsonl"]
        == hashlib.sha256((out / "mini_rows.jsonl").read_bytes()).hexdigest()
    )


def test_an_always_written_format_comes_with_any_selection(store_url, tmp_path):
    out = tmp_path / "out"
    result = export(store_url, out, "--format=csv", facade=facade_with_third_party_formats())
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert {"mini.csv", "mini.sps", "mini_summary.txt", "mini_dictionary.csv"} <= names
    assert "mini_rows.jsonl" not in names and "mini.sav" not in names


def test_an_always_written_format_that_cannot_write_is_left_out_with_a_note(store_url, tmp_path):
    out = tmp_path / "out"
    result = export(store_url, out, "--since=2999-01-01", facade=facade_with_third_party_formats())
    assert result.exit_code == 0, result.output
    assert "mini: 0 cases" in result.output
    assert "mini_summary.txt was not written: there are no cases to summarise" in result.output
    assert not (out / "mini_summary.txt").exists() and (out / "mini_rows.jsonl").exists()


def test_a_format_without_its_module_names_the_fix_and_writes_nothing(store_url, tmp_path):
    out = tmp_path / "out"
    result = export(store_url, out, "--format=csv,needy", facade=facade_with_third_party_formats())
    assert result.exit_code != 0
    assert (
        f"format needy needs {dataset_formats_plugin.ABSENT_MODULE}: "
        f"pip install {dataset_formats_plugin.ABSENT_MODULE}"
    ) in result.output
    assert not out.exists()


def test_left_out_interviews_are_counted_with_the_option_that_takes_them_in(tmp_path):
    store = open_tmp_store(tmp_path)
    q = load(MINI)
    version = store.add_questionnaire_version(q.id, q.version, q.source_text)
    engine = Engine(q)
    runs = mini_interviews(engine)
    for name in ("partial", "screened"):
        save(store, version.id, *runs[name])
    save(store, version.id, *runs["web"], is_test=True)
    withdrawn = save(store, version.id, *runs["welsh"])
    store.withdraw_interview(withdrawn)
    store.close()
    url = f"sqlite:///{tmp_path / 'instrument.db'}"

    result = export(url, tmp_path / "a", "--format=csv")
    assert result.exit_code == 0, result.output
    assert "mini: 0 cases" in result.output
    assert (
        "Left out 4 interviews: 1 partial, break-off or unfinished (add --include-partial); "
        "1 screened out (add --include-partial); 1 test (add --include-test); "
        "1 withdrawn, answers deleted." in result.output
    )
    result = export(url, tmp_path / "b", "--format=csv", "--include-partial", "--include-test")
    assert result.exit_code == 0, result.output
    assert "mini: 3 cases" in result.output
    assert "Left out 1 interview: 1 withdrawn, answers deleted." in result.output
    result = export(url, tmp_path / "c", "--format=csv", "--include-test", "--since=2999-01-01")
    assert "Left out 4 interviews: 3 last updated before --since; 1 withdrawn" not in result.output
    assert "4 last updated before --since" in result.output


def test_nothing_left_out_says_nothing_more() -> None:
    assert left_out_sentence({}) is None and left_out_sentence({"test": 0}) is None


# ------------------------------------------------------------------ the descriptor's own rules


def _write(dataset: object, dest: Path) -> None:
    dest.write_text("x")


def test_output_format_names_its_files_and_describes_them() -> None:
    spec = OutputFormat(
        "csvplus",
        ("csv", "sps"),
        "text/csv",
        _write,
        suffix="_plus.csv",
        descriptions={"csv": "Codes.", "sps": "Syntax."},
    )
    assert spec.file_names("study") == ("study_plus.csv", "study.sps")
    assert spec.describe("study_plus.csv") == "Codes." and spec.describe("study.sps") == "Syntax."
    plain = OutputFormat("feather", ("feather",), "application/x-feather", _write)
    assert plain.file_names("s") == ("s.feather",) and plain.describe("s.feather") == ""
    assert plain.default is plain.always is plain.per_loop is False


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"suffix": "_ddi.json"}, "must be letters, digits, _ . - ending in .xml"),
        ({"suffix": "a/b.xml"}, "must be letters, digits"),
        ({"default": True, "always": True}, "cannot also be a default"),
        ({"descriptions": {"csv": "Nope."}}, "'csv' is not one of its extensions"),
        ({"descriptions": {"xml": " "}}, "must be a sentence"),
        ({"per_loop": "yes"}, "per_loop must be True or False"),
    ],
)
def test_output_format_refuses_inconsistent_properties(kwargs, message) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        OutputFormat("ddi", ("xml",), "application/xml", _write, **kwargs)


def test_the_built_in_formats_carry_the_properties_the_export_reads() -> None:
    formats = PluginFacade(get_plugin_manager(load_entrypoints=False)).output_formats()
    assert sorted(n for n, f in formats.items() if f.default) == [
        "csv",
        "ddi",
        "dta",
        "parquet",
        "sav",
    ]
    assert sorted(n for n, f in formats.items() if f.always) == ["dictionary", "paradata"]
    assert sorted(n for n, f in formats.items() if f.per_loop) == ["csv", "dta", "parquet", "sav"]
    assert formats["ddi"].file_names("s") == ("s_ddi.xml",)
    for spec in formats.values():
        assert all(spec.describe(name) for name in spec.file_names("s")), spec.name
        assert spec.missing_requirements() == (), spec.name  # the plain install has them all


def test_ddi_is_written_without_lxml(monkeypatch, tmp_path) -> None:
    """The plain install has no lxml: the DDI file is the standard library's work."""
    from instrument.dataset import build_dataset
    from instrument_outputs import ddi

    q = load(MINI)
    items = [
        (state.to_json(), {"id": name}) for name, (state, _) in mini_interviews(Engine(q)).items()
    ]
    dataset = build_dataset(
        q, items, include_partial=True, exported_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    )
    monkeypatch.setitem(sys.modules, "lxml", None)  # any `import lxml` now fails
    monkeypatch.setitem(sys.modules, "lxml.etree", None)
    ddi.write(dataset, tmp_path / "mini_ddi.xml")
    ns = {"d": ddi.NAMESPACE}
    root = ET.parse(tmp_path / "mini_ddi.xml").getroot()
    assert root.tag == f"{{{ddi.NAMESPACE}}}codeBook" and root.get("version") == "2.5"
    assert root.find(".//d:var[@name='parent']/d:labl", ns).text == "Are you a parent?"
