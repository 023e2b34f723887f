"""The Model menu and the run flow: choose a bundle and a device, run it in a worker with progress
and cancel, and turn finished runs into overlay layers. Failures show a dialog; nothing the user
had (the scan, earlier predictions, edits) is lost."""

from __future__ import annotations

import sys
from pathlib import Path

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtGui import QAction, QActionGroup, QKeySequence
from PyQt6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
)

from app import model_dialogs
from app.devices import DEVICES, available_devices
from app.features.shell import Shell
from app.state.model_catalog import NO_MODEL, ModelEntry, available_models, find_bundles
from app.state.scene import Scene
from app.state.segmentation import LEFT, RIGHT, Segmentation
from app.workers.predict_worker import (
    PredictorCache,
    PredictOutcome,
    PredictRequest,
    PredictWorker,
)

STAGE_TEXT = {"load": "Loading model", "preprocess": "Preprocessing", "model": "Running model",
              "inverse": "Mapping back to the scan", "measure": "Measuring", "display": "Preparing overlays",
              "done": "Done"}


class InferenceController(QObject):
    """Owns the model selector, the device choice and the running worker.

    Signals (the scene's ``prediction_added`` fires too):
        prediction_added(Segmentation): a run finished and its layers were added.
        run_failed(Exception), run_cancelled(): the run ended without a result.
    """

    prediction_added = pyqtSignal(object)
    run_failed = pyqtSignal(object)
    run_cancelled = pyqtSignal()

    def __init__(self, scene: Scene, shell: Shell) -> None:
        super().__init__(shell.widget)
        self.scene, self.shell = scene, shell
        self.layers = scene.layers
        self.device = "auto"
        self.worker: PredictWorker | None = None
        self.last_outcome: PredictOutcome | None = None
        self._cache = PredictorCache()
        self._opened: list[ModelEntry] = []
        self._selected_index = 0
        self._build_status_widgets()
        self._build_menu()
        self._build_selector()
        scene.image.changed.connect(self._on_image_changed)
        scene.current_changed.connect(self._update_enabled)
        scene.model_requested.connect(self.use_model)
        scene.run_requested.connect(self.run)
        scene.models_changed.connect(self.refresh_models)
        self._on_image_changed(None)

    # construction -----------------------------------------------------------------------------
    @property
    def current(self) -> Segmentation | None:
        """The segmentation the results panel shows and the editor paints (the scene's)."""
        return self.scene.current

    def _action(self, text: str, slot: object, shortcut: str | None = None) -> QAction:
        action = QAction(text, self.shell.widget)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        return action

    def _build_menu(self) -> None:
        w = self.shell.widget
        self.run_action = self._action("&Run model on scan", self.run, "Ctrl+R")
        self.run_action.setObjectName("run_model")
        self.cancel_action = self._action("&Cancel run", self.cancel)
        self.open_bundle_action = self._action("&Open model bundle...", self.open_bundle_dialog)
        self.card_action = self._action("Model &card...", self.show_card)
        self.go_left = self._action("Go to &left hippocampus", lambda: self.go_to_hippocampus(LEFT), "Ctrl+L")
        self.go_right = self._action("Go to r&ight hippocampus", lambda: self.go_to_hippocampus(RIGHT),
                                     "Ctrl+Shift+L")
        self.shell.add_to_menu("&Model", "run", [self.run_action, self.cancel_action])
        device_menu = QMenu("&Device", w)
        self.device_actions: dict[str, QAction] = {}
        group = QActionGroup(w)
        for key, text in DEVICES:
            action = QAction(text, w)
            action.setCheckable(True)
            action.triggered.connect(lambda _c=False, k=key: self.set_device(k))
            group.addAction(action)
            device_menu.addAction(action)
            self.device_actions[key] = action
        self.device_actions["auto"].setChecked(True)
        device_menu.aboutToShow.connect(self._refresh_devices)
        self._refresh_devices()
        self.shell.add_to_menu("&Model", "model", [device_menu, self.open_bundle_action, self.card_action])
        self.shell.add_to_menu("&Model", "navigate", [self.go_left, self.go_right])

    def _build_selector(self) -> None:
        bar = self.shell.toolbar("Main")
        bar.addSeparator()
        self.selector = QComboBox(bar)
        self.selector.setObjectName("model_selector")
        self.selector.setToolTip("Model bundle to run")
        # short enough that both toolbars fit in one row at 1280 px (long names elide; the tooltip has all)
        self.selector.setMinimumContentsLength(16)
        self.selector.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.selector.activated.connect(self._on_selector_activated)
        bar.addWidget(self.selector)
        self.run_action.setToolTip("Run the selected model on the open scan (Ctrl+R)")
        self.run_action.setIconText("Run")
        self.card_action.setIconText("Card")
        self.card_action.setToolTip("The selected model's card: intended use, limitations, training data, metrics")
        bar.addAction(self.run_action)
        bar.addAction(self.card_action)
        self.refresh_models()

    def _build_status_widgets(self) -> None:
        bar = self.shell.status_bar()
        self.device_label = QLabel("Device: auto", bar)
        self.device_label.setObjectName("device_label")
        self.stage_label = QLabel(bar)
        self.stage_label.setObjectName("stage_label")
        self.progress = QProgressBar(bar)
        self.progress.setObjectName("predict_progress")
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(160)
        self.progress.setMaximumHeight(14)
        self.cancel_button = QPushButton("Cancel run", bar)
        self.cancel_button.setObjectName("cancel_run")
        self.cancel_button.clicked.connect(self.cancel)
        for widget in (self.stage_label, self.progress, self.cancel_button):
            bar.addPermanentWidget(widget)
            widget.hide()
        bar.addPermanentWidget(self.device_label)

    # models and devices -----------------------------------------------------------------------
    def refresh_models(self) -> None:
        """Re-list bundled, user and opened bundles in the selector (keeps the selection)."""
        selected = self.selected_bundle()
        entries = available_models() + [e for e in self._opened if e.path not in {m.path for m in available_models()}]
        self.selector.clear()
        for entry in entries:
            self.selector.addItem(entry.label(), str(entry.path))
            self.selector.setItemData(self.selector.count() - 1, str(entry.path), 3)  # tooltip role
        self.selector.addItem("Open model bundle...", None)
        if not entries:
            self.selector.setItemText(self.selector.count() - 1, "No model - open a bundle...")
        index = self.selector.findData(str(selected)) if selected else 0
        self.selector.setCurrentIndex(max(index, 0))
        self._selected_index = self.selector.currentIndex()
        self._update_enabled()

    def selected_bundle(self) -> Path | None:
        data = self.selector.currentData()
        return Path(data) if data else None

    def add_bundle(self, path: Path) -> bool:
        """Offer (and select) the bundle at ``path``; False (and a dialog) if it is not one."""
        found = find_bundles(Path(path), "opened")
        if not found or found[0].path != Path(path):
            model_dialogs.show_model_error(self.shell.widget, "Not a model bundle",
                                           f"{path} is not a model bundle (model_card.json is missing or damaged).",
                                           "Choose the folder that holds model.safetensors and model_card.json.")
            return False
        if found[0].path not in {e.path for e in self._opened}:
            self._opened.append(found[0])
        self.refresh_models()
        self.selector.setCurrentIndex(self.selector.findData(str(found[0].path)))
        self._selected_index = self.selector.currentIndex()
        return True

    def may_switch_model(self) -> bool:
        """Unsaved corrections are offered for saving before another model is chosen (False: cancelled)."""
        return bool(self.scene.confirm_discard("switch the model"))

    def use_model(self, path: Path, announce: bool = True) -> None:
        """Make the bundle at ``path`` the model for inference (the registry's "use", a restored
        autosave); unsaved corrections are offered for saving first."""
        path = Path(path)
        if path != self.selected_bundle() and not self.may_switch_model():
            return
        self.refresh_models()
        index = self.selector.findData(str(path))
        if index < 0:
            self.add_bundle(path)
        else:
            self.selector.setCurrentIndex(index)
            self._selected_index = index
            self._update_enabled()
        if announce:
            self.shell.note(f"Model for inference: {self.selector.currentText()}")

    def open_bundle_dialog(self) -> None:
        if not self.may_switch_model():
            return
        folder = QFileDialog.getExistingDirectory(self.shell.widget, "Open model bundle (folder)")
        if folder:
            self.add_bundle(Path(folder))

    def _on_selector_activated(self, index: int) -> None:
        if self.selector.itemData(index) is None:  # "Open model bundle...": the dialog asks first
            self.selector.setCurrentIndex(self._selected_index)
            self.open_bundle_dialog()
        elif index != self._selected_index and not self.may_switch_model():
            self.selector.setCurrentIndex(self._selected_index)
            return
        self._selected_index = self.selector.currentIndex()
        self._update_enabled()

    def show_card(self) -> None:
        bundle = self.selected_bundle()
        if bundle is None:
            model_dialogs.show_model_error(self.shell.widget, "No model", NO_MODEL, "")
            return
        model_dialogs.show_model_card(self.shell.widget, bundle)

    def set_device(self, device: str) -> None:
        self.device = device
        self.device_actions[device].setChecked(True)
        self.device_label.setText(f"Device: {device}")

    def _refresh_devices(self) -> None:
        available = available_devices()
        for key, action in self.device_actions.items():
            action.setEnabled(key in available)

    # running ----------------------------------------------------------------------------------
    @property
    def is_running(self) -> bool:
        return self.worker is not None

    def run(self) -> None:
        """Run the selected model on the open scan in a worker thread."""
        layer = self.scene.image.layer
        if layer is None or self.worker is not None:
            return
        bundle = self.selected_bundle()
        if bundle is None:
            model_dialogs.show_model_error(self.shell.widget, "No model available", NO_MODEL,
                                           "Put a bundle in your model folder or open one.")
            return
        request = PredictRequest(bundle, self.device, layer.volume, layer.display.affine, layer.display.shape,
                                 layer.name, display_mapping=lambda: layer.display_mapping)
        worker = PredictWorker(request, self._cache)
        worker.progress.connect(self._on_progress)
        worker.succeeded.connect(self._on_succeeded)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        worker.finished.connect(worker.deleteLater)
        self.worker = worker
        self._set_running(True)
        worker.start()

    def cancel(self) -> None:
        """Ask the running worker to stop (it stops at the next stage boundary)."""
        if self.worker is not None:
            self.worker.cancel()
            self.stage_label.setText("Cancelling...")

    def _set_running(self, running: bool) -> None:
        for widget in (self.stage_label, self.progress, self.cancel_button):
            widget.setVisible(running)
        self.progress.setValue(0)
        self.stage_label.setText("Starting..." if running else "")
        self._update_enabled()

    def _on_progress(self, stage: str, fraction: float) -> None:
        self.stage_label.setText(STAGE_TEXT.get(stage, stage) + "...")
        self.progress.setValue(int(round(fraction * 100)))

    def _finish(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.wait(5000)
        self._set_running(False)
        if "torch" in sys.modules:
            self._refresh_devices()

    def _on_succeeded(self, outcome: PredictOutcome) -> None:
        self._finish()
        layer = self.scene.image.layer
        if layer is None or layer.volume is not outcome.request.volume:
            return  # the scan was closed or replaced while the model ran
        self.last_outcome = outcome
        self.device_label.setText(f"Device: {outcome.device_name}")
        prediction = outcome.prediction
        seg = self.scene.add_prediction(prediction, outcome.index, outcome.probability, outcome.display_labels,
                                        outcome.intended_use)
        self.shell.note(f"{prediction.model.name}: left {prediction.volumes_ml['left']:.2f} mL, right "
                        f"{prediction.volumes_ml['right']:.2f} mL in {outcome.seconds:.1f} s")
        self.scene.prediction_added.emit(seg)
        self.prediction_added.emit(seg)

    def _on_failed(self, request: PredictRequest, error: BaseException) -> None:
        self._finish()
        model_dialogs.show_run_error(self.shell.widget, error)
        self.run_failed.emit(error)

    def _on_cancelled(self, _request: PredictRequest) -> None:
        self._finish()
        self.shell.note("Model run cancelled; earlier results are unchanged")
        self.run_cancelled.emit()

    # current segmentation and navigation ------------------------------------------------------
    def set_current(self, segmentation: Segmentation | None) -> None:
        self.scene.set_current(segmentation)

    def select(self, segmentation: Segmentation) -> None:
        """The user picked a layer: a prediction becomes the one shown in the results and edited."""
        if segmentation.is_prediction and segmentation is not self.scene.current:
            self.scene.set_current(segmentation)

    def remove(self, segmentation: Segmentation) -> None:
        """Drop a segmentation's layers and undo steps; another prediction becomes current."""
        self.scene.remove(segmentation)

    def predictions(self) -> list[Segmentation]:
        return self.scene.predictions()

    def go_to_hippocampus(self, label: int) -> bool:
        """Centre the cursor on the current segmentation's left (1) or right (2) hippocampus."""
        if self.scene.current is None or self.scene.image.layer is None:
            return False
        position = self.scene.hippocampus_position(label)
        if position is None:
            self.shell.note("That hippocampus is empty in the current mask")
            return False
        self.scene.cursor.set_position(position)
        return True

    def _on_image_changed(self, _layer: object) -> None:
        # the scene drops the old scan's layers, undo steps and current segmentation
        if self.worker is not None:
            self.worker.cancel()
        self.last_outcome = None
        self._update_enabled()

    def _update_enabled(self, *_args: object) -> None:
        has_scan = self.scene.image.layer is not None
        running = self.worker is not None
        self.run_action.setEnabled(has_scan and not running and self.selected_bundle() is not None)
        self.cancel_action.setEnabled(running)
        self.card_action.setEnabled(self.selected_bundle() is not None)
        for action in (self.go_left, self.go_right):
            action.setEnabled(self.scene.current is not None)

    def shutdown(self) -> None:
        """Stop a running worker before the window closes (waits for the current stage)."""
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.cancel()
            worker.wait(60_000)
