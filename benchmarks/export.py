"""Export benchmark: dataset build and every file format, beside the raw writers.

    python benchmarks/export.py [--n 100000] [--quick] [--database URL] [--no-write] [--profile N]

Puts N simulated flagship interviews (questionnaires/social_licence.yaml;
70% web, 20% telephone, 10% automated call, with break-offs) in a store with
``instrument simulate --database`` (a SQLite file in a temporary folder by
default; ``--database`` names one to keep, and a store that already holds N
flagship interviews is reused, so reruns are quick). Then, each step in a
fresh subprocess so that the peak memory (``ru_maxrss`` of that child) is the
step's own:

* the store read alone (``Store.iter_export_records`` as the export calls it:
  the SQL, and each interview's stored export row, its state only where
  that row is missing or out of date);
* the dataset build, store -> :class:`~instrument.dataset.Dataset`, as
  ``instrument export`` runs it (all interviews: partial and test ones too);
* the same build with the stored export rows ignored, so that every
  interview is coded from its state (what a store written before export rows
  existed costs, and the build's speed before them), for comparison;
* each format (sav, dta, csv with its .sps/.do/.R, parquet, ddi) written by
  its plugin from the prepared Dataset, and the raw writer on the same
  prepared DataFrame as the ceiling: ``pyreadstat.write_sav``,
  ``DataFrame.to_stata(version=118)``, ``DataFrame.to_csv``,
  ``DataFrame.to_parquet`` (pyarrow, zstd as the plugin uses). DDI has no raw
  writer: it is metadata only, its size does not grow with the interviews.

Writers run three times each, alternating with their raw writer so both see
the same machine load; the best of three counts. The machine may be shared:
every step reports wall-clock and CPU time and the load average when it
began, and targets are judged on CPU time. Writes the "## Export" section of
docs/benchmarks.md (other sections are left as they are).

Targets (issue 4): dataset build >= 50,000 interviews/s; each file within 2x
its raw writer; peak memory under 2 GB.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import pickle
import platform
import pstats
import re
import resource
import subprocess
import sys
import tempfile
import time
from itertools import chain, islice
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (ROOT, ROOT / "modes", ROOT / "plugins"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

FLAGSHIP = ROOT / "questionnaires" / "social_licence.yaml"
QUESTIONNAIRE_ID = "social_licence"
DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "## Export"
MODE_MIX = (("web", 0.7), ("cati", 0.2), ("ivr", 0.1))
FORMATS = ("sav", "dta", "csv", "parquet", "ddi")
SECRET = b"benchmark-export-secret-0123456789"
REPEATS = 3
TARGET_RATE = 50_000
TARGET_RATIO = 2.0
TARGET_MEMORY = 2 * 1024**3


# --------------------------------------------------------------------------- store


def stored_count(url: str) -> int:
    """Flagship interviews (any status, test ones included) in the store at ``url``."""
    from instrument.store import open_store

    store = open_store(url)
    try:
        return sum(store.count_by_status(QUESTIONNAIRE_ID, include_test=True).values())
    except Exception:
        return 0
    finally:
        store.close()


def populate(url: str, n: int) -> float:
    """Top the store up to ``n`` flagship interviews with ``instrument simulate``; seconds taken."""
    have = stored_count(url)
    if have >= n:
        return 0.0
    began = time.perf_counter()
    missing = n - have
    counts = [int(missing * share) for _, share in MODE_MIX]
    counts[0] += missing - sum(counts)
    for (mode, _), count in zip(MODE_MIX, counts):
        if count <= 0:
            continue
        # a new seed per top-up, so a rerun adds new respondents rather than repeats
        offset = {"web": 0, "cati": 1, "ivr": 2}[mode]
        seed = 1000 + have + offset
        start = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC) + dt.timedelta(
            minutes=have, seconds=20 * offset
        )
        cmd = [
            sys.executable,
            "-c",
            "from instrument.cli import main; main()",
            "simulate",
            str(FLAGSHIP),
            "-n",
            str(count),
            "--seed",
            str(seed),
            "--mode",
            mode,
            "--now",
            start.isoformat(),
            "--database",
            url,
        ]
        print(f"  simulating {count:,} {mode} interviews into the store ...", flush=True)
        done = subprocess.run(
            cmd, cwd=ROOT, env=_child_env(), capture_output=True, text=True, check=False
        )
        if done.returncode not in (
            0,
            3,
        ):  # 3: some questions unreached in a small sample, not a failure
            raise SystemExit(
                f"instrument simulate failed ({done.returncode}):\n{done.stderr[-2000:]}"
            )
    return time.perf_counter() - began


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(ROOT / "modes"), str(ROOT / "plugins"), env.get("PYTHONPATH", "")]
    )
    return env


# --------------------------------------------------------------------------- child steps


def _load_versions(store: Any) -> tuple[Any, dict[Any, Any]]:
    """Every stored version of the flagship, as ``instrument export`` loads them."""
    from instrument.loader import load_questionnaire_text

    versions: dict[Any, Any] = {}
    newest = None
    for row in sorted(
        store.list_questionnaire_versions(QUESTIONNAIRE_ID), key=lambda r: (r.created_at, r.id)
    ):
        q = load_questionnaire_text(row.source_text, f"<version {row.version}>").questionnaire
        assert q is not None, "the stored flagship no longer loads"
        versions[row.id] = versions[row.content_hash] = newest = q
    assert newest is not None, "no flagship questionnaire in the store"
    return newest, versions


def _prepare(url: str) -> tuple[Any, Any, dict[Any, Any]]:
    """Open the store and load the questionnaire versions (a fixed cost, timed apart from the build)."""
    from instrument.store import open_store

    store = open_store(url)
    newest, versions = _load_versions(store)
    return store, newest, versions


def _records(store: Any, newest: Any, versions: dict[Any, Any], *, rows: bool = True) -> Any:
    """The store's interviews as ``instrument export`` reads them (``rows=False``: states only)."""
    from instrument.dataset import RowCoder

    if not rows:  # as if no interview had a stored row: every state is read and coded
        records = store.iter_export_records(QUESTIONNAIRE_ID, include_test=True)
        return (record._replace(export_row=None) for record in records)
    keys = {RowCoder(q).key for q in {id(q): q for q in [newest, *versions.values()]}.values()}
    return store.iter_export_records(QUESTIONNAIRE_ID, include_test=True, export_keys=keys)


