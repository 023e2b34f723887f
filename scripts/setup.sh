#!/usr/bin/env bash
# One-time (and idempotent) set-up of VolTA-3D Studio from a source checkout.
#   - Debian system libraries that Qt 6 (xcb) + VTK need, Xvfb for tests/headless use, and
#     Chromium (the QC gallery's browser test drives it headless)
#   - a virtual environment in .venv
#   - PyTorch first (CPU 2.13.0 by default; set VOLTA_TORCH_SPEC for a CUDA build), then the app
# Re-running is cheap: each step is skipped when it is already done.
#
#   bash scripts/setup.sh            # the app and the test tools
#   bash scripts/setup.sh --recipe   # also the build-time data packages of the model recipe
#                                    # (FreeSurfer/atlas label maps; ~400 MB; the tests need them)
#                                    # and PyInstaller (packaging/, its smoke test)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SYSTEM_PACKAGES=(python3-venv libglib2.0-0 libgl1 libegl1 libfontconfig1 libxkbcommon0 libdbus-1-3
  libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0
  libxcb-shape0 xvfb xauth binutils)  # binutils: objdump, which PyInstaller needs (packaging test)
# tests/core/report/test_gallery_browser.py opens the QC gallery in headless Chromium; a system
# without the package (Ubuntu ships it as a snap) still sets up, and that test says it skipped
OPTIONAL_SYSTEM_PACKAGES=(chromium)
TORCH_SPEC="${VOLTA_TORCH_SPEC:-torch==2.13.0}"
PYTHON="${VOLTA_PYTHON:-python3}"
VENV="$ROOT/.venv"
EXTRAS="dev"
if [ "${1:-}" = "--recipe" ]; then EXTRAS="dev,packaging,recipe"; fi

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

install_system_packages() {
  command -v dpkg >/dev/null 2>&1 || { log "not a Debian-like system: install the Qt/OpenGL libraries listed in README yourself"; return 0; }
  local missing=() optional=()
  for p in "${SYSTEM_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  for p in "${OPTIONAL_SYSTEM_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || command -v "$p" >/dev/null 2>&1 || optional+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ] && return 0
  local SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
      log "missing system packages: ${missing[*]} ${optional[*]}"
      log "run: sudo apt-get install -y ${missing[*]} ${optional[*]}   (then re-run this command)"
      return 0
    fi
  fi
  $SUDO apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing system packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if [ ${#optional[@]} -gt 0 ]; then
    log "installing ${optional[*]} (for the QC gallery's browser test)"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${optional[@]}" >/dev/null \
      || log "could not install ${optional[*]}: the gallery's browser test will be skipped"
  fi
}

create_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtual environment in .venv ($($PYTHON --version))"
    "$PYTHON" -m venv "$VENV"
  fi
}

install_python_packages() {
  local stamp="$VENV/.setup-stamp"
  local want
  want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16) $TORCH_SPEC $EXTRAS"
  if [ -f "$stamp" ]; then
    local have; have="$(cat "$stamp")"
    # an environment set up with the recipe extras also serves the app alone
    if [ "$have" = "$want" ] || [ "$have" = "${want% dev} dev,packaging,recipe" ]; then return 0; fi
  fi
  local pip=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
  # torch before anything that depends on it: an unpinned torch would pull several GB of CUDA wheels.
  if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
    log "installing $TORCH_SPEC"
    "${pip[@]}" "$TORCH_SPEC"
  fi
  log "installing VolTA-3D Studio and its dependencies (editable, extras: $EXTRAS)"
  "${pip[@]}" -e ".[$EXTRAS]"
  echo "$want" > "$stamp"
}

install_system_packages
create_venv
install_python_packages
log "ready: $VENV"
