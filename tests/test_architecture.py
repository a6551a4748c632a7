"""The layers of ARCHITECTURE.md hold: import-linter checks the contracts in pyproject.toml.

One contract forbids the core from importing web, telephony or file-format
libraries; the other keeps imports pointing one way, from the CLI and server
down through the plugin host and the store to the engine and the model.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    command = shutil.which("lint-imports")
    if command is None:
        pytest.fail("import-linter is a dev dependency: pip install -e '.[dev]'")
    paths = [str(ROOT), str(ROOT / "modes"), str(ROOT / "plugins")]
    result = subprocess.run(
        [command, "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={
            "PYTHONPATH": ":".join(paths),
            "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        },
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
