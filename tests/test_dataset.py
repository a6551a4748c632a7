"""The harmonised dataset, built from interviews driven through the real engine."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import numpy as np
import pytest
from test_dataset_support import FLAGSHIP, MINI, MINI_CHILDREN, START, drive, load, mini_interviews

from instrument.dataset import DatasetError, Pseudonymiser, build_dataset, int_dtype_for
from instrument.dataset.coding import light_state as _light_state
from instrument.engine import Engine, State
from instrument.loader import load_questionnaire_text

ADMIN = {
    "case_id",
    "qversion",
    "language",
    "mode",
    "mode_first",
    "mode_switch",
    "started",
    "ended",
    "duration",
    "outcome",
    "interviewer",
}


@pytest.fixture(scope="module")
def mini():
    return load(MINI)


@pytest.fixture(scope="module")
def runs(mini):
    return mini_interviews(Engine(mini))


@pytest.fixture(scope="module")
def dataset(mini, runs):
    items = [(state.to_json(), {"id": name}) for name, (state, _) in runs.items()]
    return build_dataset(mini, items, include_partial=True, pseudonymiser=Pseudonymiser(b"k" * 32))


def row(dataset, runs, name):
    case = Pseudonymiser(b"k" * 32).case_id(name)
    found = dataset.frame[dataset.frame["case_id"] == case]
    assert len(found) == 1
    return found.iloc[0]


def test_light_state_gives_the_engine_the_same_values_as_a_full_state(mini, runs):
    engine = Engine(mini)
    for state, _ in runs.values():
        data = state.to_json()
        assert engine.values(_light_state(data)) == engine.values(State.from_json(data))


def test_complete_interview_is_coded_by_the_missing_frame(dataset, runs):
    r = row(dataset, runs, "web")
    assert r["parent"] == 1 and r["n_kids"] == 2
    assert (r["kid_age_1"], r["kid_age_2"], r["kid_age_3"], r["kid_age_10"]) == (3, 12, -8, -8)
    assert r["youngest"] == 3 and r["n_under5"] == 1
    assert [r[f"heard_{c}"] for c in (1, 2, 3, 96, 97)] == [1, 0, 0, 1, 0]
    assert r["heard_other"] == "a poster"
    assert r["trust_source_1"] == 1 and r["trust_source_96"] == -1  # don't know
    assert r["trust_source_2"] == -8  # iteration that did not happen
    assert r["born"] == "1980-05-01" and r["height"] == pytest.approx(1.7)
    assert r["region"] == 1 and r["arm"] in (1, 2)


def test_routed_past_unanswered_dk_and_refused(dataset, runs):
    screened = row(dataset, runs, "screened")
    assert screened["outcome"] == 3
    assert screened["n_kids"] == -8 and screened["heard_1"] == -8 and screened["born"] == "-8"
    assert screened["region"] == -9  # preload the sample did not supply
    dk = row(dataset, runs, "dk_multi")
    assert dk["n_kids"] == -2
    assert [dk[f"heard_{c}"] for c in (1, 2, 3, 96, 97)] == [-1] * 5
    assert dk["heard_other"] == "-8"  # other not chosen
    skipper = row(dataset, runs, "skipper")
    assert skipper["comment"] == "-9"  # skipped on the web after the prompt
    assert skipper["heard_other"] == "-8"
    assert skipper["g_c"] == -8  # grid row routed past (youngest is 9)


def test_break_off_codes_unreached_questions_unanswered(dataset, runs):
    partial = row(dataset, runs, "partial")
    assert partial["outcome"] == 2
    assert partial["kid_age_1"] == 3 and partial["kid_age_2"] == -9
    assert partial["b1"] == -9 and partial["kid_age_3"] == -8
    assert partial["duration"] == 21  # finish() closed it after three pages of 7 s


def test_mixed_mode_and_other_language_are_coded_like_single_mode(dataset, runs):
    substantive = [c for c in dataset.frame.columns if c not in ADMIN and c != "arm"]
    web = row(dataset, runs, "web")[substantive]
    for name in ("cati", "welsh", "mixed"):
        other = row(dataset, runs, name)[substantive]
        assert other.equals(web), name
    mixed = row(dataset, runs, "mixed")
    assert (mixed["mode_first"], mixed["mode"], mixed["mode_switch"]) == (1, 2, 1)
    assert row(dataset, runs, "welsh")["language"] == 2
    assert dataset.codebook["language"].value_labels == {1: "en", 2: "cy"}


def test_codebook_describes_every_column(dataset):
    cb = dataset.codebook
    assert list(cb.variables) == list(dataset.frame.columns)
    parent = cb["parent"]
    assert parent.value_labels == {1: "Yes", 2: "No"}
    assert parent.missing == {
        -1: "Don't know",
        -2: "Refused",
        -8: "Inapplicable (routed past)",
        -9: "Missing (on route, not answered)",
    }
    assert parent.texts["web"]["cy"] == "Ydych chi'n rhiant?"
    assert parent.texts["cati"]["en"].startswith("READ OUT")
    assert cb["trust_source_1"].value_labels_by_language["cy"][1] == "Cytuno"
    universe = cb["trust_source_96"].universe
    assert (
        "once for each option chosen at heard" in universe and "includes None of these" in universe
    )
    assert "youngest" in cb["g_c"].universe and cb["g_c"].universe.endswith("is less than 5")
    assert cb["heard_96"].group == "heard" and cb["heard_96"].option_code == 96
    assert cb["heard_other"].other_of == "heard"
    assert cb["comment"].missing == {
        "-1": "Don't know",
        "-2": "Refused",
        "-8": "Inapplicable (routed past)",
        "-9": "Missing (on route, not answered)",
    }
    assert cb["youngest"].derived and "min(kid_age)" in cb["youngest"].universe
    group = next(g for g in cb.groups if g.name == "heard")
    assert group.variables == ["heard_1", "heard_2", "heard_3", "heard_96", "heard_97"]
    kids = next(lp for lp in cb.loops if lp.id == "kids")
    assert kids.suffixes == [str(i) for i in range(1, 11)] and kids.variables == ["kid_age"]
    json.dumps(cb.to_dict())  # JSON-serialisable for Parquet metadata


def test_integer_storage_is_sized_to_the_data_within_stata_ranges(dataset):
    assert dataset.frame["parent"].dtype == np.int8
    assert int_dtype_for(-9, 100) == np.int8
    assert int_dtype_for(-9, 101) == np.int16  # Stata's byte stops at 100
    assert int_dtype_for(-9, 32741) == np.int32
    assert int_dtype_for(0, 2**31) == np.float64
    assert not any(dtype == np.int64 for dtype in dataset.frame.dtypes)


def test_default_is_complete_interviews_and_test_data_is_left_out(mini, runs):
    items = [
        (state.to_json(), {"id": name, "is_test": name == "web"})
        for name, (state, _) in runs.items()
    ]
    default = build_dataset(mini, items)
    assert set(default.frame["outcome"]) == {1}
    assert len(default.frame) == 5  # cati, welsh, mixed, dk_multi, skipper
    assert len(build_dataset(mini, items, include_test=True)) == 6
    assert len(build_dataset(mini, items, include_partial=True, include_test=True)) == 8
    later = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert len(build_dataset(mini, items, since=later)) == 0
    assert len(build_dataset(mini, items, since=START)) == 5


def test_case_and_interviewer_ids_are_keyed_hashes(mini, runs):
    state, _ = runs["cati"]
    items = [(state.to_json(), {"id": "interview-uuid-1"})]
    a = build_dataset(
        mini,
        items,
        pseudonymiser=Pseudonymiser(b"s" * 32),
        interviewers={"interview-uuid-1": "I-7"},
    )
    b = build_dataset(
        mini,
        items,
        pseudonymiser=Pseudonymiser(b"s" * 32),
        interviewers={"interview-uuid-1": "I-7"},
    )
    c = build_dataset(
        mini, items, pseudonymiser=Pseudonymiser(None), interviewers={"interview-uuid-1": "I-7"}
    )
    case = a.frame["case_id"][0]
    assert case == b.frame["case_id"][0] != c.frame["case_id"][0]
    assert "interview-uuid-1" not in case and len(case) == 17
    interviewer = a.frame["interviewer"][0]
    assert interviewer.startswith("i") and "I-7" not in interviewer and interviewer != "-9"
    with pytest.raises(ValueError):
        Pseudonymiser(b"short")


def test_long_loop_file_has_only_iterations_that_happened(dataset):
    long = dataset.long("kids")
    assert list(long.frame.columns) == ["case_id", "iteration", "kid_age"]
    completes = dataset.frame[dataset.frame["n_kids"] == 2]
    assert len(long.frame[long.frame["case_id"].isin(completes["case_id"])]) == 2 * len(completes)
    assert long.codebook["kid_age"].missing[-8] == "Inapplicable (routed past)"
    per_source = dataset.long("per_source")
    assert set(per_source.frame["iteration"]) == {1, 96, 97}
    with pytest.raises(DatasetError):
        dataset.long("nope")


def test_versions_are_harmonised_by_variable_name(mini, runs):
    text2 = mini.source_text.replace('version: "1"', 'version: "2"').replace(
        "      - id: height\n",
        '      - id: shoe\n        type: integer\n        text: {en: "Shoe size", cy: "Maint esgid"}\n      - id: height\n',
    )
    v2 = load_questionnaire_text(text2, "v2.yaml").questionnaire
    assert v2 is not None
    new_state, _ = drive(Engine(v2), {**MINI_CHILDREN, "shoe": 9})
    old_state, _ = runs["web"]
    items = [(old_state.to_json(), {"id": "old"}), (new_state.to_json(), {"id": "new"})]
    ds = build_dataset(v2, items, versions={mini.content_hash: mini})
    assert list(ds.frame["qversion"]) == ["1", "2"]
    assert list(ds.frame["shoe"]) == [-8, 9]  # not in version 1: not asked
    assert ds.codebook.versions == ["2", "1"]
    with pytest.raises(DatasetError, match="not given"):
        build_dataset(v2, items)


def test_flagship_scenarios_build(tmp_path):
    from instrument.scenarios import run_scenarios

    q = load(FLAGSHIP)
    states = [r.state for r in run_scenarios(q) if r.state is not None]
    assert states
    ds = build_dataset(
        q, [(s.to_json(), {"id": str(i)}) for i, s in enumerate(states)], include_partial=True
    )
    assert len(ds.frame) == len(states)  # unfinished scenarios count as partial
    assert list(ds.codebook.variables) == list(ds.frame.columns)


def test_core_dataset_imports_no_file_format_or_web_library():
    code = (
        "import sys, pandas\n"
        "before = set(sys.modules)\n"  # pandas 3 itself imports pyarrow when it is installed
        "import instrument.dataset, instrument.dataset.paradata, instrument.dataset.limits\n"
        "bad = [m for m in ('pyreadstat', 'pyarrow', 'flask', 'twilio', 'lxml') if m in set(sys.modules) - before]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=str(MINI.parent.parent.parent),
    )
    assert out.stdout.strip() == ""
