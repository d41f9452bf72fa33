#!/usr/bin/env bash
# Runs the Python client suite in its own virtualenv (created on first use).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${CASEBRIDGE_PY_VENV:-$here/.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
cd "$here"
exec "$venv/bin/python" -m pytest -q "$@"
