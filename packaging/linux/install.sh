#!/usr/bin/env bash
# Install VolTA-3D Studio for the current user (no root needed):
#   - the app folder       -> ~/.local/share/volta-studio/app   (or leave it where it is: --in-place)
#   - the command          -> ~/.local/bin/volta-studio
#   - the menu entry       -> ~/.local/share/applications/volta-studio.desktop
#   - the icon             -> ~/.local/share/icons/hicolor/*/apps/volta-studio.{png,svg}
#   - file types           -> .nii, .nii.gz, .mgz, .mgh (~/.local/share/mime), opened by VolTA-3D Studio
#                             by default (~/.config/mimeapps.list; --no-default leaves your defaults alone)
#
#   ./install.sh [--in-place] [--no-default]
#
# Honours XDG_DATA_HOME, XDG_CONFIG_HOME, and VOLTA_PREFIX / VOLTA_BIN_DIR to install elsewhere.
# Uninstall with ~/.local/share/volta-studio/uninstall.sh (your models and runs are kept).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DATA_HOME="${XDG_DATA_HOME:-$HOME/.local/share}"
CONFIG_HOME="${XDG_CONFIG_HOME:-$HOME/.config}"
PREFIX="${VOLTA_PREFIX:-$DATA_HOME/volta-studio}"
BIN_DIR="${VOLTA_BIN_DIR:-$HOME/.local/bin}"
DESKTOP_ID="volta-studio.desktop"
MIME_TYPES="application/x-nifti application/x-nifti-gz application/x-freesurfer-mgz application/x-freesurfer-mgh"
IN_PLACE=0
SET_DEFAULT=1

for arg in "$@"; do
  case "$arg" in
    --in-place) IN_PLACE=1 ;;
    --no-default) SET_DEFAULT=0 ;;
    -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

log() { printf '[install] %s\n' "$*"; }

SOURCE_APP="$HERE/volta-studio"
if [ ! -x "$SOURCE_APP/volta-studio" ]; then
  echo "install.sh: $SOURCE_APP/volta-studio is missing: run this script from the unpacked VolTA-3D Studio folder" >&2
  exit 1
fi

mkdir -p "$PREFIX" "$BIN_DIR" "$DATA_HOME/applications"
if [ "$IN_PLACE" = 1 ]; then
  APP_DIR="$SOURCE_APP"
  rm -rf "$PREFIX/app"
else
  APP_DIR="$PREFIX/app"
  if [ "$SOURCE_APP" != "$APP_DIR" ]; then
    log "copying the app to $APP_DIR"
    rm -rf "$PREFIX/app.new"
    cp -a "$SOURCE_APP" "$PREFIX/app.new"
    rm -rf "$APP_DIR"
    mv "$PREFIX/app.new" "$APP_DIR"
  fi
fi
EXE="$APP_DIR/volta-studio"
cp "$HERE/uninstall.sh" "$PREFIX/uninstall.sh"
chmod 755 "$PREFIX/uninstall.sh"

# the command
ln -sfn "$EXE" "$BIN_DIR/volta-studio"

# the menu entry, with the executable's absolute path (quoted: it may contain spaces)
sed -e "s|^Exec=.*|Exec=\"$EXE\" %f|" -e "s|^TryExec=.*|TryExec=$EXE|" \
  "$HERE/share/applications/$DESKTOP_ID" > "$DATA_HOME/applications/$DESKTOP_ID"
chmod 644 "$DATA_HOME/applications/$DESKTOP_ID"

# icons
for icon in "$HERE"/share/icons/hicolor/*/apps/volta-studio.*; do
  size_dir="$(basename "$(dirname "$(dirname "$icon")")")"
  mkdir -p "$DATA_HOME/icons/hicolor/$size_dir/apps"
  cp "$icon" "$DATA_HOME/icons/hicolor/$size_dir/apps/"
done
touch "$DATA_HOME/icons/hicolor" 2>/dev/null || true
if command -v gtk-update-icon-cache >/dev/null 2>&1; then
  gtk-update-icon-cache -q -t -f "$DATA_HOME/icons/hicolor" >/dev/null 2>&1 || true
fi

# file types
MIME_XML="$HERE/share/mime/volta-studio-mime.xml"
if command -v xdg-mime >/dev/null 2>&1; then
  XDG_DATA_HOME="$DATA_HOME" xdg-mime install --mode user --novendor "$MIME_XML" || true
fi
mkdir -p "$DATA_HOME/mime/packages"
cp "$MIME_XML" "$DATA_HOME/mime/packages/volta-studio-mime.xml"
if command -v update-mime-database >/dev/null 2>&1; then
  update-mime-database "$DATA_HOME/mime" >/dev/null 2>&1 || true
fi

# default application for those types: [Default Applications] in mimeapps.list
set_defaults() {
  local list="$CONFIG_HOME/mimeapps.list"
  mkdir -p "$CONFIG_HOME"
  touch "$list"
  awk -v types="$MIME_TYPES" -v entry="$DESKTOP_ID" '
    BEGIN { n = split(types, t, " "); for (i = 1; i <= n; i++) want[t[i]] = 1 }
    function add() { for (i = 1; i <= n; i++) print t[i] "=" entry ";"; done = 1 }
    /^\[/ { if (insec && !done) add(); insec = ($0 == "[Default Applications]"); print; next }
    insec { split($0, kv, "="); if (kv[1] in want) next }
    { print }
    END { if (!done) { if (!insec) print "[Default Applications]"; add() } }
  ' "$list" > "$list.volta-tmp" && mv "$list.volta-tmp" "$list"
}
if [ "$SET_DEFAULT" = 1 ]; then
  set_defaults
fi
if command -v update-desktop-database >/dev/null 2>&1; then
  update-desktop-database -q "$DATA_HOME/applications" >/dev/null 2>&1 || true
fi

cat > "$PREFIX/install.conf" <<EOF
APP_DIR=$APP_DIR
IN_PLACE=$IN_PLACE
BIN_DIR=$BIN_DIR
EOF

log "installed VolTA-3D Studio: $EXE"
log "start it from your applications menu (VolTA-3D Studio), by opening a .nii/.nii.gz/.mgz file, or with: volta-studio"
case ":$PATH:" in *":$BIN_DIR:"*) ;; *) log "note: $BIN_DIR is not on your PATH; add it to run 'volta-studio' from a terminal" ;; esac
log "your models and training runs live in: $DATA_HOME/VolTA-3D Studio (models/, runs/)"
log "check the installation: volta-studio --self-test"
log "uninstall: $PREFIX/uninstall.sh"
