"""The main window: the composition root. It builds the scene, the panels and one feature per menu
group, gives each feature the scene and this window as its ``Shell``, and wires the panels to the
scene. Nothing imports this module but the entry points (``app.startup``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PyQt6.QtCore import QByteArray, QSettings, Qt, pyqtSignal
from PyQt6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PyQt6.QtWidgets import QLabel, QStackedWidget, QWidget

from app.features.edit import EditActions
from app.features.export import ExportActions
from app.features.file import FileFeature
from app.features.help import HelpFeature
from app.features.inference import InferenceController
from app.features.training import TrainingFeatures
from app.features.unsaved_edits import UnsavedEdits
from app.features.view import ViewFeature
from app.icons import icon
from app.panels.cursor_status import CursorStatus
from app.panels.info_panel import InfoPanel
from app.panels.layers_panel import LayersPanel
from app.panels.results_panel import ResultsPanel
from app.panels.voxel_status import VoxelStatus
from app.shell_window import ShellWindow
from app.state import ImageLayer, Layout
from app.state.scene import Scene

if TYPE_CHECKING:
    from app.viewers.view_grid import ViewGrid  # VTK and pyvista: imported once the window shows

TITLE = "VolTA-3D Studio"


class MainWindow(ShellWindow):
    """Composes the scene, the panels and the features (the ``Shell`` it gives them: ``ShellWindow``).

    Signals ``scan_loaded(ImageLayer)`` and ``load_failed(Exception)`` (the File feature's) fire after
    a load finishes and the GUI has been updated (tests and the benchmark wait on them).
    """

    scan_loaded = pyqtSignal(object)
    load_failed = pyqtSignal(object)

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(settings, parent)
        self.scene = scene = Scene()
        # the scene's parts by name, for scripts and tests that drive the window
        self.image, self.cursor, self.display = scene.image, scene.cursor, scene.display
        self.layers, self.history, self.editor = scene.layers, scene.history, scene.editor
        self.view_grid: ViewGrid | None = None

        self.setWindowTitle(TITLE)
        self.setWindowIcon(icon("app"))
        self.setAcceptDrops(True)
        self.resize(1400, 900)
        self._stack = QStackedWidget(self)
        placeholder = QLabel("Preparing views...", self._stack)
        placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        placeholder.setStyleSheet("background: #08090b; color: #7b8591; font-size: 15px;")
        self._stack.addWidget(placeholder)
        self.setCentralWidget(self._stack)
        self._build_status_bar()
        self._build_features()
        self._build_panels()
        scene.image.changed.connect(self._on_image_changed)
        scene.reset_views_requested.connect(self.reset_views)
        self._closed = False
        self._restore_settings()

    # construction -----------------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.cursor_status = CursorStatus(self.scene.image, self.scene.cursor, bar)
        bar.insertWidget(0, self.cursor_status, 1)

    def _build_features(self) -> None:
        """One feature per menu group; the order fixes the order of items they share (toolbar, Model menu)."""
        scene = self.scene
        self.file = FileFeature(scene, self)
        self.view_actions = ViewFeature(scene, self)
        self.help = HelpFeature(self)
        self.inference = InferenceController(scene, self)
        self.edit_actions = EditActions(scene, self)
        self.export_actions = ExportActions(scene, self)
        self.unsaved_edits = UnsavedEdits(scene, self)
        self.training = TrainingFeatures(scene, self)  # Training menu; the dock is built on first use
        self.file.scan_loaded.connect(self.scan_loaded)
        self.file.load_failed.connect(self.load_failed)
        # scripts and tests drive these through the window
        self.recent = self.file.recent
        self.open_path, self.open_sample, self.close_scan = self.file.open_path, self.file.open_sample, \
            self.file.close_scan
        self.cancel_button = self.file.cancel_button
        self.apply_preset = self.view_actions.apply_preset
        self.clip_action, self.fade_action = self.view_actions.clip_action, self.view_actions.fade_action

    def _build_panels(self) -> None:
        """The docks (info, results, layers) and the voxel readout, wired to the scene."""
        scene = self.scene
        self.info_panel = InfoPanel(scene.image, self)
        self.results_panel = ResultsPanel(scene.layers, self)
        self.layers_panel = LayersPanel(scene.layers, self)
        # the right docks (results, layers) run to the bottom edge: a dock opened at the bottom (the
        # training panel) takes space from the views, not from the results
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        for dock in (self.info_panel, self.results_panel, self.layers_panel):
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.tabifyDockWidget(self.info_panel, self.results_panel)
        self.results_panel.raise_()
        self.resizeDocks([self.results_panel], [390], Qt.Orientation.Horizontal)
        self.resizeDocks([self.results_panel, self.layers_panel], [640, 230], Qt.Orientation.Vertical)
        scene.current_changed.connect(
            lambda seg: self.results_panel.set_current(seg, seg.intended_use if seg is not None else ""))
        self.results_panel.registry_requested.connect(self.training.show_registry)
        self.layers_panel.segmentation_selected.connect(self.inference.select)
        self.layers_panel.remove_requested.connect(scene.remove)
        self.voxel_status = VoxelStatus(scene.image, scene.cursor, scene.layers, self.statusBar())
        self.statusBar().insertWidget(1, self.voxel_status)
        self.add_to_menu("&View", "panels", [self.toolbar("Main").toggleViewAction(),
                                             self.info_panel.toggleViewAction(),
                                             self.results_panel.toggleViewAction(),
                                             self.layers_panel.toggleViewAction()])

    def create_views(self) -> None:
        """Build the VTK views (imports VTK and pyvista: called after the window is shown)."""
        if self.view_grid is not None:
            return
        from app.viewers.view_grid import ViewGrid

        scene = self.scene
        self.view_grid = ViewGrid(scene.image, scene.cursor, scene.display, self._stack, scene.layers,
                                  scene.editor)
        self._stack.addWidget(self.view_grid)
        self._stack.setCurrentWidget(self.view_grid)

    def reset_views(self) -> None:
        if self.view_grid is not None:
            self.view_grid.reset_views()

    def save_view_screenshots(self, folder: Path, center_world: np.ndarray,
                              half_height_mm: float) -> dict[str, Path]:
        if self.view_grid is None:
            return {}
        return self.view_grid.save_screenshots(folder, center_world, half_height_mm)

    # scripts and tests ------------------------------------------------------------------------
    @property
    def is_loading(self) -> bool:
        return self.file.is_loading

    @property
    def _workers(self) -> set:
        return self.file._workers

    def _on_image_changed(self, layer: ImageLayer | None) -> None:
        if layer is None:
            self.setWindowTitle(TITLE)
            return
        volume = layer.volume
        shape = "x".join(str(s) for s in volume.shape)
        spacing = " x ".join(f"{s:.3g}" for s in volume.spacing)
        self.setWindowTitle(f"{layer.name} - {shape}, {spacing} mm, {''.join(volume.orientation)} - {TITLE}")

    # drag and drop ----------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent | None) -> None:
        if event is not None and _dropped_path(event) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent | None) -> None:
        path = _dropped_path(event) if event is not None else None
        if path is not None:
            event.acceptProposedAction()  # type: ignore[union-attr]
            self.file.open_path(path)

    # settings and closing ---------------------------------------------------------------------
    def _restore_settings(self) -> None:
        s = self.settings
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = s.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        display = self.scene.display
        try:
            display.set_layout(Layout(str(s.value("view/layout", Layout.GRID.value))))
            display.set_main_view(str(s.value("view/main_view", "axial")))
        except ValueError:
            pass  # settings from another version: keep the defaults
        display.set_radiological(str(s.value("view/radiological", "true")).lower() == "true")
        display.set_show_crosshair(str(s.value("view/crosshair", "true")).lower() == "true")

    def save_settings(self) -> None:
        s = self.settings
        display = self.scene.display
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("view/layout", display.layout.value)
        s.setValue("view/main_view", display.main_view)
        s.setValue("view/radiological", "true" if display.radiological else "false")
        s.setValue("view/crosshair", "true" if display.show_crosshair else "false")
        self.file.shutdown()
        s.sync()

    def closeEvent(self, event: QCloseEvent | None) -> None:
        if self._closed:
            super().closeEvent(event)
            return
        if not self.scene.confirm_discard("quit"):
            if event is not None:
                event.ignore()
            return
        self._closed = True
        self.unsaved_edits.shutdown()
        self.training.shutdown()  # training jobs keep running: the next session re-attaches
        self.save_settings()
        self.inference.shutdown()
        self.export_actions.wait()
        if self.view_grid is not None:
            self.view_grid.close_views()
        for panel in (self.info_panel, self.cursor_status, self.results_panel, self.layers_panel,
                      self.voxel_status):
            panel.disconnect_models()
        super().closeEvent(event)


def _dropped_path(event: QDragEnterEvent | QDropEvent) -> str | None:
    """The first local file or folder in a drag, if any."""
    mime = event.mimeData()
    if mime is None or not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile() and Path(url.toLocalFile()).exists():
            return url.toLocalFile()
    return None
