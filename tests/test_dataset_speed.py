"""The fast dataset build gives exactly what the plain, cell-by-cell build gave.

``build_dataset`` codes columns in chunks of interviews (one ``map`` per
column, a per-cell coder only where a column holds something unusual) and
decodes only the parts of a stored state that ``Engine.values`` reads. This
file keeps the original algorithm as a reference, written for clarity: one
interview at a time, the full ``State.from_json`` decode, one ``if`` chain per
cell in the order the builder has always used. Both run on the same simulated
interviews (every mode, break-offs, don't know and refused, other-specify,
dates, decimals, loops, two questionnaire versions interleaved) and must give
identical frames (values, dtypes, column order), codebooks and loop
iterations, and byte-identical CSV files.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_dataset_support import FLAGSHIP, MINI, load

from instrument.dataset import Dataset, Pseudonymiser, build_dataset
from instrument.dataset import builder as fast
from instrument.dataset import rows as row_module
from instrument.dataset.admin import ADMIN
from instrument.dataset.admin import admin_infos as make_admin_infos
from instrument.dataset.codebook import Codebook
from instrument.dataset.limits import shorten_labels
from instrument.dataset.orders import order_values, randomised_items
from instrument.dataset.plan import CODE, DATE, FLOAT, MULTI, OTHER, TEXT, make_plan
from instrument.dataset.versions import collision_notes
from instrument.engine import Engine, State
from instrument.engine.randomisation import Shuffler
from instrument.loader import load_questionnaire_text
from instrument.simulate import simulate
from instrument.values import DK, REFUSED

SECRET = b"s" * 32
EXPORTED = dt.datetime(2026, 4, 1, 12, 0, tzinfo=dt.UTC)
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
_ABSENT = object()


# ------------------------------------------------------------------ the reference


def _int_column(values: list[Any]) -> np.ndarray:
    if not values:
        return np.asarray(values, dtype=np.int8)
    arr = np.asarray(values, dtype=np.int64)
    return arr.astype(fast.int_dtype_for(int(arr.min()), int(arr.max())))


def reference_build(
    questionnaire,
    items,
    *,
    include_partial=False,
    include_test=False,
    versions=None,
    interviewers=None,
):
    """The original build: one interview and one cell at a time (kept here as the specification)."""
    pseudo = Pseudonymiser(SECRET)
    interviewer_of = interviewers or {}
    by_key: dict[Any, Any] = {questionnaire.content_hash: questionnaire, **(versions or {})}
    distinct: dict[str, Any] = {}
    for q in by_key.values():
        distinct.setdefault(q.content_hash, q)
    plans = {h: make_plan(q) for h, q in distinct.items()}
    frame_codes = questionnaire.missing.codes()
    main = plans[questionnaire.content_hash]
    infos = {i.name: i for i in main.infos}
    groups, loops = list(main.groups), {lp.id: lp for lp in main.loops}
    for h, plan in plans.items():
        if h == questionnaire.content_hash:
            continue
        for info in plan.infos:
            if info.name not in infos:
                infos[info.name] = info
            else:
                for code, label in info.value_labels.items():
                    infos[info.name].value_labels.setdefault(code, label)
        groups += [g for g in plan.groups if g.name not in {x.name for x in groups}]
        for lp in plan.loops:
            loops.setdefault(lp.id, lp)
    names = list(infos)
    data: dict[str, list[Any]] = {n: [] for n in names}
    engines = {h: Engine(q) for h, q in distinct.items()}
    languages = list(questionnaire.languages)
    for q in distinct.values():
        languages += [lang for lang in q.languages if lang not in languages]
    version_labels = [questionnaire.version] + sorted(
        {q.version for q in distinct.values()} - {questionnaire.version}
    )
    admin: dict[str, list[Any]] = {n: [] for n in ADMIN}
    iterations: dict[str, list[tuple[str, ...]]] = {lid: [] for lid in loops}
    wanted = {"complete"} | ({"partial", "screened_out"} if include_partial else set())

    def text(code: int, kind: int) -> Any:
        return str(code) if kind in (TEXT, DATE, OTHER) else code

    for state_json, meta in items:
        if meta.get("status") == "withdrawn" or (meta.get("is_test") and not include_test):
            continue
        outcome = state_json.get("outcome") or "partial"
        if outcome not in wanted:
            continue
        q_hash = state_json["questionnaire_hash"]
        q = by_key[q_hash]
        plan = plans[q_hash]
        state = State.from_json(state_json)
        values = engines[q_hash].values(state)
        # the order each randomised item was shown in: values of its own (orders.py)
        values = {
            **values,
            **order_values(randomised_items(q), q, state, values, Shuffler()),
        }
        # a break-off: what lies beyond the page it stopped at (a later iteration too) is unanswered
        beyond = None
        if outcome == "partial":
            beyond = engines[q_hash].not_reached(state) or (lambda *where: True)
        where = {info.name: (info.loop, info.iteration) for info in plan.infos}
        present = set()
        for col in plan.columns:
            present.add(col.name)
            kind = col.kind
            v = values.get(col.key, _ABSENT)
            if v is _ABSENT:
                late = beyond is not None and beyond(col.ordinal, *where[col.name])
                code = frame_codes["unanswered"] if late else frame_codes[col.absent]
                out = text(code, kind)
            elif kind == MULTI and type(v) is tuple:
                out = 1 if col.extra in v else 0
            elif kind == OTHER and not (type(v) is str and v):
                parent = values.get(col.extra[0])
                chosen = parent == col.extra[1] or (
                    type(parent) is tuple and col.extra[1] in parent
                )
                out = text(frame_codes["unanswered" if chosen else "routed_past"], kind)
            elif v is None:
                out = text(frame_codes[col.none], kind)
            elif v is DK:
                out = text(frame_codes["dk"], kind)
            elif v is REFUSED:
                out = text(frame_codes["refused"], kind)
            elif kind == CODE:
                out = int(v)
            elif kind == FLOAT:
                out = float(v)
            elif kind == TEXT:
                out = str(v) if v != "" else text(frame_codes[col.none], kind)
            elif kind == DATE:
                out = v.isoformat()
            elif kind == OTHER:
                out = v
            else:
                raise AssertionError(f"unexpected {v!r}")
            data[col.name].append(out)
        for name in names:
            if name not in present:
                rp = frame_codes["routed_past"]
                data[name].append(str(rp) if infos[name].storage == "str" else rp)
        used = state.modes_used or [state.mode]
        start = state.started_at.astimezone(dt.UTC).replace(tzinfo=None)
        end = (
            state.finished_at.astimezone(dt.UTC).replace(tzinfo=None) if state.finished_at else None
        )
        admin["case_id"].append(pseudo.case_id(meta["id"]))
        admin["qversion"].append(q.version)
        admin["language"].append(languages.index(state.language) + 1)
        admin["mode"].append(row_module.MODE_CODES[state.mode])
        admin["mode_first"].append(row_module.MODE_CODES[used[0]])
        admin["mode_switch"].append(1 if len(set(used)) > 1 else 0)
        admin["started"].append(start)
        admin["ended"].append(end)
        admin["duration"].append(round((end - start).total_seconds()) if end else np.nan)
        admin["outcome"].append(row_module.OUTCOME_CODES[outcome])
        staff = interviewer_of.get(meta["id"])
        if staff:
            admin["interviewer"].append(pseudo.interviewer_id(staff))
        else:
            admin["interviewer"].append(
                str(frame_codes["unanswered" if "cati" in used else "routed_past"])
            )
        for lid in loops:
            iterations[lid].append(tuple(state.loop_keys.get(lid, ())))

    admin_infos = make_admin_infos(questionnaire, frame_codes, languages, version_labels)
    columns: dict[str, Any] = {}
    for info in admin_infos + [infos[n] for n in names]:
        values_ = admin[info.name] if info.name in admin else data[info.name]
        if info.storage == "datetime":
            columns[info.name] = pd.to_datetime(pd.Series(values_, dtype=object)).astype(
                "datetime64[us]"
            )
        elif info.storage == "int":
            columns[info.name] = _int_column(values_)
        elif info.storage == "float":
            columns[info.name] = np.asarray(values_, dtype=np.float64)
        else:
            columns[info.name] = pd.Series(values_, dtype=object)
    frame = pd.DataFrame(columns)
    frame.index = pd.RangeIndex(len(frame))
    variables = {info.name: info for info in admin_infos}
    variables.update(infos)
    codebook = Codebook(
        questionnaire_id=questionnaire.id,
        title=questionnaire.title.source(
            questionnaire.default_language, questionnaire.default_language
        ),
        version=questionnaire.version,
        versions=version_labels,
        languages=languages,
        default_language=questionnaire.default_language,
        modes=list(questionnaire.modes),
        missing_codes=dict(frame_codes),
        variables=variables,
        groups=groups,
        loops=list(loops.values()),
        exported_at=EXPORTED,
        case_count=len(frame),
        notes=collision_notes(distinct.values()),
    )
    shorten_labels(codebook)
    return Dataset(frame, codebook, iterations)


# ------------------------------------------------------------------ simulated interviews


def simulated(
    q, n: int, seed: int, start: dt.datetime
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``n`` random respondents per mode of ``q``, as (state, meta) pairs in start order."""
    out: list[tuple[dict[str, Any], dict[str, Any]]] = []
    engine = Engine(q)
    for m, mode in enumerate(q.modes):
        got: list[Any] = []
        simulate(
            q,
            n,
            seed + m,
            mode,
            now=start + dt.timedelta(seconds=17 * m),
            on_interview=got.append,
            engine=engine,
        )
        for sim in got:
            out.append(
                (
                    sim.state.to_json(),
                    {"id": f"{q.version}-{mode}-{sim.index}", "started": sim.started_at},
                )
            )
    out.sort(key=lambda item: (item[1]["started"], item[1]["id"]))
    for i, (_, meta) in enumerate(out):
        meta["is_test"] = i % 11 == 5
        meta["status"] = "withdrawn" if i % 23 == 7 else "complete"
        del meta["started"]
    return out


