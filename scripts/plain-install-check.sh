#!/usr/bin/env bash
# The plain install, proven: `pip install .` with no extras into a fresh virtual environment,
# then the README's main job there on SQLite: check and test the flagship, serve it and answer
# a page over HTTP, simulate into the database, export every registered format, `instrument try`.
# The suite itself installs `.[dev]`, which would hide a core module that needs an extra
# (psycopg, lxml): this script is what catches that. Called by scripts/test.sh; runs alone too.
#
# Dependencies come from a wheel cache (${INSTRUMENT_WHEEL_CACHE:-~/.cache/survey-instrument/wheels})
# filled by `pip wheel .` on the first run and refreshed whenever an offline install from it
# fails (a dependency added or raised), so a run takes well under two minutes. Needs pip >= 22.3
# (`pip --python`). Exits non-zero, saying which step failed, on any error.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
FLAGSHIP="$ROOT/questionnaires/social_licence.yaml"
CACHE="${INSTRUMENT_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/survey-instrument/wheels}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/plain-install.XXXXXX")"
VENV="$WORK/venv"
DB="sqlite:///$WORK/instrument.db"
SERVER_PID=""
STEP="setting up"

log() { printf 'plain-install: %s\n' "$*" >&2; }
finish() {
  local status=$?
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ "$status" -ne 0 ]; then
    log "FAILED while $STEP (exit $status)"
    [ -s "$WORK/serve.log" ] && { log "server output:"; sed 's/^/  /' "$WORK/serve.log" >&2; }
    log "files kept in $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap finish EXIT
began=$SECONDS
cd "$WORK"  # never the source tree: `python -c` must import the installed package

STEP="creating the virtual environment"
python3 -m venv --without-pip "$VENV"
PY="$VENV/bin/python"
INSTRUMENT="$VENV/bin/instrument"

STEP="installing the package with no extras"
mkdir -p "$CACHE"
build_requires=$(python3 -c 'import sys, tomllib; print(" ".join(tomllib.load(open(sys.argv[1], "rb"))["build-system"]["requires"]))' "$ROOT/pyproject.toml")
install() {
  python3 -m pip --python "$PY" install --quiet --disable-pip-version-check --no-compile \
    --no-index --find-links "$CACHE" "$ROOT" 2>"$WORK/pip.log"
}
if ! install; then
  log "filling the wheel cache $CACHE (the first run, or the dependencies changed)"
  # shellcheck disable=SC2086  # build_requires is a list of requirement strings
  python3 -m pip wheel --quiet --disable-pip-version-check -w "$CACHE" "$ROOT" $build_requires \
    2>"$WORK/pip-wheel.log" || { cat "$WORK/pip-wheel.log" >&2; exit 1; }
  install || { cat "$WORK/pip.log" >&2; exit 1; }
fi
for extra_only in psycopg lxml pytest; do
  if "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$extra_only') is None)"; then
    log "$extra_only is installed, but no extra was asked for: this is not a plain install"
    exit 1
  fi
done
log "installed in $((SECONDS - began)) s"

STEP="instrument check and instrument test on the flagship"
"$INSTRUMENT" check "$FLAGSHIP" >/dev/null
"$INSTRUMENT" test "$FLAGSHIP" >/dev/null

STEP="instrument try"
printf ':quit\n' | "$INSTRUMENT" try "$FLAGSHIP" --seed 1 >"$WORK/try.log"
grep -q "Outcome: partial" "$WORK/try.log"

STEP="serving the flagship"
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$INSTRUMENT" serve "$FLAGSHIP" --database "$DB" --port "$port" >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!

STEP="answering a page over HTTP"
"$PY" - "http://127.0.0.1:$port" "$SERVER_PID" <<'PYTHON'
"""Start an interview at the open link and answer pages with the fields each form holds."""
import http.cookiejar
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser

base, server_pid = sys.argv[1], int(sys.argv[2])
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


class Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.inside: dict | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag == "form":
            self.inside = {"action": attrs.get("action") or "", "fields": []}
            self.forms.append(self.inside)
        elif self.inside is not None and tag in ("input", "button"):
            self.inside["fields"].append(attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = None


def fetch(url: str, data: list | None = None) -> tuple[str, str]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    with opener.open(urllib.request.Request(url, data=body), timeout=30) as reply:
        return reply.geturl(), reply.read().decode("utf-8")  # 303s are followed


def form_of(html: str, button: str) -> dict:
    parser = Forms()
    parser.feed(html)
    for form in parser.forms:
        if form["action"].rstrip("/").endswith("/language"):
            continue  # the page's choice of language (the flagship is in English and Welsh)
        if any(f.get("value") == button or f.get("type") == "submit" and button == "" for f in form["fields"]):
            return form
    raise SystemExit(f"no form with a '{button}' button on the page:\n{html[:2000]}")


def hidden(form: dict) -> list:
    return [(f["name"], f.get("value", "")) for f in form["fields"] if f.get("type") == "hidden"]


deadline = time.monotonic() + 60
while True:  # the server is up when the open link answers
    try:
        url, page = fetch(base + "/web/social_licence/")
        break
    except (urllib.error.URLError, ConnectionError):
        try:
            os.kill(server_pid, 0)
        except OSError:
            raise SystemExit("the server stopped before it answered") from None
        if time.monotonic() > deadline:
            raise SystemExit("the server did not answer within 60 s") from None
        time.sleep(0.3)

start = form_of(page, "")
url, page = fetch(urllib.parse.urljoin(url, start["action"]), hidden(start))
answered = None
for _ in range(5):  # the introduction, then the first question
    form = form_of(page, "continue")
    radios = {}
    for field in form["fields"]:
        if field.get("type") == "radio":
            radios.setdefault(field["name"], field["value"])
    if answered is not None:
        names = {f.get("name") for f in form["fields"]}
        if answered in names or "error-summary" in page:
            raise SystemExit(f"the answer to {answered} was not taken:\n{page[:3000]}")
        print(f"answered {answered}; the next page asks {sorted(n for n in names if n not in ('form_state', 'action'))}")
        break
    if radios:
        answered = next(iter(radios))
    url, page = fetch(
        urllib.parse.urljoin(url, form["action"]),
        hidden(form) + list(radios.items()) + [("action", "continue")],
    )
else:
    raise SystemExit("no question with options was reached in five pages")
PYTHON
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""

STEP="instrument simulate into the database"
set +e
"$INSTRUMENT" simulate "$FLAGSHIP" -n 300 --seed 1 --database "$DB" >"$WORK/simulate.log" 2>&1
status=$?
set -e
if [ "$status" -ne 0 ] && [ "$status" -ne 3 ]; then  # 3: a question unreached in 300 respondents
  cat "$WORK/simulate.log" >&2
  exit "$status"
fi
grep -q "Stored 300 test interviews" "$WORK/simulate.log"

STEP="instrument export in every registered format"
formats=$("$INSTRUMENT" plugins --format json | "$PY" -c 'import json, sys; print(",".join(f["name"] for f in json.load(sys.stdin)["output_formats"]))')
"$INSTRUMENT" export --questionnaire social_licence --format "$formats" --out "$WORK/out" \
  --database "$DB" --include-test --include-partial --long-loops --no-progress | tee "$WORK/export.log" >&2
grep -Eq "social_licence: [1-9][0-9]* cases" "$WORK/export.log"
"$PY" - "$WORK/out" "$formats" <<'PYTHON'
"""Every format's files are there and the checksums hold."""
import hashlib
import sys
from pathlib import Path

from instrument.plugins import PluginFacade, get_plugin_manager

out, names = Path(sys.argv[1]), sys.argv[2].split(",")
formats = PluginFacade(get_plugin_manager()).output_formats()
missing = [f for name in names for f in formats[name].file_names("social_licence") if not (out / f).is_file()]
if missing:
    raise SystemExit(f"the export did not write {missing}")
listed = dict(line.split("  ", 1)[::-1] for line in (out / "SHA256SUMS").read_text().splitlines())
for name, digest in listed.items():
    if hashlib.sha256((out / name).read_bytes()).hexdigest() != digest:
        raise SystemExit(f"{name} does not match its checksum")
print(f"{len(names)} formats, {len(listed)} files, checksums hold: {', '.join(sorted(listed))}")
PYTHON

STEP="done"
log "the plain install runs the README's main job ($((SECONDS - began)) s)"
