"""Every module, imported on its own, loads only the libraries its layer may use.

import-linter (tests/test_architecture.py) reads import statements; this test
runs them. It walks every package of the product (the core, the plugin host,
the server, the modes, the output plugins), imports each module alone in a
fresh child process, and compares the third-party libraries that ended up
loaded with an allow-list for the module's layer, as click's own import test
does. A module that is only ever imported lazily (inside a function) is
imported here too, so an ``import pyreadstat`` planted in the dataset builder
fails it.

Children are forked from a parent that has imported nothing of ours, only the
libraries every layer may use (pandas, SQLAlchemy, Jinja...), so each child
pays only for its own module. What those libraries load themselves (pandas
loads pyarrow when it is installed) is part of that baseline: whether *our*
code imports pyarrow directly is import-linter's to check, statically.
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE_ROOTS = [ROOT, ROOT / "modes", ROOT / "plugins"]
PACKAGES = (
    "instrument", "instrument_web", "instrument_phone", "instrument_console", "instrument_outputs",
    "instrument_channels",
)  # fmt: skip

# Third-party libraries by what they are for.
BASE = {"typing_extensions", "six", "_cffi_backend"}
CORE_LIBRARIES = BASE | {
    "jinja2", "markupsafe", "yaml", "_yaml", "lark", "orjson",  # questionnaires, fills, state
    "sqlalchemy", "greenlet", "alembic", "mako",  # the store and its migrations
    "pandas", "numpy", "dateutil", "pytz", "tzdata",  # the dataset
    "pluggy",  # the hook marker the built-in plugins share
    "babel",  # the interface texts' gettext catalogues and language names
}  # fmt: skip
BASELINE = CORE_LIBRARIES - {"_yaml", "_cffi_backend", "greenlet", "mako", "tzdata"}
"""Imported by the parent before it forks (all of them allowed in every layer)."""
POSTGRES = {"psycopg", "psycopg_binary", "psycopg_c", "psycopg_pool"}
CLI = {"click"}
WEB = {"flask", "werkzeug", "itsdangerous", "blinker", "flask_wtf", "wtforms", "click"}
WRITERS = {"pyreadstat", "pyarrow"}
# twilio and its REST client
TWILIO = {"twilio", "requests", "urllib3", "charset_normalizer", "idna", "certifi"}

# What each layer may load, by module-name prefix (the longest prefix wins).
ALLOWED: dict[str, set[str]] = {
    "instrument": CORE_LIBRARIES,
    "instrument.store.pg_direct": CORE_LIBRARIES | POSTGRES,
    "instrument.plugins": CORE_LIBRARIES,
    "instrument.hookspecs": CORE_LIBRARIES,
    "instrument.questionnaires": CORE_LIBRARIES,
    "instrument.exporting": CORE_LIBRARIES,
    "instrument.cli": CORE_LIBRARIES | CLI,
    "instrument.commands": CORE_LIBRARIES | CLI,
    "instrument.panel": CORE_LIBRARIES | {"cryptography"},  # members' contact details encrypted
    "instrument.panelwork": CORE_LIBRARIES | {"cryptography"},  # opens the keys to send
    "instrument.flask_support": CORE_LIBRARIES | WEB,
    "instrument.server": CORE_LIBRARIES | WEB,
    "instrument_web": CORE_LIBRARIES | WEB,
    "instrument_phone": CORE_LIBRARIES,  # the plugin, settings and dialer (twilio only when called)
    "instrument_phone.views": CORE_LIBRARIES | WEB | TWILIO,
    "instrument_phone.console": CORE_LIBRARIES | WEB,  # the interviewer's screens (Flask)
    "instrument_phone.telephony.webhooks": CORE_LIBRARIES | WEB | TWILIO,
    "instrument_phone.telephony.sms_webhooks": CORE_LIBRARIES | WEB | TWILIO,  # as the voice ones
    "instrument_phone.supervisor": CORE_LIBRARIES | WEB,  # the supervisor's pages (Flask)
    "instrument_phone.ivr": CORE_LIBRARIES | TWILIO,  # TwiML of automated calls (no Flask)
    "instrument_phone.ivr.plugin": CORE_LIBRARIES,  # the ivr mode (Flask, twilio when mounted)
    "instrument_phone.ivr.webhooks": CORE_LIBRARIES | WEB | TWILIO,  # as the voice ones
    "instrument_phone.ivr.outbound": CORE_LIBRARIES | WEB | TWILIO,  # the webhooks' answer URL
    "instrument_phone.ivr.outbound_callbacks": CORE_LIBRARIES | WEB | TWILIO,  # as the voice ones
    "instrument_phone.ivr.calls_command": CORE_LIBRARIES | CLI,  # instrument calls place
    "instrument_phone.telephony.forget_command": CORE_LIBRARIES | CLI,  # calls forget-recordings
    "instrument_phone.sms.webhooks": CORE_LIBRARIES | WEB | TWILIO,  # the SMS interview mode's
    "instrument_phone.sms.command": CORE_LIBRARIES | CLI,  # instrument sms start
    "instrument_console": CORE_LIBRARIES | CLI,
    "instrument_outputs": CORE_LIBRARIES,
    "instrument_outputs.sav": CORE_LIBRARIES | WRITERS,
    "instrument_outputs.dta": CORE_LIBRARIES | WRITERS,
    "instrument_outputs.parquet": CORE_LIBRARIES | WRITERS,
    "instrument_channels": CORE_LIBRARIES,  # smtplib and csv are the standard library's
    "instrument_channels.sms": CORE_LIBRARIES,  # twilio only when a text is sent
}


def allowed_for(module: str) -> set[str]:
    prefixes = [p for p in ALLOWED if module == p or module.startswith(p + ".")]
    return ALLOWED[max(prefixes, key=len)]


def every_module() -> list[str]:
    """Every module of the product's packages, found on disk (nothing is imported to find them)."""
    found: list[str] = []
    for package in PACKAGES:
        base = next(root / package for root in SOURCE_ROOTS if (root / package).is_dir())
        found.append(package)
        for info in pkgutil.walk_packages([str(base)], prefix=package + "."):
            if ".migrations." in info.name:
                continue  # Alembic runs env.py and the revisions by path, never as modules
            found.append(info.name)
    return sorted(found)


