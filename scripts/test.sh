#!/usr/bin/env bash
# Set everything up (first run only), check the layering contracts and run the test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m slow` or `bash scripts/test.sh tests/core`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh --recipe  # the synthesis tests read the recipe's label maps
export QT_API=pyqt6
# Tests run with 2 torch threads at most; subprocesses they spawn set their own.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
mkdir -p test-artifacts
echo "[test] import contracts (ARCHITECTURE.md)" >&2
.venv/bin/lint-imports --no-cache
echo "[test] pytest" >&2
# pytest-xvfb starts a virtual X server for the GUI tests (VTK needs real OpenGL, not Qt's offscreen platform).
set +e
.venv/bin/python -m pytest -m "not slow" "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then echo "[test] no tests were collected: that is a failure" >&2; exit 1; fi
exit "$status"
