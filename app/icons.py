"""Icons from ``resources/icons`` (SVG), found in a checkout and in a PyInstaller bundle."""

from __future__ import annotations

import sys
from pathlib import Path

from PyQt6.QtGui import QIcon


def icons_dir() -> Path:
    bundle = getattr(sys, "_MEIPASS", None)
    root = Path(bundle) if bundle else Path(__file__).resolve().parents[1]
    return root / "resources" / "icons"


def icon(name: str) -> QIcon:
    """``resources/icons/<name>.svg`` as a QIcon (an empty icon if the file is missing)."""
    path = icons_dir() / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()
