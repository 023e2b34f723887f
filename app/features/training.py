"""The Training menu, the training dock and the model registry.

The job manager and the dock are built on first use (pyqtgraph and the runs folder scan cost
nothing at start-up), or right after start-up when the dock was open in the last session, so
running jobs are re-attached as soon as the window is back.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PyQt6.QtCore import QObject, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QKeySequence

from app.features.shell import Shell
from app.state.lab_dataset import AddedCase
from app.state.model_catalog import set_user_models_dir
from app.state.scene import Scene

if TYPE_CHECKING:
    from app.training.job_manager import JobManager
    from app.training.panel import TrainingPanel
    from app.training.registry_dialog import ModelRegistryDialog

VISIBLE_KEY = "training/visible"
ADD_CASE_BOX = "add_case_box"
MODELS_FOLDER_KEY = "models/folder"


class TrainingFeatures(QObject):
    """Owns the job manager, the training dock and the registry dialog; signals
    ``case_added(AddedCase)`` when a corrected scan joined the lab training set."""

    case_added = pyqtSignal(object)

    def __init__(self, scene: Scene, shell: Shell) -> None:
        super().__init__(shell.widget)
        self.scene, self.shell = scene, shell
        self.window = window = shell.widget  # the parent of the dock, the dialogs and the job manager
        self.manager: JobManager | None = None
        self.panel: TrainingPanel | None = None
        self.registry: ModelRegistryDialog | None = None
        folder = shell.settings.value(MODELS_FOLDER_KEY, "")
        set_user_models_dir(str(folder) if folder else None)
        self.panel_action = QAction("Training &panel", window)
        self.panel_action.setObjectName("training_panel_action")
        self.panel_action.setShortcut(QKeySequence("Ctrl+Shift+T"))
        self.panel_action.setCheckable(True)
        self.panel_action.triggered.connect(self._toggle_panel)
        self.registry_action = QAction("Model &registry...", window)
        self.registry_action.setObjectName("model_registry_action")
        self.registry_action.triggered.connect(self.show_registry)
        self.add_case_action = QAction("&Add to my training set", window)
        self.add_case_action.setObjectName("add_to_training_set_action")
        self.add_case_action.setToolTip("Store the open scan and the corrected mask (with who corrected which "
                                        "model's mask, and when) in your lab training set, to fine-tune on")
        self.add_case_action.triggered.connect(self.add_current_case)
        shell.add_to_menu("&Training", "panel", [self.panel_action, self.registry_action])
        shell.add_to_menu("&Training", "data", [self.add_case_action])
        shell.add_to_menu("&Model", "navigate", [self.add_case_action, self.registry_action])
        if str(shell.settings.value(VISIBLE_KEY, "false")).lower() == "true":
            QTimer.singleShot(0, self.show_panel)

    def ensure_manager(self) -> JobManager:
        if self.manager is None:
            from app.training.job_manager import JobManager

            self.manager = JobManager(parent=self.window)
            self.manager.model_registered.connect(self._on_model_registered)
        return self.manager

    def show_panel(self) -> TrainingPanel:
        """Show (building it the first time) the training dock."""
        if self.panel is None:
            from app.training.panel import TrainingPanel

            self.panel = TrainingPanel(self.ensure_manager(), self.window)
            self.panel.notice.connect(self.shell.note)
            self.shell.add_dock(self.panel, Qt.DockWidgetArea.BottomDockWidgetArea, 380)
            self.panel.visibilityChanged.connect(self.panel_action.setChecked)
        self.panel.show()
        self.panel.raise_()
        self.panel_action.setChecked(True)
        return self.panel

    def _toggle_panel(self, on: bool) -> None:
        if on:
            self.show_panel()
        elif self.panel is not None:
            self.panel.hide()

    def show_registry(self) -> ModelRegistryDialog:
        """The model registry dialog (non-modal; one at a time)."""
        from app.training.registry_dialog import ModelRegistryDialog

        if self.registry is None:
            self.registry = ModelRegistryDialog(self.window)
            self.registry.use_requested.connect(self._use_model)
            self.registry.changed.connect(self._models_changed)
            self.registry.folder_changed.connect(
                lambda path: self.shell.settings.setValue(MODELS_FOLDER_KEY, str(path)))
        self.registry.refresh()
        self.registry.show()
        self.registry.raise_()
        return self.registry

    def _use_model(self, path: Path) -> None:
        # the inference feature asks about unsaved corrections before it switches
        self.scene.request_model(Path(path))

    def _models_changed(self) -> None:
        self.scene.models_changed.emit()
        if self.panel is not None:
            self.panel.form.refresh_models()

    def _on_model_registered(self, path: Path) -> None:
        self._models_changed()
        if self.registry is not None:
            self.registry.refresh()
        self.shell.note(f"New model in the registry: {Path(path).name}")

    def add_current_case(self) -> AddedCase | None:
        """Add the open scan and the current (corrected) mask to the lab training set, then offer that
        set in the training panel with the model that made the mask as the starting point."""
        from app.dialogs import show_message_box
        from app.state.lab_dataset import LabDatasetError, add_case, case_count, lab_dataset_dir

        seg = self.scene.current
        layer = self.scene.image.layer
        if seg is None or seg.prediction is None or layer is None:
            show_message_box(self.window, "Add to my training set", "Run a model on a scan and correct its "
                             "mask first.", object_name=ADD_CASE_BOX)
            return None
        root = lab_dataset_dir()
        try:
            case = add_case(root, layer.volume.data, layer.volume.affine, seg.labels,
                            model_name=seg.prediction.model.name, model_bundle=seg.source, edited=seg.edited)
        except LabDatasetError as exc:
            show_message_box(self.window, "Add to my training set", str(exc), object_name=ADD_CASE_BOX)
            return None
        verb = "updated" if case.replaced else "added"
        self.shell.note(f"Training set: {case.subject} {verb} ({case_count(root)} corrected scans in {root})")
        panel = self.show_panel()
        panel.form.offer_dataset(root, init=seg.source, task="seg")
        self.case_added.emit(case)
        return case

    def shutdown(self) -> None:
        """The window closes: remember whether the dock was open; running jobs keep running."""
        visible = self.panel is not None and self.panel.isVisible()
        self.shell.settings.setValue(VISIBLE_KEY, "true" if visible else "false")
        if self.panel is not None:
            self.panel.disconnect_models()
        if self.manager is not None:
            self.manager.shutdown()
        if self.registry is not None:
            self.registry.close()
