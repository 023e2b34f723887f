"""The Edit menu and toolbar: edit mode, brush label and radius, undo and redo of mask edits."""

from __future__ import annotations

from PyQt6.QtGui import QAction, QActionGroup, QKeySequence
from PyQt6.QtWidgets import QDoubleSpinBox, QLabel

from app.features.shell import Shell
from app.state.mask_editor import ERASE
from app.state.scene import Scene
from app.state.segmentation import LEFT, RIGHT

BRUSH_LABELS = ((LEFT, "Paint &left"), (RIGHT, "Paint &right"), (ERASE, "&Erase"))


class EditActions:
    """Connects the editor and history models to actions; actions are enabled when editing is possible."""

    def __init__(self, scene: Scene, shell: Shell) -> None:
        self.shell = shell
        window = shell.widget
        self.editor, self.history = scene.editor, scene.history
        self.undo = QAction("&Undo mask edit", window)
        self.undo.setShortcut(QKeySequence("Ctrl+Z"))
        self.undo.triggered.connect(self.history.undo)
        self.redo = QAction("&Redo mask edit", window)
        self.redo.setShortcut(QKeySequence("Ctrl+Shift+Z"))
        self.redo.triggered.connect(self.history.redo)
        self.edit_mode = QAction("Edit &mask (paint with the left button)", window)
        self.edit_mode.setObjectName("edit_mode")
        self.edit_mode.setCheckable(True)
        self.edit_mode.setShortcut(QKeySequence("Ctrl+E"))
        self.edit_mode.toggled.connect(self.editor.set_active)
        shell.add_to_menu("&Edit", "history", [self.undo, self.redo])
        shell.add_to_menu("&Edit", "brush", [self.edit_mode])
        self.labels: dict[int, QAction] = {}
        group = QActionGroup(window)
        for label, text in BRUSH_LABELS:
            action = QAction(text, window)
            action.setCheckable(True)
            action.triggered.connect(lambda _c=False, v=label: self.editor.set_label(v))
            group.addAction(action)
            self.labels[label] = action
        shell.add_to_menu("&Edit", "brush", list(self.labels.values()))
        self._build_toolbar()
        self.editor.changed.connect(self._sync)
        self.history.changed.connect(self._sync)
        self._sync()

    def _build_toolbar(self) -> None:
        bar = self.shell.toolbar("Edit")
        bar.addAction(self.edit_mode)
        bar.addActions(list(self.labels.values()))
        bar.addWidget(QLabel(" Brush ", bar))
        self.radius = QDoubleSpinBox(bar)
        self.radius.setObjectName("brush_radius")
        self.radius.setRange(0.0, 20.0)
        self.radius.setSingleStep(0.5)
        self.radius.setSuffix(" mm")
        self.radius.setValue(self.editor.radius_mm)
        self.radius.valueChanged.connect(self.editor.set_radius)
        bar.addWidget(self.radius)
        bar.addActions([self.undo, self.redo])
        # short button texts (the menus keep the long ones) so the brush fits beside the main
        # toolbar at 1280 px instead of falling into the overflow menu
        for action, short in ((self.undo, "Undo"), (self.redo, "Redo"), (self.labels[LEFT], "Left"),
                              (self.labels[RIGHT], "Right"), (self.labels[ERASE], "Erase")):
            action.setIconText(short)
            action.setToolTip(f"{action.text().replace('&', '')} ({action.shortcut().toString() or 'no shortcut'})"
                              if not action.shortcut().isEmpty() else action.text().replace("&", ""))
        self.radius.setToolTip("Brush radius in mm (0 paints one voxel)")
        self.toolbar = bar
        self.edit_mode.setText("Edit mask")

    def _sync(self, *_args: object) -> None:
        has_target = self.editor.target is not None
        self.edit_mode.setEnabled(has_target)
        if not has_target and self.edit_mode.isChecked():
            self.edit_mode.setChecked(False)
        self.edit_mode.setChecked(self.editor.active and has_target)
        self.labels[self.editor.label].setChecked(True)
        for action in self.labels.values():
            action.setEnabled(has_target)
        self.radius.setEnabled(has_target)
        self.undo.setEnabled(self.history.can_undo)
        self.redo.setEnabled(self.history.can_redo)
