"""The main window's actions, menus and toolbar, kept in sync with ``DisplayOptions``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PyQt6.QtCore import QSize
from PyQt6.QtGui import QAction, QActionGroup, QKeySequence
from PyQt6.QtWidgets import QComboBox, QMenu, QToolBar

from app.icons import icon
from app.state import COLORMAPS, PRESETS, VIEW_NAMES, Layout

if TYPE_CHECKING:
    from app.main_window import MainWindow

_LAYOUT_ITEMS = ((Layout.GRID, "2 x 2", "layout-grid", "Ctrl+1"),
                 (Layout.ONE_PLUS_THREE, "One large + three small", "layout-one-plus-three", "Ctrl+2"),
                 (Layout.SINGLE, "Single view", "layout-single", "Ctrl+3"))


class WindowActions:
    """Builds the menus and toolbar of ``window`` and mirrors display options into check marks."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self._display = window.display
        self._build_file_menu()
        self._build_view_menu()
        self._build_help_menu()
        self._build_toolbar()
        self._display.changed.connect(self._sync)
        window.recent.changed.connect(self._rebuild_recent)
        window.image.changed.connect(self._on_image_changed)
        self._rebuild_recent()
        self._sync("")
        self._on_image_changed(None)

    def _action(self, text: str, slot: object = None, shortcut: str | QKeySequence.StandardKey | None = None,
                icon_name: str | None = None, checkable: bool = False) -> QAction:
        action = QAction(text, self.window)
        if icon_name:
            action.setIcon(icon(icon_name))
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        if slot is not None:
            action.triggered.connect(slot)
        return action

    # menus ------------------------------------------------------------------------------------
    def _build_file_menu(self) -> None:
        w = self.window
        menu = w.menuBar().addMenu("&File")
        self.file_menu = menu
        self.open = self._action("&Open...", w.open_file_dialog, QKeySequence.StandardKey.Open, "open")
        self.open_dicom = self._action("Open &DICOM folder...", w.open_dicom_dialog, "Ctrl+Shift+O")
        self.open_sample = self._action("Open &sample scan", w.open_sample, None, "sample")
        self.recent_menu = QMenu("Open &recent", w)
        self.close_scan = self._action("&Close scan", w.close_scan, QKeySequence.StandardKey.Close)
        self.quit = self._action("&Quit", w.close, QKeySequence.StandardKey.Quit)
        menu.addActions([self.open, self.open_dicom])
        menu.addMenu(self.recent_menu)
        menu.addAction(self.open_sample)
        menu.addSeparator()
        menu.addAction(self.close_scan)
        menu.addSeparator()
        menu.addAction(self.quit)

    def _build_view_menu(self) -> None:
        w, display = self.window, self._display
        menu = w.menuBar().addMenu("&View")
        layout_menu = menu.addMenu("&Layout")
        self.layouts: dict[Layout, QAction] = {}
        group = QActionGroup(w)
        for layout, text, icon_name, shortcut in _LAYOUT_ITEMS:
            action = self._action(text, lambda _c=False, lay=layout: display.set_layout(lay), shortcut,
                                  icon_name, checkable=True)
            group.addAction(action)
            layout_menu.addAction(action)
            self.layouts[layout] = action
        main_menu = menu.addMenu("&Main view")
        self.main_views: dict[str, QAction] = {}
        group = QActionGroup(w)
        for name in VIEW_NAMES:
            action = self._action(name.capitalize() if name != "3d" else "3D",
                                  lambda _c=False, n=name: display.set_main_view(n), checkable=True)
            group.addAction(action)
            main_menu.addAction(action)
            self.main_views[name] = action
        menu.addSeparator()
        self.radiological = self._action("&Radiological convention (right on left)",
                                         lambda checked: display.set_radiological(checked), "Ctrl+Shift+R",
                                         "radiological", checkable=True)
        self.crosshair = self._action("Show &crosshair", lambda checked: display.set_show_crosshair(checked),
                                      "Ctrl+H", "crosshair", checkable=True)
        menu.addActions([self.radiological, self.crosshair])
        wl_menu = menu.addMenu("&Window / level")
        self.presets = {name: self._action(name, lambda _c=False, p=name: w.apply_preset(p))
                        for name in PRESETS}
        self.presets[PRESETS[0]].setShortcut(QKeySequence("Ctrl+A"))
        wl_menu.addActions(list(self.presets.values()))
        cmap_menu = menu.addMenu("C&olour map")
        self.colormaps: dict[str, QAction] = {}
        group = QActionGroup(w)
        for name in COLORMAPS:
            action = self._action(name.capitalize(), lambda _c=False, n=name: display.set_colormap(n),
                                  checkable=True)
            group.addAction(action)
            cmap_menu.addAction(action)
            self.colormaps[name] = action
        menu.addSeparator()
        self.reset_view = self._action("Reset &view", w.reset_views, "Ctrl+0", "reset-view")
        menu.addAction(self.reset_view)
        self.view_menu = menu

    def _build_help_menu(self) -> None:
        menu = self.window.menuBar().addMenu("&Help")
        self.help_menu = menu
        from app import help_dialogs

        self.guide = self._action("&Quick guide", lambda: help_dialogs.show_guide(self.window),
                                  QKeySequence.StandardKey.HelpContents)
        self.shortcuts = self._action("&Keyboard shortcuts",
                                      lambda: help_dialogs.show_shortcuts(self.window, self.window.menuBar()))
        self.about = self._action("&About VolTA-3D Studio", self.window.show_about)
        menu.addActions([self.guide, self.shortcuts])
        menu.addSeparator()
        menu.addAction(self.about)

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main", self.window)
        bar.setObjectName("main_toolbar")
        bar.setIconSize(QSize(20, 20))
        bar.setMovable(False)
        bar.addActions([self.open, self.open_sample])
        bar.addSeparator()
        bar.addActions(list(self.layouts.values()))
        bar.addSeparator()
        bar.addActions([self.radiological, self.crosshair, self.reset_view])
        bar.addSeparator()
        self.preset_box = QComboBox(bar)
        self.preset_box.setObjectName("preset_box")
        self.preset_box.setToolTip("Window / level preset (right-drag in a slice view to adjust)")
        self.preset_box.addItems(PRESETS)
        self.preset_box.activated.connect(lambda i: self.window.apply_preset(PRESETS[i]))
        wl = self._action("Window / level", lambda: self.window.apply_preset(self.preset_box.currentText()),
                          None, "window-level")
        bar.addAction(wl)
        bar.addWidget(self.preset_box)
        self.toolbar = bar
        self.window.addToolBar(bar)
        self.view_menu.addSeparator()
        self.view_menu.addAction(bar.toggleViewAction())

    # model -> actions -------------------------------------------------------------------------
    def _sync(self, _field: str) -> None:
        display = self._display
        self.layouts[display.layout].setChecked(True)
        self.main_views[display.main_view].setChecked(True)
        self.radiological.setChecked(display.radiological)
        self.crosshair.setChecked(display.show_crosshair)
        self.colormaps[display.colormap].setChecked(True)

    def _on_image_changed(self, layer: object) -> None:
        has_image = layer is not None
        for action in (self.close_scan, self.reset_view, *self.presets.values()):
            action.setEnabled(has_image)
        self.preset_box.setEnabled(has_image)

    def _rebuild_recent(self, *_args: object) -> None:
        self.recent_menu.clear()
        paths = self.window.recent.paths
        for path in paths:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _c=False, p=path: self.window.open_path(p))
        if paths:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self.window.recent.clear)
        self.recent_menu.setEnabled(bool(paths))
