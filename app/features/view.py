"""The View menu and the main toolbar's view controls: layout, main view, orientation convention,
crosshair, window/level presets, colour map, reset, and the 3D view's clipping plane and fading;
kept in sync with the scene's ``DisplayOptions``."""

from __future__ import annotations

from PyQt6.QtGui import QAction, QActionGroup, QKeySequence
from PyQt6.QtWidgets import QComboBox, QMenu

from app.features.shell import Shell
from app.icons import icon
from app.state import COLORMAPS, PRESETS, VIEW_NAMES, Layout, preset_range
from app.state.scene import Scene

_LAYOUT_ITEMS = ((Layout.GRID, "2 x 2", "layout-grid", "Ctrl+1"),
                 (Layout.ONE_PLUS_THREE, "One large + three small", "layout-one-plus-three", "Ctrl+2"),
                 (Layout.SINGLE, "Single view", "layout-single", "Ctrl+3"))


class ViewFeature:
    """Builds the View menu and mirrors display options into check marks."""

    def __init__(self, scene: Scene, shell: Shell) -> None:
        self.scene, self.shell = scene, shell
        self._display = scene.display
        self._build_menu()
        self._build_toolbar()
        self._display.changed.connect(self._sync)
        scene.image.changed.connect(self._on_image_changed)
        self._sync("")
        self._on_image_changed(None)

    def _action(self, text: str, slot: object = None, shortcut: str | QKeySequence.StandardKey | None = None,
                icon_name: str | None = None, checkable: bool = False) -> QAction:
        action = QAction(text, self.shell.widget)
        if icon_name:
            action.setIcon(icon(icon_name))
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        if slot is not None:
            action.triggered.connect(slot)
        return action

    def _build_menu(self) -> None:
        shell, display = self.shell, self._display
        parent = shell.widget
        layout_menu = QMenu("&Layout", parent)
        self.layouts: dict[Layout, QAction] = {}
        group = QActionGroup(parent)
        for layout, text, icon_name, shortcut in _LAYOUT_ITEMS:
            action = self._action(text, lambda _c=False, lay=layout: display.set_layout(lay), shortcut,
                                  icon_name, checkable=True)
            group.addAction(action)
            layout_menu.addAction(action)
            self.layouts[layout] = action
        main_menu = QMenu("&Main view", parent)
        self.main_views: dict[str, QAction] = {}
        group = QActionGroup(parent)
        for name in VIEW_NAMES:
            action = self._action(name.capitalize() if name != "3d" else "3D",
                                  lambda _c=False, n=name: display.set_main_view(n), checkable=True)
            group.addAction(action)
            main_menu.addAction(action)
            self.main_views[name] = action
        shell.add_to_menu("&View", "layout", [layout_menu, main_menu])
        self.radiological = self._action("&Radiological convention (right on left)",
                                         lambda checked: display.set_radiological(checked), "Ctrl+Shift+R",
                                         "radiological", checkable=True)
        self.crosshair = self._action("Show &crosshair", lambda checked: display.set_show_crosshair(checked),
                                      "Ctrl+H", "crosshair", checkable=True)
        wl_menu = QMenu("&Window / level", parent)
        self.presets = {name: self._action(name, lambda _c=False, p=name: self.apply_preset(p))
                        for name in PRESETS}
        self.presets[PRESETS[0]].setShortcut(QKeySequence("Ctrl+A"))
        wl_menu.addActions(list(self.presets.values()))
        cmap_menu = QMenu("C&olour map", parent)
        self.colormaps: dict[str, QAction] = {}
        group = QActionGroup(parent)
        for name in COLORMAPS:
            action = self._action(name.capitalize(), lambda _c=False, n=name: display.set_colormap(n),
                                  checkable=True)
            group.addAction(action)
            cmap_menu.addAction(action)
            self.colormaps[name] = action
        shell.add_to_menu("&View", "display", [self.radiological, self.crosshair, wl_menu, cmap_menu])
        self.reset_view = self._action("Reset &view", self.scene.reset_views_requested.emit, "Ctrl+0",
                                       "reset-view")
        shell.add_to_menu("&View", "reset", [self.reset_view])
        self.clip_action = self._action("3D &clipping plane at the cursor", checkable=True)
        self.clip_action.toggled.connect(display.set_clipping)
        self.fade_action = self._action("&Fade the scan in 3D while surfaces are shown", checkable=True)
        self.fade_action.setToolTip("Make the head faint in the 3D view so the hippocampus surfaces inside it show")
        self.fade_action.toggled.connect(display.set_fade)
        shell.add_to_menu("&View", "3d", [self.clip_action, self.fade_action])

    def _build_toolbar(self) -> None:
        bar = self.shell.toolbar("Main")
        bar.addSeparator()
        bar.addActions(list(self.layouts.values()))
        bar.addSeparator()
        bar.addActions([self.radiological, self.crosshair, self.reset_view])
        bar.addSeparator()
        self.preset_box = QComboBox(bar)
        self.preset_box.setObjectName("preset_box")
        self.preset_box.setToolTip("Window / level preset (right-drag in a slice view to adjust)")
        self.preset_box.addItems(PRESETS)
        self.preset_box.activated.connect(lambda i: self.apply_preset(PRESETS[i]))
        wl = self._action("Window / level", lambda: self.apply_preset(self.preset_box.currentText()),
                          None, "window-level")
        bar.addAction(wl)
        bar.addWidget(self.preset_box)

    def apply_preset(self, preset: str) -> None:
        layer = self.scene.image.layer
        if layer is not None:
            self._display.set_range(*preset_range(layer.stats, preset))
            self.preset_box.setCurrentText(preset)

    # model -> actions -------------------------------------------------------------------------
    def _sync(self, _field: str) -> None:
        display = self._display
        self.layouts[display.layout].setChecked(True)
        self.main_views[display.main_view].setChecked(True)
        self.radiological.setChecked(display.radiological)
        self.crosshair.setChecked(display.show_crosshair)
        self.colormaps[display.colormap].setChecked(True)
        self.clip_action.setChecked(display.clipping)
        self.fade_action.setChecked(display.fade)

    def _on_image_changed(self, layer: object) -> None:
        has_image = layer is not None
        for action in (self.reset_view, *self.presets.values()):
            action.setEnabled(has_image)
        self.preset_box.setEnabled(has_image)
