#!/usr/bin/env bash
# Set everything up (first run only) and start VolTA-3D Studio with the bundled sample scan.
# Extra arguments go to the app, e.g. `bash scripts/run.sh path/to/scan.nii.gz`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
if [ $# -eq 0 ]; then set -- --sample; fi
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "[run] no display found: starting under xvfb-run (headless)" >&2
  exec xvfb-run -a -s "-screen 0 1600x1000x24" "$ROOT/.venv/bin/volta-studio" "$@"
fi
exec "$ROOT/.venv/bin/volta-studio" "$@"