def _build(store: Any, newest: Any, versions: dict[Any, Any], records: Any = None) -> Any:
    """Store -> Dataset, as ``instrument export`` does it (every interview: partial and test ones too)."""
    from instrument.dataset import Pseudonymiser, build_dataset

    if records is None:
        records = _records(store, newest, versions)
    return build_dataset(
        newest,
        records,
        include_partial=True,
        include_test=True,
        versions=versions,
        pseudonymiser=Pseudonymiser(SECRET),
    )


def _warm_imports() -> None:
    """Import every library a step may use before its clock starts: imports are not the step's cost."""
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import pyreadstat  # noqa: F401
    from lxml import etree  # noqa: F401

    import instrument.dataset
    import instrument.store  # noqa: F401
    import instrument_outputs.csv_syntax
    import instrument_outputs.ddi
    import instrument_outputs.dta
    import instrument_outputs.parquet
    import instrument_outputs.sav  # noqa: F401


def _raw_writer(fmt: str, frame: Any, dest: Path) -> None:
    """The library's own writer on the prepared frame, with no labels: the ceiling."""
    if fmt == "sav":
        import pyreadstat

        pyreadstat.write_sav(frame, str(dest))
    elif fmt == "dta":
        frame.to_stata(dest, write_index=False, version=118)
    elif fmt == "csv":
        frame.to_csv(dest, index=False, encoding="utf-8", lineterminator="\n")
    elif fmt == "parquet":
        frame.to_parquet(dest, index=False, engine="pyarrow", compression="zstd")
    else:
        raise ValueError(f"no raw writer for {fmt}")


