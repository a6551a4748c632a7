"""The layers of ARCHITECTURE.md hold: import-linter checks the contracts in pyproject.toml.

One contract forbids the core (the model, engine, store, dataset, interview
service...) from importing web, telephony or file-format libraries; one
keeps the fieldwork rules (instrument.fieldwork) free of the database as well;
one forbids the host from importing a mode or an output plugin; the last keeps
imports pointing one way, from the CLI and the server down through the modes,
the plugin host and the interview service to the engine and the model. A
planted import in a copy of the tree proves the contracts can fail.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    command = shutil.which("lint-imports")
    if command is None:
        pytest.fail("import-linter is a dev dependency: pip install -e '.[dev]'")
    paths = [str(root), str(root / "modes"), str(root / "plugins")]
    return subprocess.run(
        [command, "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        env={
            "PYTHONPATH": ":".join(paths),
            "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        },
        timeout=120,
    )


def test_import_contracts_are_kept() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "broken"),
    [
        ("instrument/dataset/builder.py", "import pyreadstat", "The core imports no web"),
        ("instrument/store/interviews.py", "import flask", "The core imports no web"),
        (
            "instrument/server/staff.py",
            "import instrument_web.pages",
            "The host never imports a mode",
        ),
        ("modes/instrument_web/views.py", "import instrument.server.app", "Layers point one way"),
        ("instrument/fieldwork/schedule.py", "import sqlalchemy", "The fieldwork rules are pure"),
        ("instrument/callqueue/service.py", "import twilio", "The core imports no web"),
        ("instrument/callqueue/views.py", "import flask", "The core imports no web"),
        ("instrument/interviews/service.py", "import instrument.callqueue", "Layers point one way"),
        ("instrument/fieldwork/rates.py", "import instrument.loader", "Layers point one way"),
    ],
)
def test_a_planted_forbidden_import_breaks_a_contract(
    tmp_path: Path, module: str, planted: str, broken: str
) -> None:
    copy = tmp_path / "tree"
    keep = shutil.ignore_patterns("__pycache__", "*.egg-info", "node_modules", ".git")
    for part in ("instrument", "modes", "plugins"):
        shutil.copytree(ROOT / part, copy / part, ignore=keep)
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    target = copy / module
    target.write_text(
        target.read_text(encoding="utf-8") + f"\n{planted}  # planted\n", encoding="utf-8"
    )
    result = lint_imports(copy)
    assert result.returncode != 0
    # the contract named is the one reported broken, and only it (names may wrap over lines)
    text = " ".join(result.stdout.split())
    names = [
        c["name"]
        for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
            "contracts"
        ]
    ]
    expected = {name: "BROKEN" if name.startswith(broken) else "KEPT" for name in names}
    assert list(expected.values()).count("BROKEN") == 1
    for name, verdict in expected.items():
        assert f"{name} {verdict}" in text, (name, verdict, text[-3000:])


def test_the_fieldwork_rules_load_no_database_web_or_telephony_library() -> None:
    """Imported on their own, in a fresh interpreter, the rules load none of them (at run time,
    where import-linter reads only the import statements)."""
    code = (
        "import sys, pkgutil, importlib, instrument.fieldwork as f\n"
        "for m in pkgutil.walk_packages(f.__path__, 'instrument.fieldwork.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(' '.join(sorted({n.split('.')[0] for n in sys.modules})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert "instrument" in loaded and "yaml" in loaded  # the probe did import them
    forbidden = {"sqlalchemy", "alembic", "psycopg", "flask", "werkzeug", "twilio", "click"}
    assert loaded & forbidden == set()
