"""Icons from ``resources/icons`` (SVG), found in a checkout and in a PyInstaller bundle."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtGui import QIcon

from volta_core.contracts.resources import resources_root


def icons_dir() -> Path:
    return resources_root() / "icons"


def icon(name: str) -> QIcon:
    """``resources/icons/<name>.svg`` as a QIcon (an empty icon if the file is missing)."""
    path = icons_dir() / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()