# The child: fork one process per module from a parent that has imported nothing.
_PROBE = textwrap.dedent(
    """
    import json, os, sys
    modules = json.loads(sys.argv[1])
    for library in json.loads(sys.argv[2]):
        try:
            __import__(library)
        except ImportError:
            pass
    before = set(sys.modules)
    results = {}
    for name in modules:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            try:
                __import__(name)
                loaded = sorted({m.split(".")[0] for m in set(sys.modules) - before})
                message = json.dumps({"ok": True, "loaded": loaded})
            except BaseException as exc:
                message = json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
            os.write(write, message.encode())
            os._exit(0)
        os.close(write)
        chunks = []
        while True:
            chunk = os.read(read, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(read)
        os.waitpid(pid, 0)
        results[name] = json.loads(b"".join(chunks) or b'{"ok": false, "error": "no answer"}')
    print(json.dumps(results))
    """
)


def import_each(modules: list[str], source_roots: list[Path]) -> dict[str, dict]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(p) for p in source_roots))
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(modules), json.dumps(sorted(BASELINE))],
        capture_output=True, text=True, env=env, cwd=source_roots[0], timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def third_party(names: list[str]) -> set[str]:
    """Top-level third-party modules among ``names`` (private helpers such as ``_cython_3`` left out)."""
    ours = {"instrument", *PACKAGES}
    return {
        n
        for n in names
        if n not in sys.stdlib_module_names and n not in ours and not n.startswith("_")
    }


def violations(results: dict[str, dict]) -> list[str]:
    problems = []
    for module, result in sorted(results.items()):
        if not result["ok"]:
            problems.append(f"{module}: cannot be imported on its own: {result['error']}")
            continue
        extra = third_party(result["loaded"]) - allowed_for(module)
        if extra:
            problems.append(f"{module} loads {', '.join(sorted(extra))}, which its layer may not")
    return problems


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks one child per module (POSIX only)")
def test_every_module_loads_only_what_its_layer_allows() -> None:
    from concurrent.futures import ThreadPoolExecutor

    modules = every_module()
    assert len(modules) > 100  # the walk found the packages
    halves = [modules[0::2], modules[1::2]]  # two parents, one per core
    with ThreadPoolExecutor(len(halves)) as pool:
        results = {}
        for part in pool.map(lambda half: import_each(half, SOURCE_ROOTS), halves):
            results.update(part)
    assert set(results) == set(modules)
    assert violations(results) == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks one child per module (POSIX only)")
def test_a_planted_forbidden_import_is_caught(tmp_path: Path) -> None:
    """The check above can fail: plant ``import pyreadstat`` in the dataset builder of a copy."""
    import shutil

    copy = tmp_path / "src"
    shutil.copytree(
        ROOT / "instrument", copy / "instrument", ignore=shutil.ignore_patterns("__pycache__")
    )
    builder = copy / "instrument" / "dataset" / "builder.py"
    builder.write_text(
        builder.read_text(encoding="utf-8") + "\nimport pyreadstat  # planted\n", encoding="utf-8"
    )
    roots = [copy, ROOT / "modes", ROOT / "plugins"]
    (found,) = violations(import_each(["instrument.dataset.builder"], roots))
    assert found.startswith("instrument.dataset.builder loads ") and "pyreadstat" in found


def test_starting_the_plugin_host_loads_no_web_or_file_format_library() -> None:
    """Listing modes and formats, as every command does, must not pay for Flask, Twilio or writers.

    Built-in plugins import those inside the functions that use them.
    """
    code = (
        "import sys\n"
        "from instrument.plugins import PluginFacade, get_plugin_manager\n"
        "facade = PluginFacade(get_plugin_manager(load_entrypoints=False))\n"
        "facade.modes(); facade.output_formats(); facade.question_types(); facade.plugin_info()\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(p) for p in SOURCE_ROOTS))
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert "pluggy" in loaded  # the check sees third-party libraries at all
    assert loaded & (WEB | WRITERS | {"twilio", "lxml", "click"}) == set()
