"""The File menu's opening half: open a scan, a DICOM folder, a recent file or the sample, close the
scan, quit; loading runs in a worker thread with a busy indicator and Cancel.

Signals ``scan_loaded(ImageLayer)`` and ``load_failed(Exception)`` fire after a load finishes and
the GUI has been updated (tests and the benchmark wait on them).
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import QObject, QSize, pyqtSignal
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import QFileDialog, QMenu, QProgressBar, QPushButton

from app import dialogs
from app.features.shell import Shell
from app.icons import icon
from app.state import PRESETS, ImageLayer, RecentFiles, preset_range
from app.state.scene import Scene
from app.workers.load_request import LoadRequest
from app.workers.load_worker import LoadWorker

RECENT_KEY = "recent_files"


class FileFeature(QObject):
    """Opening and closing scans; the recent-files list is remembered in the settings."""

    scan_loaded = pyqtSignal(object)
    load_failed = pyqtSignal(object)

    def __init__(self, scene: Scene, shell: Shell) -> None:
        super().__init__(shell.widget)
        self.scene, self.shell = scene, shell
        self.recent = RecentFiles(_read_list(shell.settings.value(RECENT_KEY, [])))
        self._current: LoadRequest | None = None
        self._shown: LoadRequest | None = None  # the request of the scan on screen
        self._workers: set[LoadWorker] = set()
        self._build_menu()
        self._build_status_widgets()
        self.recent.changed.connect(self._rebuild_recent)
        self.recent.changed.connect(lambda paths: shell.settings.setValue(RECENT_KEY, paths))
        scene.image.changed.connect(self._on_image_changed)
        self._rebuild_recent()
        self._on_image_changed(None)

    # construction -----------------------------------------------------------------------------
    def _action(self, text: str, slot: object, shortcut: str | QKeySequence.StandardKey | None = None,
                icon_name: str | None = None) -> QAction:
        action = QAction(text, self.shell.widget)
        if icon_name:
            action.setIcon(icon(icon_name))
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        return action

    def _build_menu(self) -> None:
        shell = self.shell
        self.open = self._action("&Open...", self.open_file_dialog, QKeySequence.StandardKey.Open, "open")
        self.open_dicom = self._action("Open &DICOM folder...", self.open_dicom_dialog, "Ctrl+Shift+O")
        self.open_sample_action = self._action("Open &sample scan", self.open_sample, None, "sample")
        self.recent_menu = QMenu("Open &recent", shell.widget)
        self.fine_grid_action = self._action("Reopen on a &1 mm grid", self.reopen_on_fine_grid)
        self.fine_grid_action.setStatusTip("Cut thick slices into 1 mm ones, so that a mask can follow the "
                                           "anatomy rather than the slices")
        self.close_scan_action = self._action("&Close scan", self.close_scan, QKeySequence.StandardKey.Close)
        self.quit = self._action("&Quit", shell.widget.close, QKeySequence.StandardKey.Quit)
        shell.add_to_menu("&File", "open", [self.open, self.open_dicom, self.recent_menu, self.open_sample_action])
        shell.add_to_menu("&File", "close", [self.fine_grid_action, self.close_scan_action])
        shell.add_to_menu("&File", "quit", [self.quit])
        bar = shell.toolbar("Main")
        bar.setIconSize(QSize(20, 20))
        bar.addActions([self.open, self.open_sample_action])

    def _build_status_widgets(self) -> None:
        bar = self.shell.status_bar()
        self.progress = QProgressBar(bar)
        self.progress.setRange(0, 0)  # busy indicator: readers report no progress
        self.progress.setMaximumWidth(140)
        self.progress.setMaximumHeight(14)
        self.cancel_button = QPushButton("Cancel", bar)
        self.cancel_button.clicked.connect(self.cancel_load)
        for widget in (self.progress, self.cancel_button):
            bar.addPermanentWidget(widget)
            widget.hide()

    # opening ----------------------------------------------------------------------------------
    def open_file_dialog(self) -> None:
        from volta_core.io import FILE_DIALOG_FILTER

        path, _ = QFileDialog.getOpenFileName(self.shell.widget, "Open scan", self.last_folder(),
                                              FILE_DIALOG_FILTER)
        if path:
            self.open_path(path)

    def open_dicom_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.shell.widget, "Open DICOM folder", self.last_folder())
        if folder:
            self.open_path(folder)

    def open_sample(self) -> None:
        from volta_core.io import VolumeReadError, sample_scan_path

        try:
            path = sample_scan_path()
        except VolumeReadError as exc:
            dialogs.show_read_error(self.shell.widget, exc)
            return
        self.open_path(path)

    def open_path(self, path: str | Path) -> None:
        """Start loading ``path`` in a worker thread; the current scan stays until it succeeds.

        Unsaved corrections of the open scan are offered for saving first (Cancel opens nothing).
        """
        if not self.scene.confirm_discard("open another scan"):
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
        self.shell.note("Loading cancelled")

    @property
    def is_loading(self) -> bool:
        return self._current is not None

    def _forget_worker(self, worker: LoadWorker) -> None:
        self._workers.discard(worker)
        worker.deleteLater()

    def _set_busy(self, message: str | None) -> None:
        self.progress.setVisible(message is not None)
        self.cancel_button.setVisible(message is not None)
        self.shell.show_status(message)

    def _on_loaded(self, request: LoadRequest, layer: ImageLayer, seconds: float) -> None:
        if request is not self._current:
            return  # cancelled or superseded
        self._current = None
        self._set_busy(None)
        self._shown = request
        self.show_layer(layer)
        self.recent.add(request.path)
        took = f"{seconds:.2f} s" if seconds >= 1.0 else f"{seconds * 1000:.0f} ms"
        self.shell.note(f"Opened {layer.name} in {took}")
        self.scan_loaded.emit(layer)

    def show_layer(self, layer: ImageLayer) -> None:
        """Make ``layer`` the shown scan: automatic window/level, cursor at its centre."""
        low, high = preset_range(layer.stats, PRESETS[0])
        self.scene.display.set_range(low, high)
        self.scene.cursor.set_position(layer.center_voxel_world)
        self.scene.image.set_layer(layer)

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
        parent = self.shell.widget
        retry: LoadRequest | None = None
        if isinstance(error, MultipleSeriesError):
            uid = dialogs.choose_series(parent, error.series)
            retry = request.with_answer(series_uid=uid) if uid else None
        elif isinstance(error, MultiVolumeError):
            index = dialogs.choose_volume_index(parent, error.n_volumes, request.path.name)
            retry = request.with_answer(volume_index=index) if index is not None else None
        elif isinstance(error, NonFiniteVoxelsError):
            retry = request.with_answer(nonfinite="zero") if dialogs.confirm_replace_nonfinite(parent, error) else None
        elif isinstance(error, VolumeReadError):
            if isinstance(error, FileAccessError):
                self.recent.remove(request.path)  # moved or deleted: do not offer it again
            dialogs.show_read_error(parent, error)
        else:
            dialogs.show_unexpected_error(parent, error)
        if retry is not None:
            self.start_load(retry)
            return
        self.load_failed.emit(error)

    def reopen_on_fine_grid(self) -> None:
        """Open the shown scan again with its voxels cut down to about 1 mm (thick-slice scans).

        The model's mask then lies on 1 mm slices: on 6 mm slices that is the difference between
        Dice 0.75 and 0.83 against 1 mm labels (README, "Thick slices"). Unsaved corrections of
        the open scan are offered for saving first."""
        request = self._request_of(self.scene.image.layer)
        if request is None or not self.scene.confirm_discard("reopen the scan on a 1 mm grid"):
            return
        self.start_load(request.with_answer(fine_grid=True))

    def _request_of(self, layer: ImageLayer | None) -> LoadRequest | None:
        """The request that loaded ``layer`` (None for a layer shown some other way)."""
        shown = self._shown
        if layer is None or shown is None or layer.volume.source is None:
            return None
        return shown if Path(layer.volume.source) == Path(shown.path) else None

    def close_scan(self) -> None:
        if self.scene.confirm_discard("close the scan"):
            self.scene.image.set_layer(None)

    def last_folder(self) -> str:
        paths = self.recent.paths
        return str(Path(paths[0]).parent) if paths else str(Path.home())

    # model -> actions -------------------------------------------------------------------------
    def _on_image_changed(self, layer: object) -> None:
        self.close_scan_action.setEnabled(layer is not None)
        request = self._request_of(layer if isinstance(layer, ImageLayer) else None)
        if request is None or request.fine_grid:
            self.fine_grid_action.setEnabled(False)
            return
        from volta_core.preprocess.resample import subdivision_factors  # loaded with the scan already

        spacing = layer.volume.spacing  # type: ignore[union-attr]
        self.fine_grid_action.setEnabled(bool(subdivision_factors(spacing).max() > 1))

    def _rebuild_recent(self, *_args: object) -> None:
        self.recent_menu.clear()
        paths = self.recent.paths
        for path in paths:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _c=False, p=path: self.open_path(p))
        if paths:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self.recent.clear)
        self.recent_menu.setEnabled(bool(paths))

    def shutdown(self) -> None:
        """The window closes: remember the recent files; wait for a running read (seconds at most)."""
        self.shell.settings.setValue(RECENT_KEY, self.recent.paths)
        self._current = None
        for worker in list(self._workers):
            worker.wait(10_000)  # a reader cannot be interrupted


def _read_list(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value or []]  # type: ignore[union-attr]
