"""File menu additions: load a label map as a layer, save the (corrected) mask, and export the mask,
a CSV row or a PDF report. The file writing runs in worker threads; errors show a dialog."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import QFileDialog, QMenu

from app import dialogs, model_dialogs
from app.export.csv_export import write_csv_row
from app.features.shell import Shell
from app.export.report_pdf import ReportContent, write_report
from app.panels.results_panel import dice_rows
from app.state.label_conventions import (
    SINGLE,
    LabelMapKind,
    UnknownLabelConvention,
    classify_label_map,
    to_hippocampus_labels,
)
from app.state.layers import LABELS, OverlayLayer
from app.state.results import result_rows
from app.state.scene import Scene
from app.state.segmentation import LABEL_NAMES, LEFT, RIGHT, Segmentation
from app.workers.task_worker import TaskWorker

if TYPE_CHECKING:
    from volta_core.io import Volume

LOADED_COLORS = {1: (1.0, 0.95, 0.3), 2: (0.75, 0.45, 1.0)}
REPORT_VIEW_HALF_HEIGHT_MM = 45.0
#: What CSV and PDF exports say instead of the scan's file name when identifiers are left out.
WITHHELD = "withheld (identifiers not included)"


def labels_on_scan_grid(label_volume: Volume, scan: Volume) -> np.ndarray:
    """A loaded label map on the scan's grid as ``int32`` (values kept: FreeSurfer's go past 255):
    as is when the grids match, else nearest neighbour."""
    from app.state.label_conventions import as_integer_labels
    from volta_core.preprocess.resample import nearest_on_grid  # SimpleITK: loaded in the worker, not at start-up

    return nearest_on_grid(label_volume.with_data(as_integer_labels(label_volume.data)), scan)


class ExportActions(QObject):
    """Signals ``exported(kind, path)``, ``label_map_loaded(Segmentation)`` and ``failed(Exception)``."""

    exported = pyqtSignal(str, object)
    label_map_loaded = pyqtSignal(object)
    failed = pyqtSignal(object)

    def __init__(self, scene: Scene, shell: Shell) -> None:
        super().__init__(shell.widget)
        self.scene, self.shell = scene, shell
        self.window = shell.widget  # the parent of this feature's dialogs
        self._workers: set[TaskWorker] = set()
        self.load_labels = self._action("Load &label map...", self.load_label_map_dialog)
        self.save_mask = self._action("&Save mask...", lambda: self._ask_and_export("mask"), "Ctrl+S")
        export_menu = QMenu("&Export", self.window)
        shell.add_to_menu("&File", "data", [export_menu, self.load_labels, self.save_mask])
        self.export_mask = self._action("&Mask (NIfTI)...", lambda: self._ask_and_export("mask"))
        self.export_csv = self._action("&CSV row...", lambda: self._ask_and_export("csv"))
        self.export_pdf = self._action("&PDF report...", lambda: self._ask_and_export("pdf"))
        export_menu.addActions([self.export_mask, self.export_csv, self.export_pdf])
        self.export_menu = export_menu
        scene.current_changed.connect(self._update_enabled)
        scene.image.changed.connect(self._update_enabled)
        scene.save_mask.handle(self.save_mask_now)
        self._update_enabled()

    def _action(self, text: str, slot: Any, shortcut: str | None = None) -> QAction:
        action = QAction(text, self.window)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        return action

    def _update_enabled(self, *_args: object) -> None:
        has_prediction = self.scene.current is not None
        for action in (self.save_mask, self.export_mask, self.export_csv, self.export_pdf):
            action.setEnabled(has_prediction)
        self.load_labels.setEnabled(self.scene.image.layer is not None)

    def _run(self, function: Any, on_done: Any) -> TaskWorker:
        worker = TaskWorker(function)
        worker.done.connect(on_done)
        worker.failed.connect(self._on_failed)
        worker.finished.connect(lambda w=worker: (self._workers.discard(w), w.deleteLater()))
        self._workers.add(worker)
        worker.start()
        return worker

    def _on_failed(self, error: BaseException) -> None:
        from volta_core.io import VolumeReadError

        if isinstance(error, VolumeReadError):
            model_dialogs.show_model_error(self.window, "Could not read the file", error.message, error.hint)
        else:
            model_dialogs.show_model_error(self.window, "Could not complete the operation",
                                           f"{type(error).__name__}: {error}",
                                           "Check the folder is writable and has space. Nothing else changed.")
        self.failed.emit(error)

    # label maps -------------------------------------------------------------------------------
    def load_label_map_dialog(self) -> None:
        from volta_core.io import FILE_DIALOG_FILTER

        path, _ = QFileDialog.getOpenFileName(self.window, "Load label map", "", FILE_DIALOG_FILTER)
        if path:
            self.load_label_map(Path(path))

    def load_label_map(self, path: Path) -> None:
        """Load a reference label map as a layer (in a worker); Dice against the prediction shows in
        the results. FreeSurfer (17/53), this app's (1/2) and single-label masks are understood; for
        a single-label mask the user is asked which side it is."""
        layer = self.scene.image.layer
        if layer is None:
            return
        scan = layer.volume

        def work() -> tuple[np.ndarray, LabelMapKind | UnknownLabelConvention, Any]:
            from volta_core.io import load_volume

            volume = load_volume(path)
            named = volume.metadata.get("labels") or {}
            app_labels = any("hippocampus" in str(name).lower() for name in named.values()) \
                if isinstance(named, dict) else False
            labels = labels_on_scan_grid(volume, scan)
            try:
                kind: LabelMapKind | UnknownLabelConvention = classify_label_map(np.unique(labels), app_labels)
            except UnknownLabelConvention as exc:
                kind = exc
            return labels, kind, layer.display_mapping  # built once per scan, here if nothing needed it yet

        def done(result: tuple[np.ndarray, LabelMapKind | UnknownLabelConvention, Any]) -> None:
            if self.scene.image.layer is not layer:
                return
            labels, kind, index = result
            name = Path(path).name
            if isinstance(kind, UnknownLabelConvention):
                model_dialogs.show_model_error(self.window, "Label map not recognised", str(kind), kind.hint)
                self.failed.emit(kind)
                return
            side = None
            if kind.convention == SINGLE:
                side = dialogs.ask_mask_side(self.window, name)
                if side is None:
                    return
            hippocampus = to_hippocampus_labels(labels, kind, scan.affine, side)
            seg = Segmentation(name, hippocampus, scan.affine, index, source=str(path))
            seg.convention = kind.describe() + (f", {side}" if side else "")
            self.scene.layers.add(OverlayLayer(f"{seg.name} (file)", LABELS, seg, opacity=0.5, outline=True,
                                                colors=dict(LOADED_COLORS)))
            self.shell.note(f"Loaded {name}: {seg.convention}")
            self.label_map_loaded.emit(seg)

        self._run(work, done)

    # exports ----------------------------------------------------------------------------------
    def _ask_and_export(self, kind: str) -> None:
        what = {"mask": "mask (NIfTI)", "csv": "CSV row", "pdf": "PDF report"}[kind]
        include = model_dialogs.ask_include_patient(self.window, what) if kind != "mask" else False
        if include is None:
            return
        suffix = {"mask": "NIfTI (*.nii.gz *.nii)", "csv": "CSV (*.csv)", "pdf": "PDF (*.pdf)"}[kind]
        default = {"mask": "_hippocampus_mask.nii.gz", "csv": "_hippocampus.csv", "pdf": "_report.pdf"}[kind]
        stem = self._stem()
        path, _ = QFileDialog.getSaveFileName(self.window, f"Export {what}", stem + default, suffix)
        if path:
            self.export(kind, Path(path), include_patient=include)

    def save_mask_now(self, seg: Segmentation) -> bool:
        """Ask where, then write ``seg``'s mask before returning (the unsaved-corrections prompt
        needs it written before the scan goes); False if cancelled or the write failed."""
        layer = self.scene.image.layer
        if layer is None:
            return False
        path, _ = QFileDialog.getSaveFileName(self.window, f"Save the corrected mask of {seg.name}",
                                              self._stem() + "_hippocampus_mask.nii.gz", "NIfTI (*.nii.gz *.nii)")
        if not path:
            return False
        from volta_core.io import save_mask

        labels = seg.labels.copy()
        try:
            written = save_mask(labels, layer.volume.without_patient(), Path(path), labels=dict(LABEL_NAMES))
        except Exception as exc:  # noqa: BLE001 - any failure: say so, keep everything open
            self._on_failed(exc)
            return False
        seg.mark_saved(labels)
        self.exported.emit("mask", written)
        return True

    def _stem(self) -> str:
        layer = self.scene.image.layer
        name = layer.name if layer is not None else "scan"
        for ext in (".nii.gz", ".nii", ".mgz", ".nrrd"):
            if name.endswith(ext):
                return name[: -len(ext)]
        return name

    def export(self, kind: str, path: Path, include_patient: bool = False) -> None:
        """Write ``kind`` (``mask``, ``csv`` or ``pdf``) of the current segmentation to ``path``."""
        seg, layer = self.scene.current, self.scene.image.layer
        if seg is None or layer is None:
            return
        patient = {str(k): str(v) for k, v in (layer.volume.metadata.get("patient") or {}).items()} \
            if include_patient else {}
        if kind == "mask":
            labels, reference = seg.labels.copy(), layer.volume.without_patient()

            def work() -> Path:
                from volta_core.io import save_mask

                return save_mask(labels, reference, path, labels=dict(LABEL_NAMES))

            def saved(result: Path) -> None:
                seg.mark_saved(labels)
                self.exported.emit("mask", result)

            self._run(work, saved)
            return
        elif kind == "csv":
            # file names and folders often hold a patient's name or record number
            source = str(layer.source or "") if include_patient else ""
            scan_name = layer.name if include_patient else WITHHELD

            def work() -> Path:
                return write_csv_row(path, seg, source=source, patient=patient, scan=scan_name)
        elif kind == "pdf":
            content = self._report_content(seg, patient, file_names=include_patient)

            def work() -> Path:
                return write_report(path, content)
        else:
            raise ValueError(f"unknown export {kind!r}")
        self._run(work, lambda result, k=kind: self.exported.emit(k, result))

    def _report_content(self, seg: Segmentation, patient: dict[str, str], file_names: bool = False) -> ReportContent:
        """Screenshots (GUI thread: VTK) of the views centred at the hippocampus, and the rows."""
        scene = self.scene
        folder = Path(tempfile.mkdtemp(prefix="volta-report-"))
        saved = scene.cursor.position
        left_position = scene.hippocampus_position(LEFT)
        if left_position is not None:
            scene.cursor.set_position(left_position)
        center = scene.cursor.position
        left, right = seg.centroid_world(LEFT), seg.centroid_world(RIGHT)
        if left is not None and right is not None:
            center[0] = (left[0] + right[0]) / 2.0  # both hippocampi in the axial and coronal shots
        images = self.shell.save_view_screenshots(folder, center, REPORT_VIEW_HALF_HEIGHT_MM)
        scene.cursor.set_position(saved)
        intended = seg.intended_use or "research use only, not for diagnosis"
        layer = scene.image.layer
        scan = (layer.name if layer is not None else seg.name) if file_names else WITHHELD
        return ReportContent(scan=scan, rows=result_rows(seg, intended), images=images,
                             comparisons=dice_rows(seg, scene.layers.segmentations(), file_names=file_names),
                             patient=patient, edited=seg.edited)

    def wait(self, timeout_ms: int = 30_000) -> None:
        for worker in list(self._workers):
            worker.wait(timeout_ms)
