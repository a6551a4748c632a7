"""The store after a plain ``pip install .``: SQLite works with what Python brings.

psycopg is only the ``postgres`` extra. The check runs in a fresh interpreter
whose ``sitecustomize`` puts a finder first on ``sys.meta_path`` that refuses
psycopg (and its binary and C parts), exactly as a missing package fails.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from instrument.store import StoreError, open_store
from instrument.store.engine import MIN_SQLITE_VERSION, POSTGRES_EXTRA_HINT

ROOT = Path(__file__).resolve().parent.parent
SOURCE_ROOTS = [ROOT, ROOT / "modes", ROOT / "plugins"]

BLOCKER = '''
"""Refuse psycopg in this interpreter, as if it were not installed."""
import sys


class _NoPsycopg:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("psycopg", "psycopg_binary", "psycopg_c"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NoPsycopg())
'''


def run_without_psycopg(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(str(p) for p in [blocker, *SOURCE_ROOTS]),
        INSTRUMENT_DATABASE_URL="",
    )
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=False,  # asserted by the caller, with stderr shown
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_sqlite_store_works_without_psycopg_and_postgresql_says_what_to_install(
    tmp_path: Path,
) -> None:
    done = run_without_psycopg(
        tmp_path,
        """
        import importlib, pkgutil, sys

        try:
            import psycopg
        except ModuleNotFoundError:
            pass
        else:
            raise SystemExit("the blocker did not block psycopg")

        import instrument.store
        from instrument.store import NewEvent, PostgresDriverMissing, open_store

        # Every module of the store but the PostgreSQL one imports without psycopg.
        for module in pkgutil.walk_packages(instrument.store.__path__, "instrument.store."):
            if module.name != "instrument.store.pg_direct" and ".migrations" not in module.name:
                importlib.import_module(module.name)

        with open_store() as store:  # the default: ./instrument.db, migrated
            version = store.add_questionnaire_version("q", "1", "meta: {id: q}")
            interview = store.create_interview(version.id, mode="web", language="en", state={})
            store.save_interview(
                interview.id, expected_revision=0, state={"answers": {"a": 1}},
                status="complete", mode="web", events=[NewEvent("a", 1)],
            )
            assert store.load_interview(interview.id).state == {"answers": {"a": 1}}
            assert store.count_by_status("q")["complete"] == 1
            store.put_case("case-1", "q", {"region": 3})
        loaded = sorted(m for m in sys.modules if m.split(".")[0] == "psycopg")
        assert not loaded, loaded
        print("SQLITE OK")

        try:
            open_store("postgresql://survey@127.0.0.1:5432/survey")
        except PostgresDriverMissing as exc:
            assert isinstance(exc, ImportError)
            print("MESSAGE:", exc)
        """,
    )
    assert done.returncode == 0, done.stderr
    assert "SQLITE OK" in done.stdout
    (message,) = [line for line in done.stdout.splitlines() if line.startswith("MESSAGE:")]
    assert "psycopg" in message and POSTGRES_EXTRA_HINT in message
    assert (tmp_path / "instrument.db").is_file()


def test_the_extra_the_message_names_exists_and_installs_psycopg_3() -> None:
    assert POSTGRES_EXTRA_HINT == "pip install 'survey-instrument[postgres]'"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["name"] == "survey-instrument"
    extra = project["project"]["optional-dependencies"]["postgres"]
    assert any(requirement.startswith("psycopg") for requirement in extra)


def test_a_python_with_too_old_an_sqlite_is_told_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The save needs ``UPDATE ... RETURNING``: an older SQLite is refused on opening, not mid-save."""
    assert (
        sqlite3.sqlite_version_info >= MIN_SQLITE_VERSION
    )  # this machine's, for the rest of the suite
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    with pytest.raises(StoreError, match=r"SQLite 3\.34\.1; the store needs 3\.35\.0 or newer"):
        open_store(f"sqlite:///{tmp_path / 'store.db'}")
    assert not (tmp_path / "store.db").exists()
