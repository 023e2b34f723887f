"""Nothing the user corrected is lost: a Save / Discard / Cancel prompt before anything replaces
or drops a corrected mask, an autosave of the corrected mask while editing, and an offer to
restore it when the same scan is opened again after the app ended without asking (a crash)."""

from __future__ import annotations

import os
from pathlib import Path
import numpy as np
from PyQt6.QtCore import QObject, QStandardPaths, QTimer, pyqtSignal

from app import dialogs
from app.features.shell import Shell
from app.state.autosave import (
    AUTOSAVE_DELAY_MS,
    AUTOSAVE_ENV,
    AUTOSAVE_EVERY_EDITS,
    AutosaveRecord,
    AutosaveStore,
    FINE_GRID_KEY_SUFFIX,
    scan_key,
)
from app.state.edit_history import MaskEdit
from app.state.scene import Scene
from app.state.segmentation import Segmentation


def autosave_dir() -> Path:
    """``$VOLTA_AUTOSAVE_DIR``, else ``autosave`` in the app's data folder (QStandardPaths)."""
    override = os.environ.get(AUTOSAVE_ENV)
    if override:
        return Path(override)
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".volta-studio") / "autosave"


class UnsavedEdits(QObject):
    """Answers the scene's ``confirm_discard`` request (the Save / Discard / Cancel prompt).

    Signals ``autosaved(Path)`` after each autosave and ``restored(Segmentation)`` after an
    autosave was applied to a new prediction.
    """

    autosaved = pyqtSignal(object)
    restored = pyqtSignal(object)

    def __init__(self, scene: Scene, shell: Shell) -> None:
        super().__init__(shell.widget)
        self.scene, self.shell = scene, shell
        self.store = AutosaveStore(autosave_dir())
        self.key: str | None = None
        self._scan_name = ""
        self._edits = 0
        self._pending: AutosaveRecord | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(AUTOSAVE_DELAY_MS)
        self._timer.timeout.connect(self.autosave_now)
        scene.history.changed.connect(self._on_history_changed)
        scene.image.changed.connect(self._on_image_changed)
        scene.prediction_added.connect(self._on_prediction)
        scene.confirm_discard.handle(self.confirm)

    # the prompt ---------------------------------------------------------------------------------
    def unsaved(self) -> list[Segmentation]:
        """Predictions of the open scan with corrections not yet written to a file."""
        return [s for s in self.scene.layers.segmentations() if s.is_prediction and s.has_unsaved_edits]

    def confirm(self, action: str) -> bool:
        """Ask Save / Discard / Cancel if there are unsaved corrections; True if ``action`` may go on.

        Args:
            action: what is about to happen, completing "Save them before you ...?".
        """
        unsaved = self.unsaved()
        if not unsaved:
            return True
        answer = dialogs.ask_unsaved_edits(self.shell.widget, action, [s.name for s in unsaved])
        if answer == dialogs.CANCEL:
            return False
        if answer == dialogs.SAVE:
            for seg in unsaved:
                if not self.scene.save_mask(seg):
                    return False  # the file dialog was cancelled or the write failed: stay
        if self.key is not None:
            self.store.discard(self.key)
        return True

    # autosave -----------------------------------------------------------------------------------
    def _on_history_changed(self) -> None:
        if self.key is None or self.scene.image.layer is None:
            return
        self._edits += 1
        if self._edits >= AUTOSAVE_EVERY_EDITS:
            self.autosave_now()
        else:
            self._timer.start()

    def autosave_now(self) -> Path | None:
        """Write the corrected mask (the one being edited first) now; drop the autosave if nothing
        is unsaved any more (everything saved, or undone back to the prediction)."""
        self._timer.stop()
        self._edits = 0
        if self.key is None:
            return None
        unsaved = self.unsaved()
        if not unsaved:
            self.store.discard(self.key)
            return None
        current = self.scene.current
        seg = current if current in unsaved else unsaved[0]
        try:
            path = self.store.write(self.key, seg, self._scan_name)
        except OSError as exc:
            self.shell.note(f"Could not autosave the corrections: {exc.strerror or exc}")
            return None
        self.autosaved.emit(path)
        return path

    def _on_image_changed(self, layer: object) -> None:
        # The scan was closed or replaced: either nothing was unsaved or the user answered the
        # prompt, so the old scan's autosave has served its purpose.
        self._timer.stop()
        self._edits = 0
        self._pending = None
        if self.key is not None:
            self.store.discard(self.key)
        source = getattr(layer, "source", None)
        fine = FINE_GRID_KEY_SUFFIX if getattr(layer, "subdivided", False) else ""
        self.key = scan_key(source) + fine if source else None
        self._scan_name = str(getattr(layer, "name", ""))
        if layer is not None:
            QTimer.singleShot(0, lambda: self._offer_restore(layer))  # after every other slot of the load

    # restore ------------------------------------------------------------------------------------
    def _offer_restore(self, layer: object) -> None:
        if self.key is None or self.scene.image.layer is not layer:
            return
        record = self.store.read(self.key)
        if record is None and not self.key.endswith(FINE_GRID_KEY_SUFFIX) and \
                self.store.read(self.key + FINE_GRID_KEY_SUFFIX) is not None:
            self.shell.note("This scan has unsaved corrections made on a 1 mm grid: "
                            "File > Reopen on a 1 mm grid offers them")
            return
        if record is None or record.labels.shape != self.scene.image.layer.volume.shape:
            return
        model = record.segmentation or Path(record.model_bundle).name or "model"
        answer = dialogs.ask_restore_autosave(self.shell.widget, self._scan_name, model, record.saved_at_text())
        if answer == dialogs.DISCARD:
            self.store.discard(self.key)
        elif answer == dialogs.RESTORE:
            self._pending = record
            bundle = Path(record.model_bundle)
            if record.model_bundle and bundle.is_dir():
                self.scene.request_model(bundle, announce=False)
            self.scene.run_requested.emit()

    def _on_prediction(self, seg: Segmentation) -> None:
        record, self._pending = self._pending, None
        if record is None or seg.labels.shape != record.labels.shape:
            return
        changed = np.flatnonzero(seg.labels.reshape(-1) != record.labels.reshape(-1))
        if changed.size:
            before = seg.labels.reshape(-1)[changed].copy()
            after = record.labels.reshape(-1)[changed]
            seg.set_values(changed, after)
            self.scene.history.push(MaskEdit(seg, changed, before, after.copy()))
        self.shell.note(f"Restored the unsaved corrections from {record.saved_at_text()}")
        self.restored.emit(seg)

    def shutdown(self) -> None:
        self._timer.stop()