@pytest.fixture(scope="module")
def mini_versions():
    """Two versions of the mini questionnaire whose interviews interleave (v2 adds a question)."""
    v1 = load(MINI)
    text2 = v1.source_text.replace('version: "1"', 'version: "2"').replace(
        "      - id: height\n",
        '      - id: shoe\n        type: integer\n        text: {en: "Shoe size", cy: "Maint esgid"}\n      - id: height\n',
    )
    v2 = load_questionnaire_text(text2, "v2.yaml").questionnaire
    assert v2 is not None
    items = simulated(v1, 60, 1, T0) + simulated(v2, 60, 2, T0 + dt.timedelta(seconds=30))
    items.sort(key=lambda item: (item[0]["started_at"], item[1]["id"]))
    return v1, v2, items


@pytest.fixture(scope="module")
def flagship_items():
    return load(FLAGSHIP), simulated(load(FLAGSHIP), 100, 5, T0)


def assert_same(ours: Dataset, ref: Dataset, tmp_path) -> None:
    assert list(ours.frame.columns) == list(ref.frame.columns)
    assert list(ours.frame.dtypes) == list(ref.frame.dtypes)
    pd.testing.assert_frame_equal(ours.frame, ref.frame, check_exact=True)
    assert ours.iterations == ref.iterations
    assert ours.codebook.to_dict() == ref.codebook.to_dict()
    from instrument_outputs.csv_syntax import write_csv

    write_csv(ours, tmp_path / "ours.csv")
    write_csv(ref, tmp_path / "ref.csv")
    assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "ref.csv").read_bytes()


