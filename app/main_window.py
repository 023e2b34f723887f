"""The main window: models, views, menus, the load flow and remembered settings."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PyQt6.QtCore import QByteArray, QSettings, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PyQt6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QWidget,
)

from app import __version__, dialogs
from app.actions import WindowActions
from app.icons import icon
from app.panels.cursor_status import CursorStatus
from app.panels.info_panel import InfoPanel
from app.state import (
    PRESETS,
    CursorModel,
    DisplayOptions,
    ImageLayer,
    ImageModel,
    Layout,
    RecentFiles,
    preset_range,
)
from app.state.edit_history import EditHistory
from app.state.layers import LayerList
from app.state.mask_editor import MaskEditor
from app.workers.load_request import LoadRequest
from app.workers.load_worker import LoadWorker

if TYPE_CHECKING:
    from app.viewers.view_grid import ViewGrid

TITLE = "VolTA-3D Studio"


class MainWindow(QMainWindow):
    """Owns the state models; everything else observes them.

    Signals ``scan_loaded(ImageLayer)`` and ``load_failed(Exception)`` fire after a load
    finishes and the GUI has been updated (tests and the benchmark wait on them).
    """

    scan_loaded = pyqtSignal(object)
    load_failed = pyqtSignal(object)

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.image = ImageModel()
        self.cursor = CursorModel()
        self.display = DisplayOptions()
        self.recent = RecentFiles(self._read_list("recent_files"))
        self.layers = LayerList()
        self.history = EditHistory()
        self.editor = MaskEditor(self.history)
        self.view_grid: ViewGrid | None = None
        self._current: LoadRequest | None = None
        self._workers: set[LoadWorker] = set()

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
        self.info_panel = InfoPanel(self.image, self)
        # the right docks (results, layers) run to the bottom edge: a dock opened at the bottom (the
        # training panel) takes space from the views, not from the results
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.info_panel)
        self._build_status_bar()
        self.window_actions = WindowActions(self)
        self.window_actions.view_menu.addAction(self.info_panel.toggleViewAction())
        self._build_model_features()
        self.image.changed.connect(self._on_image_changed)
        self.recent.changed.connect(lambda paths: self.settings.setValue("recent_files", paths))
        self._closed = False
        self._restore_settings()

    # construction -----------------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.cursor_status = CursorStatus(self.image, self.cursor, bar)
        bar.addWidget(self.cursor_status, 1)
        self.load_label = QLabel(bar)
        self.load_label.setObjectName("load_label")
        bar.addPermanentWidget(self.load_label)
        self._load_label_timer = QTimer(self)
        self._load_label_timer.setSingleShot(True)
        self._load_label_timer.timeout.connect(self.load_label.clear)
        self.progress = QProgressBar(bar)
        self.progress.setRange(0, 0)  # busy indicator: readers report no progress
        self.progress.setMaximumWidth(140)
        self.progress.setMaximumHeight(14)
        self.cancel_button = QPushButton("Cancel", bar)
        self.cancel_button.clicked.connect(self.cancel_load)
        for widget in (self.progress, self.cancel_button):
            bar.addPermanentWidget(widget)
            widget.hide()

    def _build_model_features(self) -> None:
        """Model menu, results and layers docks, edit and export actions (their own modules)."""
        from app.edit_actions import EditActions
        from app.export_actions import ExportActions
        from app.inference_controller import InferenceController
        from app.panels.layers_panel import LayersPanel
        from app.panels.results_panel import ResultsPanel
        from app.panels.voxel_status import VoxelStatus
        from app.unsaved_edits import UnsavedEdits

        self.inference = InferenceController(self)
        self.results_panel = ResultsPanel(self.layers, self)
        self.layers_panel = LayersPanel(self.layers, self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.results_panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.layers_panel)
        self.tabifyDockWidget(self.info_panel, self.results_panel)
        self.results_panel.raise_()
        self.resizeDocks([self.results_panel], [390], Qt.Orientation.Horizontal)
        self.resizeDocks([self.results_panel, self.layers_panel], [640, 230], Qt.Orientation.Vertical)
        self.inference.current_changed.connect(
            lambda seg: self.results_panel.set_current(seg, self.inference.intended_use.get(id(seg))))
        self.layers_panel.segmentation_selected.connect(self.inference.select)
        self.layers_panel.remove_requested.connect(self.inference.remove)
        self.edit_actions = EditActions(self)
        self.export_actions = ExportActions(self)
        self.unsaved_edits = UnsavedEdits(self)
        self.voxel_status = VoxelStatus(self.image, self.cursor, self.layers, self.statusBar())
        self.statusBar().insertWidget(1, self.voxel_status)
        menu = self.window_actions.view_menu
        menu.addActions([self.results_panel.toggleViewAction(), self.layers_panel.toggleViewAction()])
        self.clip_action = menu.addAction("3D &clipping plane at the cursor")
        self.clip_action.setCheckable(True)
        self.clip_action.toggled.connect(self._set_clipping)
        self.fade_action = menu.addAction("&Fade the scan in 3D while surfaces are shown")
        self.fade_action.setCheckable(True)
        self.fade_action.setChecked(True)
        self.fade_action.setToolTip("Make the head faint in the 3D view so the hippocampus surfaces inside it show")
        self.fade_action.toggled.connect(self._set_fade)
        from app.training.features import TrainingFeatures

        self.training = TrainingFeatures(self)  # Training menu; the dock is built on first use

    def _set_clipping(self, on: bool) -> None:
        if self.view_grid is not None:
            self.view_grid.volume_view.set_clipping(on)

    def _set_fade(self, on: bool) -> None:
        if self.view_grid is not None:
            self.view_grid.volume_view.set_fade(on)

    def note(self, text: str) -> None:
        """A short-lived message in the status bar."""
        self._note(text)

    def create_views(self) -> None:
        """Build the VTK views (imports VTK and pyvista: called after the window is shown)."""
        if self.view_grid is not None:
            return
        from app.viewers.view_grid import ViewGrid

        self.view_grid = ViewGrid(self.image, self.cursor, self.display, self._stack, self.layers, self.editor)
        self.view_grid.volume_view.set_clipping(self.clip_action.isChecked())
        self.view_grid.volume_view.set_fade(self.fade_action.isChecked())
        self._stack.addWidget(self.view_grid)
        self._stack.setCurrentWidget(self.view_grid)

    # opening ----------------------------------------------------------------------------------
    def open_file_dialog(self) -> None:
        from volta_core.io import FILE_DIALOG_FILTER

        path, _ = QFileDialog.getOpenFileName(self, "Open scan", self._last_folder(), FILE_DIALOG_FILTER)
        if path:
            self.open_path(path)

    def open_dicom_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open DICOM folder", self._last_folder())
        if folder:
            self.open_path(folder)

    def open_sample(self) -> None:
        from volta_core.io import VolumeReadError, sample_scan_path

        try:
            path = sample_scan_path()
        except VolumeReadError as exc:
            dialogs.show_read_error(self, exc)
            return
        self.open_path(path)

    def open_path(self, path: str | Path) -> None:
        """Start loading ``path`` in a worker thread; the current scan stays until it succeeds.

        Unsaved corrections of the open scan are offered for saving first (Cancel opens nothing).
        """
        if not self.unsaved_edits.confirm("open another scan"):
            return
        self.start_load(LoadRequest(Path(path)))

    def start_load(self, request: LoadRequest) -> None:
        self._current = request
        worker = LoadWorker(request)
        worker.loaded.connect(self._on_loaded)
        worker.failed.connect(self._on_failed)
        worker.finished.connect(lambda w=worker: self._forget_worker(w))
        self._workers.add(worker)
        self._set_busy(f"Loading {request.path.name}...")
        worker.start()

    def cancel_load(self) -> None:
        """Forget the running load: its result will be ignored when it arrives."""
        self._current = None
        self._set_busy(None)
        self._note("Loading cancelled")

    @property
    def is_loading(self) -> bool:
        return self._current is not None

    def _forget_worker(self, worker: LoadWorker) -> None:
        self._workers.discard(worker)
        worker.deleteLater()

    def _set_busy(self, message: str | None) -> None:
        self.progress.setVisible(message is not None)
        self.cancel_button.setVisible(message is not None)
        self._load_label_timer.stop()
        self.load_label.setText(message or "")

    def _note(self, text: str) -> None:
        """A short-lived note beside the cursor readout (the readout itself is never hidden)."""
        self.load_label.setText(text)
        self._load_label_timer.start(5000)

    def _on_loaded(self, request: LoadRequest, layer: ImageLayer, seconds: float) -> None:
        if request is not self._current:
            return  # cancelled or superseded
        self._current = None
        self._set_busy(None)
        self.show_layer(layer)
        self.recent.add(request.path)
        took = f"{seconds:.2f} s" if seconds >= 1.0 else f"{seconds * 1000:.0f} ms"
        self._note(f"Opened {layer.name} in {took}")
        self.scan_loaded.emit(layer)

    def show_layer(self, layer: ImageLayer) -> None:
        """Make ``layer`` the shown scan: automatic window/level, cursor at its centre."""
        low, high = preset_range(layer.stats, PRESETS[0])
        self.display.set_range(low, high)
        self.cursor.set_position(layer.center_voxel_world)
        self.image.set_layer(layer)

    def _on_failed(self, request: LoadRequest, error: BaseException) -> None:
        from volta_core.io import (
            FileAccessError,
            MultipleSeriesError,
            MultiVolumeError,
            NonFiniteVoxelsError,
            VolumeReadError,
        )

        if request is not self._current:
            return
        self._current = None
        self._set_busy(None)
        retry: LoadRequest | None = None
        if isinstance(error, MultipleSeriesError):
            uid = dialogs.choose_series(self, error.series)
            retry = request.with_answer(series_uid=uid) if uid else None
        elif isinstance(error, MultiVolumeError):
            index = dialogs.choose_volume_index(self, error.n_volumes, request.path.name)
            retry = request.with_answer(volume_index=index) if index is not None else None
        elif isinstance(error, NonFiniteVoxelsError):
            retry = request.with_answer(nonfinite="zero") if dialogs.confirm_replace_nonfinite(self, error) else None
        elif isinstance(error, VolumeReadError):
            if isinstance(error, FileAccessError):
                self.recent.remove(request.path)  # moved or deleted: do not offer it again
            dialogs.show_read_error(self, error)
        else:
            dialogs.show_unexpected_error(self, error)
        if retry is not None:
            self.start_load(retry)
            return
        self.load_failed.emit(error)

    def close_scan(self) -> None:
        if self.unsaved_edits.confirm("close the scan"):
            self.image.set_layer(None)

    # view actions -----------------------------------------------------------------------------
    def apply_preset(self, preset: str) -> None:
        layer = self.image.layer
        if layer is not None:
            self.display.set_range(*preset_range(layer.stats, preset))
            self.window_actions.preset_box.setCurrentText(preset)

    def reset_views(self) -> None:
        if self.view_grid is not None:
            self.view_grid.reset_views()

    def show_about(self) -> None:
        dialogs.show_about(self, __version__)

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
            self.open_path(path)

    # settings and closing ---------------------------------------------------------------------
    def _read_list(self, key: str) -> list[str]:
        value = self.settings.value(key, [])
        if isinstance(value, str):
            return [value]
        return [str(v) for v in value or []]

    def _last_folder(self) -> str:
        paths = self.recent.paths
        return str(Path(paths[0]).parent) if paths else str(Path.home())

    def _restore_settings(self) -> None:
        s = self.settings
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = s.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        try:
            self.display.set_layout(Layout(str(s.value("view/layout", Layout.GRID.value))))
            self.display.set_main_view(str(s.value("view/main_view", "axial")))
        except ValueError:
            pass  # settings from another version: keep the defaults
        self.display.set_radiological(str(s.value("view/radiological", "true")).lower() == "true")
        self.display.set_show_crosshair(str(s.value("view/crosshair", "true")).lower() == "true")

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("view/layout", self.display.layout.value)
        s.setValue("view/main_view", self.display.main_view)
        s.setValue("view/radiological", "true" if self.display.radiological else "false")
        s.setValue("view/crosshair", "true" if self.display.show_crosshair else "false")
        s.setValue("recent_files", self.recent.paths)
        s.sync()

    def closeEvent(self, event: QCloseEvent | None) -> None:
        if self._closed:
            super().closeEvent(event)
            return
        if not self.unsaved_edits.confirm("quit"):
            if event is not None:
                event.ignore()
            return
        self._closed = True
        self.unsaved_edits.shutdown()
        self.training.shutdown()  # training jobs keep running: the next session re-attaches
        self.save_settings()
        self._current = None
        for worker in list(self._workers):
            worker.wait(10_000)  # a reader cannot be interrupted; loads take seconds at most
        self.inference.shutdown()
        self.export_actions.wait()
        if self.view_grid is not None:
            self.view_grid.close_views()
        self.info_panel.disconnect_models()
        self.cursor_status.disconnect_models()
        self.results_panel.disconnect_models()
        self.layers_panel.disconnect_models()
        self.voxel_status.disconnect_models()
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
