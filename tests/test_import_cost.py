"""Importing the core and the plugin host loads no web, telephony or file-format library.

Each check runs in a fresh interpreter (as click's own import test does),
because in this process other tests have long since imported Flask.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE_ROOTS = [ROOT, ROOT / "modes", ROOT / "plugins"]
HEAVY = ("flask", "werkzeug", "wtforms", "twilio", "pyreadstat", "pyarrow")

# Modules being written in parallel: checked as soon as their file exists.
CORE_MODULES = (
    "instrument.expressions",
    "instrument.model",
    "instrument.loader",
    "instrument.engine",
)


def heavy_modules_after(code: str) -> list[str]:
    """Run *code* in a clean interpreter; return the heavy libraries then loaded."""
    script = (
        code
        + "\nimport sys\n"
        + f"heavy = {list(HEAVY)!r}\n"
        + "print('HEAVY=' + ','.join(sorted({m.split('.')[0] for m in sys.modules} & set(heavy))))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(p) for p in SOURCE_ROOTS))
    done = subprocess.run(
        [sys.executable, "-c", script],
        check=False,  # the return code is asserted below, with stderr shown
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("HEAVY=")]
    return [name for name in line.removeprefix("HEAVY=").split(",") if name]


def heavy_modules_loaded_by(*modules: str) -> list[str]:
    """Import *modules* in a clean interpreter; return the heavy ones it loaded."""
    return heavy_modules_after("\n".join(f"import {module}" for module in modules))


def module_file_exists(module: str) -> bool:
    relative = Path(*module.split("."))
    return (ROOT / relative.with_suffix(".py")).is_file() or (
        ROOT / relative / "__init__.py"
    ).is_file()


def test_the_check_itself_sees_heavy_imports() -> None:
    # Without this, a broken subprocess script could make the tests below pass vacuously.
    assert heavy_modules_loaded_by("json", "wtforms") == ["wtforms"]


def test_plugin_host_imports_no_heavy_library() -> None:
    loaded = heavy_modules_loaded_by(
        "instrument",
        "instrument.plugins",
        "instrument.hookspecs",
        "instrument.plugin_types",
        "instrument.values",
    )
    assert loaded == []


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_imports_no_heavy_library(module: str) -> None:
    if not module_file_exists(module):
        pytest.skip(f"{module} does not exist yet")
    assert heavy_modules_loaded_by(module) == []


def test_starting_the_plugin_host_imports_no_heavy_library() -> None:
    # Built-in plugins (DEFAULT_PLUGINS) must import Flask, Twilio, pyreadstat
    # and pyarrow inside the functions that use them: listing modes and
    # formats, as every command does, must not pay for them.
    code = (
        "from instrument.plugins import PluginFacade, get_plugin_manager\n"
        "facade = PluginFacade(get_plugin_manager(load_entrypoints=False))\n"
        "facade.modes(); facade.output_formats(); facade.question_types(); facade.plugin_info()\n"
    )
    assert heavy_modules_after(code) == []
