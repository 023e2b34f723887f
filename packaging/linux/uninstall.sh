#!/usr/bin/env bash
# Remove VolTA-3D Studio installed by install.sh for the current user: the app folder (unless it
# was installed --in-place), the command, the menu entry, the icons, the file types and the
# default-application entries. Your models, training runs and settings are KEPT, unless --purge.
#
#   ~/.local/share/volta-studio/uninstall.sh [--purge]
#
# --purge also deletes ~/.local/share/VolTA-3D Studio (models/, runs/) and ~/.config/VolTA-3D/.
set -euo pipefail

DATA_HOME="${XDG_DATA_HOME:-$HOME/.local/share}"
CONFIG_HOME="${XDG_CONFIG_HOME:-$HOME/.config}"
PREFIX="${VOLTA_PREFIX:-$DATA_HOME/volta-studio}"
DESKTOP_ID="volta-studio.desktop"
USER_DATA="$DATA_HOME/VolTA-3D Studio"
PURGE=0

for arg in "$@"; do
  case "$arg" in
    --purge) PURGE=1 ;;
    -h|--help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "uninstall.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

log() { printf '[uninstall] %s\n' "$*"; }

APP_DIR="$PREFIX/app"
IN_PLACE=0
BIN_DIR="${VOLTA_BIN_DIR:-$HOME/.local/bin}"
if [ -f "$PREFIX/install.conf" ]; then
  APP_DIR="$(sed -n 's/^APP_DIR=//p' "$PREFIX/install.conf")"
  IN_PLACE="$(sed -n 's/^IN_PLACE=//p' "$PREFIX/install.conf")"
  BIN_DIR="$(sed -n 's/^BIN_DIR=//p' "$PREFIX/install.conf")"
fi

# the command: only our own link
link="$BIN_DIR/volta-studio"
if [ -L "$link" ] && [ "$(readlink "$link")" = "$APP_DIR/volta-studio" ]; then
  rm -f "$link"
fi

rm -f "$DATA_HOME/applications/$DESKTOP_ID"
rm -f "$DATA_HOME"/icons/hicolor/*/apps/volta-studio.png "$DATA_HOME"/icons/hicolor/*/apps/volta-studio.svg
if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -d "$DATA_HOME/icons/hicolor" ]; then
  gtk-update-icon-cache -q -t -f "$DATA_HOME/icons/hicolor" >/dev/null 2>&1 || true
fi

if command -v xdg-mime >/dev/null 2>&1 && [ -f "$DATA_HOME/mime/packages/volta-studio-mime.xml" ]; then
  XDG_DATA_HOME="$DATA_HOME" xdg-mime uninstall --mode user "$DATA_HOME/mime/packages/volta-studio-mime.xml" || true
fi
rm -f "$DATA_HOME/mime/packages/volta-studio-mime.xml"
if command -v update-mime-database >/dev/null 2>&1 && [ -d "$DATA_HOME/mime/packages" ]; then
  update-mime-database "$DATA_HOME/mime" >/dev/null 2>&1 || true
fi

# our entries in mimeapps.list (defaults and any "open with" lists)
list="$CONFIG_HOME/mimeapps.list"
if [ -f "$list" ]; then
  awk -v entry="$DESKTOP_ID" '
    /^\[/ { print; next }
    index($0, "=") {
      key = substr($0, 1, index($0, "=") - 1); n = split(substr($0, index($0, "=") + 1), apps, ";")
      out = ""; for (i = 1; i <= n; i++) if (apps[i] != "" && apps[i] != entry) out = out apps[i] ";"
      if (out != "") print key "=" out
      next
    }
    { print }
  ' "$list" > "$list.volta-tmp" && mv "$list.volta-tmp" "$list"
fi
if command -v update-desktop-database >/dev/null 2>&1 && [ -d "$DATA_HOME/applications" ]; then
  update-desktop-database -q "$DATA_HOME/applications" >/dev/null 2>&1 || true
fi

if [ "$IN_PLACE" != 1 ] && [ -d "$APP_DIR" ] && [ -x "$APP_DIR/volta-studio" ]; then
  rm -rf "$APP_DIR"
fi
rm -f "$PREFIX/install.conf" "$PREFIX/uninstall.sh"
rmdir "$PREFIX" 2>/dev/null || true

if [ "$PURGE" = 1 ]; then
  rm -rf "$USER_DATA" "$CONFIG_HOME/VolTA-3D"
  log "removed VolTA-3D Studio and your models, runs and settings"
else
  log "removed VolTA-3D Studio; your models and runs are kept in: $USER_DATA (delete it, or re-run with --purge)"
fi