def ours(questionnaire, items, **kw) -> Dataset:
    return build_dataset(
        questionnaire, items, pseudonymiser=Pseudonymiser(SECRET), exported_at=EXPORTED, **kw
    )


# ------------------------------------------------------------------ the comparisons


@pytest.mark.parametrize("partial", [True, False])
def test_flagship_build_equals_the_reference(flagship_items, partial, tmp_path):
    q, items = flagship_items
    outcomes = {s["outcome"] for s, _ in items}
    assert {"complete", "partial"} <= outcomes  # break-offs really are in the sample
    staff = {meta["id"]: "I-3" for _, meta in items[::4]}
    kw = {"include_partial": partial, "include_test": True, "interviewers": staff}
    got = ours(q, items, **kw)
    assert len(got.frame) > 100
    assert_same(got, reference_build(q, items, **kw), tmp_path)


def test_interleaved_versions_equal_the_reference(mini_versions, tmp_path):
    v1, v2, items = mini_versions
    assert (
        len({s["questionnaire_hash"] for s, _ in items[:20]}) == 2
    )  # the versions really interleave
    kw = {"include_partial": True, "versions": {v1.content_hash: v1}}
    got = ours(v2, items, **kw)
    ref = reference_build(v2, items, **kw)
    assert set(got.frame["qversion"]) == {"1", "2"}
    codes = set().union(
        *(set(got.frame[c]) for c in got.frame.columns if got.frame[c].dtype.kind == "i")
    )
    assert {-1, -2, -8, -9} <= codes  # every missing code occurs
    assert_same(got, ref, tmp_path)


def test_chunk_boundaries_do_not_change_the_result(mini_versions, tmp_path, monkeypatch):
    v1, v2, items = mini_versions
    kw = {"include_partial": True, "include_test": True, "versions": {v1.content_hash: v1}}
    whole = ours(v2, items, **kw)
    for size in (1, 7):
        monkeypatch.setattr(fast, "CHUNK", size)
        monkeypatch.setattr(row_module, "CHUNK", size)
        assert_same(ours(v2, items, **kw), whole, tmp_path)


def test_unusual_values_take_the_exact_coder(mini_versions, tmp_path):
    """A bool in a code column, a text in a code column, an int in a text column: coded as before."""
    v1, v2, items = mini_versions
    odd = []
    for state, meta in items[:30]:
        state = dict(state, answers=dict(state["answers"]))
        if isinstance(state["answers"].get("parent"), int):
            state["answers"]["parent"] = state["answers"]["parent"] == 1
        if isinstance(state["answers"].get("comment"), str):
            state["answers"]["comment"] = 42
        if isinstance(state["answers"].get("n_kids"), int):
            state["answers"]["n_kids"] = str(state["answers"]["n_kids"])
        odd.append((state, meta))
    kw = {"include_partial": True, "versions": {v1.content_hash: v1}}
    assert_same(ours(v2, odd, **kw), reference_build(v2, odd, **kw), tmp_path)
