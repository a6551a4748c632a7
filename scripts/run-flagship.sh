#!/usr/bin/env bash
# The README's main command: install survey-instrument, check and test the flagship
# questionnaire, then serve it on the embedded SQLite store (instrument.db here).
# Open the printed respondent link in a browser; Ctrl-C stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e .
instrument check questionnaires/social_licence.yaml
instrument test questionnaires/social_licence.yaml
exec instrument serve questionnaires/social_licence.yaml "$@"
