"""What a feature may ask of the window: menus, toolbars, the status bar, docks and a short note.

Every feature gets the scene (``app.state.scene.Scene``) and a ``Shell``; never the window itself,
and never another feature. ``app.main_window.MainWindow`` implements it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from PyQt6.QtCore import QSettings, Qt
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QDockWidget, QMainWindow, QMenu, QStatusBar, QToolBar

#: The menu bar's menus, left to right, whichever feature asks for one first.
MENUS = ("&File", "&Edit", "&View", "&Model", "&Training", "&Help")
#: Each menu's sections, top to bottom (a separator between sections that hold something).
MENU_SECTIONS: dict[str, tuple[str, ...]] = {
    "&File": ("open", "data", "close", "quit"),
    "&Edit": ("history", "brush"),
    "&View": ("layout", "display", "reset", "panels", "3d"),
    "&Model": ("run", "model", "navigate"),
    "&Training": ("panel", "data"),
    "&Help": ("guide", "about"),
}


class Shell(Protocol):
    """The window as features see it."""

    settings: QSettings

    @property
    def widget(self) -> QMainWindow:
        """The parent for dialogs, actions and docks (features must not call into it)."""

    def menu(self, title: str) -> QMenu:
        """The menu bar's menu ``title`` (one of ``MENUS``), created on first use."""

    def add_to_menu(self, title: str, section: str, items: Sequence[QAction | QMenu]) -> None:
        """Append actions or sub-menus to a section (see ``MENU_SECTIONS``) of menu ``title``."""

    def toolbar(self, title: str) -> QToolBar:
        """The toolbar ``title`` ("Main", "Edit"), created on first use (object name ``<title>_toolbar``)."""

    def status_bar(self) -> QStatusBar:
        """The status bar, for a feature's permanent widgets (progress, device)."""

    def note(self, text: str) -> None:
        """A short-lived message in the status bar."""

    def show_status(self, text: str | None) -> None:
        """A message that stays until replaced (None clears it)."""

    def add_dock(self, dock: QDockWidget, area: Qt.DockWidgetArea, size: int | None = None) -> None:
        """Dock ``dock`` in ``area`` (its last place restored), ``size`` px across if given."""

    def save_view_screenshots(self, folder: Path, center_world: np.ndarray,
                              half_height_mm: float) -> dict[str, Path]:
        """PNGs of every view centred on ``center_world`` ({} while the views are not built)."""