def child(step: str, url: str, prepared: Path, out: Path, limit: int | None) -> dict[str, Any]:
    """Run one step in this (fresh) process; return its times and peak memory."""
    _warm_imports()
    result: dict[str, Any] = {"step": step, "load": os.getloadavg()[0]}
    if step in ("read", "build", "build_states", "profile"):
        began = time.perf_counter()
        store, newest, versions = _prepare(url)
        result["prepare_wall"] = time.perf_counter() - began
        began, cpu = time.perf_counter(), time.process_time()
        if step == "read":
            records = _records(store, newest, versions)
            first = next(records, None)
            result["first_row"] = time.perf_counter() - began
            count = with_state = 0
            for record in chain([first] if first is not None else [], records):
                count += 1
                # one that comes with its state has no usable export row: the build codes the state
                with_state += bool(record.state)
            result["rows"], result["with_state"] = count, with_state
        elif step == "build":
            dataset = _build(store, newest, versions)
            result["rows"], result["columns"] = dataset.frame.shape
        elif step == "build_states":
            dataset = _build(
                store, newest, versions, records=_records(store, newest, versions, rows=False)
            )
            result["rows"], result["columns"] = dataset.frame.shape
        else:
            # the records are read first: the store's read is measured on its own above
            records = list(islice(_records(store, newest, versions), limit))
            profile = cProfile.Profile()
            profile.enable()
            dataset = _build(store, newest, versions, records=records)
            profile.disable()
            result["rows"] = len(dataset.frame)
            result["profile"] = _profile_rows(profile)
        result["wall"], result["cpu"] = time.perf_counter() - began, time.process_time() - cpu
        store.close()
        if step == "build":
            with open(prepared, "wb") as fh:
                pickle.dump(dataset, fh, protocol=pickle.HIGHEST_PROTOCOL)
    else:
        kind, fmt = step.split(":")
        from instrument.plugins import PluginFacade, get_plugin_manager

        spec = PluginFacade(get_plugin_manager()).output_formats()[fmt]
        with open(prepared, "rb") as fh:
            dataset = pickle.load(fh)
        result["baseline"] = _peak()
        dest = out / f"{kind}_{fmt}"
        dest.mkdir(parents=True, exist_ok=True)
        began, cpu = time.perf_counter(), time.process_time()
        if kind == "ours":
            spec.write(dataset, dest / f"bench.{fmt}")
        else:
            _raw_writer(fmt, dataset.frame, dest / f"bench.{fmt}")
        result["wall"], result["cpu"] = time.perf_counter() - began, time.process_time() - cpu
        result["bytes"] = sum(p.stat().st_size for p in dest.iterdir())
    result["peak"] = _peak()
    return result


