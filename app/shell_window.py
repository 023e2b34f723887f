"""A main window that implements ``app.features.shell.Shell``: menus in a fixed order with named
sections, toolbars, the status bar's note, docks. ``MainWindow`` adds the scene, the panels, the
views and the features; a test builds one feature on a bare ``ShellWindow``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QSettings, Qt, QTimer
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMenu, QStatusBar, QToolBar, QWidget

from app.features.shell import MENU_SECTIONS, MENUS

NOTE_MS = 5000


class ShellWindow(QMainWindow):
    """The window as features see it (see ``Shell``); every menu of ``MENUS`` exists from the start."""

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self._menus: dict[str, QMenu] = {}
        self._sections: dict[str, dict[str, QAction]] = {}
        self._toolbars: dict[str, QToolBar] = {}
        for title in MENUS:
            self.menu(title)
        bar = self.statusBar()
        self.load_label = QLabel(bar)
        self.load_label.setObjectName("load_label")
        bar.addPermanentWidget(self.load_label)
        self._note_timer = QTimer(self)
        self._note_timer.setSingleShot(True)
        self._note_timer.timeout.connect(self.load_label.clear)

    # the Shell ---------------------------------------------------------------------------------
    @property
    def widget(self) -> QMainWindow:
        return self

    def menu(self, title: str) -> QMenu:
        if title not in self._menus:
            if title not in MENUS:
                raise ValueError(f"unknown menu {title!r}; choose one of {MENUS}")
            menu = QMenu(title, self)
            later = [self._menus[t] for t in MENUS[MENUS.index(title) + 1:] if t in self._menus]
            if later:
                self.menuBar().insertMenu(later[0].menuAction(), menu)
            else:
                self.menuBar().addMenu(menu)
            self._menus[title] = menu
            # each section ends at a separator (Qt hides doubled, leading and trailing ones)
            self._sections[title] = {name: menu.addSeparator() for name in MENU_SECTIONS[title]}
        return self._menus[title]

    def add_to_menu(self, title: str, section: str, items: Sequence[QAction | QMenu]) -> None:
        menu = self.menu(title)
        end = self._sections[title][section]
        for item in items:
            if isinstance(item, QMenu):
                menu.insertMenu(end, item)
            else:
                menu.insertAction(end, item)

    def toolbar(self, title: str) -> QToolBar:
        if title not in self._toolbars:
            bar = QToolBar(title, self)
            bar.setObjectName(f"{title.lower()}_toolbar")
            bar.setMovable(False)
            self.addToolBar(bar)
            self._toolbars[title] = bar
        return self._toolbars[title]

    def status_bar(self) -> QStatusBar:
        return self.statusBar()

    def note(self, text: str) -> None:
        """A short-lived note beside the cursor readout (the readout itself is never hidden)."""
        self.load_label.setText(text)
        self._note_timer.start(NOTE_MS)

    def show_status(self, text: str | None) -> None:
        self._note_timer.stop()
        self.load_label.setText(text or "")

    def add_dock(self, dock: QDockWidget, area: Qt.DockWidgetArea, size: int | None = None) -> None:
        self.addDockWidget(area, dock)
        self.restoreDockWidget(dock)
        if size is not None:
            orientation = Qt.Orientation.Vertical if area in (Qt.DockWidgetArea.TopDockWidgetArea,
                                                              Qt.DockWidgetArea.BottomDockWidgetArea) \
                else Qt.Orientation.Horizontal
            self.resizeDocks([dock], [size], orientation)

    def save_view_screenshots(self, folder: Path, center_world: np.ndarray,
                              half_height_mm: float) -> dict[str, Path]:
        return {}  # no views in a bare shell