def _peak() -> int:
    """Peak resident memory of this process so far, in bytes (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _profile_rows(profile: cProfile.Profile) -> dict[str, Any]:
    stats = pstats.Stats(profile, stream=io.StringIO())
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    areas: dict[str, float] = {}
    for (filename, line, func), (_cc, nc, tt, ct, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = _short(filename)
        rows.append((tt, ct, nc, f"{where}:{line}({func})"))
        areas[_area(filename, func)] = areas.get(_area(filename, func), 0.0) + tt
    rows.sort(reverse=True)
    return {
        "total": total,
        "top": [(name, tt / total, ct / total, calls) for tt, ct, calls, name in rows[:12]],
        "areas": sorted(((a, t / total) for a, t in areas.items()), key=lambda x: -x[1]),
    }


def _short(filename: str) -> str:
    """A path short enough for a table: from the package (or standard-library module) down."""
    for marker in ("/instrument/", "/site-packages/"):
        if marker in filename:
            tail = filename.split(marker, 1)[1]
            return ("instrument/" + tail) if marker == "/instrument/" else tail
    found = re.search(r"/lib/python3\.\d+/(.*)$", filename)
    return found.group(1) if found else filename


def _area(filename: str, func: str) -> str:
    if "/instrument/engine/" in filename or "/instrument/expressions/" in filename:
        return "Engine.values (engine and expressions)"
    if "/instrument/dataset/" in filename:
        return "dataset builder (instrument/dataset)"
    if (
        "json" in filename
        or "sqlalchemy" in filename
        or "/instrument/store/" in filename
        or "sqlite" in func
    ):
        return "store read (SQL, JSON decoding of states)"
    if "pandas" in filename or "numpy" in filename:
        return "pandas/numpy (columns, frame)"
    return "other (hashing, datetimes, builtins)"


def run_child(
    step: str, url: str, prepared: Path, out: Path, limit: int | None = None
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        step,
        "--database",
        url,
        "--prepared",
        str(prepared),
        "--out",
        str(out),
    ]
    if limit is not None:
        cmd += ["--profile", str(limit)]
    done = subprocess.run(
        cmd, cwd=ROOT, env=_child_env(), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"step {step} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- report


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()} {platform.release()}"
    )


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 100 else f"{seconds:.0f} s"


def _mb(n: int) -> str:
    return f"{n / 1024**2:,.0f} MB"


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def report(
    n: int,
    results: dict[str, Any],
    args: argparse.Namespace,
    load: tuple[float, float, float],
    populate_s: float,
) -> str:
    build, read = results["build"], results["read"]
    rows = build["rows"]
    lines = [
        HEADING,
        "",
        (
            f"`python benchmarks/export.py{' --quick' if args.quick else ''}{f' --n {n}' if not args.quick and n != 100_000 else ''}`, "
            f"{dt.date.today().isoformat()}, on {machine()}. "
            f"Load average when it began: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1/5/15 min) on {os.cpu_count()} cores."
        ),
        "",
        (
            f"{rows:,} simulated flagship interviews (social_licence: {build['columns']} variables; 70% web, 20% telephone, "
            "10% automated call; complete, partial and screened out) in SQLite. Each step runs in a fresh process; "
            "peak memory is that process's `ru_maxrss`. Times are wall-clock / CPU; targets are judged on CPU time "
            "because the machine is shared."
        ),
        "",
        "| step | time (wall / CPU) | rate (per CPU-second) | peak memory | raw writer (wall / CPU) | ratio (CPU) | target met? |",
        "|---|---|---|---|---|---|---|",
    ]
    rate = rows / build["cpu"]
    lines.append(
        f"| dataset build (store -> Dataset) | {_s(build['wall'])} / {_s(build['cpu'])} | {rate:,.0f} interviews/s "
        f"({rows / build['wall']:,.0f}/s wall) | {_mb(build['peak'])} | - | - | "
        f"{_yes(rate >= TARGET_RATE)} (≥ {TARGET_RATE:,}/s); memory {_yes(build['peak'] < TARGET_MEMORY)} |"
    )
    lines.append(
        f"| of which: store read alone (SQL, export rows) | {_s(read['wall'])} / {_s(read['cpu'])} | "
        f"{rows / read['cpu']:,.0f} interviews/s | {_mb(read['peak'])} | - | - | - |"
    )
    own = max(build["cpu"] - read["cpu"], 1e-9)
    lines.append(
        f"| of which: parsing the rows, case ids, columns (build - read) | - / {_s(own)} | {rows / own:,.0f} interviews/s "
        f"| - | - | - | - |"
    )
    states = results.get("build_states")
    if states:
        lines.append(
            f"| for comparison: the build coding every interview from its state (no stored export rows) | "
            f"{_s(states['wall'])} / {_s(states['cpu'])} | {states['rows'] / states['cpu']:,.0f} interviews/s | "
            f"{_mb(states['peak'])} | - | - | - |"
        )
    for fmt in FORMATS:
        ours = results[f"ours:{fmt}"]
        mem_ok = ours["peak"] < TARGET_MEMORY
        if fmt == "ddi":
            lines.append(
                f"| {fmt} | {_s(ours['wall'])} / {_s(ours['cpu'])} | - | {_mb(ours['peak'])} | none: DDI is metadata, no data rows | - | "
                f"memory {_yes(mem_ok)} |"
            )
            continue
        raw = results[f"raw:{fmt}"]
        ratio = ours["cpu"] / raw["cpu"] if raw["cpu"] > 0 else float("inf")
        label = {"csv": "csv + .sps/.do/.R"}.get(fmt, fmt)
        lines.append(
            f"| {label} | {_s(ours['wall'])} / {_s(ours['cpu'])} | {rows / ours['cpu']:,.0f} rows/s | {_mb(ours['peak'])} | "
            f"{_s(raw['wall'])} / {_s(raw['cpu'])} | {ratio:.2f}× | {_yes(ratio <= TARGET_RATIO)} (≤ {TARGET_RATIO:g}×); memory {_yes(mem_ok)} |"
        )
    lines += ["", *notes(results, rows, populate_s)]
    profile = results.get("profile")
    if profile:
        lines += [
            "",
            (
                f"Where the build spends its time once the interviews are read (cProfile of a build from the export rows of the first "
                f"{profile['rows']:,} stored interviews, already read into memory; own time grouped by area, then the "
                "top functions):"
            ),
            "",
            "| area | share |",
            "|---|---:|",
        ]
        lines += [f"| {area} | {share:.0%} |" for area, share in profile["profile"]["areas"]]
        lines += ["", "| function | own time | cumulative | calls |", "|---|---:|---:|---:|"]
        lines += [
            f"| `{name}` | {own:.1%} | {cum:.1%} | {calls:,} |"
            for name, own, cum, calls in profile["profile"]["top"]
        ]
    return "\n".join(lines) + "\n"


def notes(results: dict[str, Any], rows: int, populate_s: float) -> list[str]:
    build, read = results["build"], results["read"]
    out = [
        (
            f"- Build: {build['cpu'] / rows * 1e6:.1f} µs of CPU per interview. Every save stores the interview's "
            "dataset row beside its state (`interviews.export_row`, one line of CSV coded by the same code as the "
            "build; see docs/exports.md), and the build parses a version's rows in one pass of pandas' C parser. "
            f"{read['with_state']:,} of the {read['rows']:,} interviews had no usable row and were coded from their state. "
            f"The store's read alone takes {read['cpu'] / rows * 1e6:.1f} µs per interview; "
            f"{read['first_row']:.2f} s of its wall time pass before the first row arrives (SQLite sorts for "
            "`ORDER BY started_at, id`). The questionnaire load before the build (every stored version) is not counted."
        ),
        (
            "- Format steps are the best of three runs, each in a fresh process that first loads the prepared "
            "Dataset (a pickle written by the build step); peak memory includes that Dataset."
        ),
        (
            "- Raw writers get the same prepared DataFrame with no labels, missing values or formats: pyreadstat "
            "`write_sav`; pandas `to_stata(version=118)`; pandas `to_csv`; pandas `to_parquet` (pyarrow, zstd like the plugin)."
        ),
    ]
    if populate_s:
        out.append(
            f"- Filling the store took {populate_s:,.0f} s (`instrument simulate --database`, not part of any figure)."
        )
    return out


def write_section(text: str) -> None:
    """Replace (or append) the "## Export" section of docs/benchmarks.md, leaving the rest alone."""
    doc = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^## Export\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(doc):
        doc = pattern.sub(
            lambda _: text + ("\n" if not text.endswith("\n\n") else ""), doc, count=1
        )
        doc = doc.rstrip("\n") + "\n"
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    DOC.write_text(doc, encoding="utf-8")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n", type=int, default=100_000, help="interviews in the store (default 100,000)"
    )
    parser.add_argument("--quick", action="store_true", help="5,000 interviews, one run per writer")
    parser.add_argument(
        "--database", metavar="URL", help="store to use (reused if it holds N flagship interviews)"
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print the section, leave docs/benchmarks.md alone"
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=3000,
        metavar="N",
        help="profile a build of N interviews (0: skip)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--prepared", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        limit = args.profile if args.child == "profile" else None
        print(json.dumps(child(args.child, args.database, args.prepared, args.out, limit)))
        return

    n = 5_000 if args.quick and args.n == 100_000 else args.n
    repeats = 1 if args.quick else REPEATS
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="export-bench-") as tmp:
        work = Path(tmp)
        url = args.database or f"sqlite:///{work / 'export_bench.db'}"
        print(f"store: {url}; load average {load[0]:.2f}", flush=True)
        populate_s = populate(url, n)
        have = stored_count(url)
        if have != n:
            print(
                f"  note: the store holds {have:,} flagship interviews; all of them are used",
                flush=True,
            )
        prepared = work / "prepared.pickle"
        results: dict[str, Any] = {}
        for step in ("read", "build", "build_states"):
            results[step] = run_child(step, url, prepared, work)
            r = results[step]
            print(
                f"  {step}: {r['rows']:,} interviews, {r['wall']:.2f} s wall, {r['cpu']:.2f} s CPU, "
                f"{_mb(r['peak'])} peak",
                flush=True,
            )
        for fmt in FORMATS:
            kinds = ("ours",) if fmt == "ddi" else ("ours", "raw")
            for _ in range(repeats):
                for kind in kinds:
                    step = f"{kind}:{fmt}"
                    r = run_child(step, url, prepared, work / "files")
                    best = results.get(step)
                    if best is None or r["cpu"] < best["cpu"]:
                        r["peak"] = max(r["peak"], best["peak"]) if best else r["peak"]
                        results[step] = r
                    else:
                        best["peak"] = max(best["peak"], r["peak"])
            summary = ", ".join(f"{k} {results[f'{k}:{fmt}']['cpu']:.2f} s CPU" for k in kinds)
            print(f"  {fmt}: {summary}", flush=True)
        if args.profile:
            results["profile"] = run_child(
                "profile", url, prepared, work, limit=min(args.profile, have)
            )
    text = report(have, results, args, load, populate_s)
    print()
    print(text)
    if not args.no_write:
        write_section(text)
        print(f"wrote the {HEADING!r} section of {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
