"""The model registry dialog: every model the app knows, with Use, Rename, Delete, Export and Card.

Bundled models are listed first and are read-only; the user's models live in the model folder
(``$VOLTA_MODELS_DIR`` or the folder chosen here).
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.state.model_catalog import (
    ModelEntry,
    available_models,
    read_card_dict,
    user_models_dir,
)
from app.state.lab_dataset import heldout_comparison
from app.jobs.registry import RegistryError, delete_model, export_model, rename_model

REGISTRY_DIALOG = "model_registry_dialog"


def _describe(entry: ModelEntry) -> str:
    try:
        card = read_card_dict(entry.path)
    except ValueError:
        return entry.label()
    heads = [h for h, info in (card.get("heads") or {}).items() if isinstance(info, dict) and info.get("trained")]
    trained = ", ".join(heads) or "no trained head"
    lock = "  [read-only]" if entry.read_only else ""
    compared = heldout_comparison(card)
    return f"{entry.name}  ({entry.origin}; {trained}; {card.get('created', '-')}){lock}" + (
        f"\n    {compared}" if compared else "")


class ModelRegistryDialog(QDialog):
    """Lists :func:`available_models`; emits ``use_requested(Path)``, ``changed()`` and
    ``folder_changed(Path)``."""

    use_requested = pyqtSignal(object)
    changed = pyqtSignal()
    folder_changed = pyqtSignal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(REGISTRY_DIALOG)
        self.setWindowTitle("Model registry")
        self.resize(640, 420)
        layout = QVBoxLayout(self)
        self.folder_label = QLabel(self)
        self.folder_label.setWordWrap(True)
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.folder_label)
        self.list = QListWidget(self)
        self.list.setObjectName("registry_list")
        self.list.currentRowChanged.connect(self._update_buttons)
        self.list.itemDoubleClicked.connect(lambda _item: self.use_selected())
        layout.addWidget(self.list, 1)
        row = QHBoxLayout()
        self.buttons: dict[str, QPushButton] = {}
        for key, text, slot in (("use", "Use for inference", self.use_selected),
                                ("card", "Model card...", self.show_card),
                                ("rename", "Rename...", self.rename_selected),
                                ("delete", "Delete", self.delete_selected),
                                ("export", "Export...", self.export_selected),
                                ("folder", "Change folder...", self.change_folder),
                                ("close", "Close", self.accept)):
            button = QPushButton(text, self)
            button.setObjectName(f"registry_{key}")
            button.clicked.connect(lambda _checked=False, s=slot: s())
            self.buttons[key] = button
            row.addWidget(button)
        layout.addLayout(row)
        self.entries: list[ModelEntry] = []
        self.refresh()

    def refresh(self) -> None:
        """Re-list the models (keeps the selection)."""
        selected = self.selected()
        self.folder_label.setText(f"Your models are kept in <b>{user_models_dir()}</b>. "
                                  "Finished fine-tunes appear here; bundled models are read-only.")
        self.entries = available_models()
        self.list.clear()
        for entry in self.entries:
            item = QListWidgetItem(_describe(entry))
            item.setToolTip(str(entry.path))
            self.list.addItem(item)
        paths = [e.path for e in self.entries]
        row = paths.index(selected.path) if selected is not None and selected.path in paths else 0
        self.list.setCurrentRow(row if self.entries else -1)
        self._update_buttons()

    def selected(self) -> ModelEntry | None:
        row = self.list.currentRow() if hasattr(self, "list") else -1
        return self.entries[row] if 0 <= row < len(self.entries) else None

    def select_path(self, path: Path) -> bool:
        for row, entry in enumerate(self.entries):
            if entry.path == Path(path):
                self.list.setCurrentRow(row)
                return True
        return False

    def _update_buttons(self, *_args: object) -> None:
        entry = self.selected()
        for key in ("use", "card", "export"):
            self.buttons[key].setEnabled(entry is not None)
        for key in ("rename", "delete"):
            self.buttons[key].setEnabled(entry is not None and not entry.read_only)

    def _error(self, error: RegistryError) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, "Model registry", str(error), QMessageBox.StandardButton.Ok, self)
        box.setObjectName("registry_error_box")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # actions ------------------------------------------------------------------------------------
    def use_selected(self) -> None:
        entry = self.selected()
        if entry is not None:
            self.use_requested.emit(entry.path)

    def change_folder(self, folder: str | Path | None = None) -> None:
        """Keep the user's models in ``folder`` (asks when None); ``$VOLTA_MODELS_DIR`` still wins."""
        from app.state.model_catalog import set_user_models_dir

        if not isinstance(folder, (str, Path)):
            folder = QFileDialog.getExistingDirectory(self, "Folder for your models", str(user_models_dir()))
            if not folder:
                return
        set_user_models_dir(folder)
        self.folder_changed.emit(Path(folder))
        self.refresh()
        self.changed.emit()

    def show_card(self) -> None:
        from app.model_dialogs import show_model_card

        entry = self.selected()
        if entry is not None:
            show_model_card(self, entry.path)

    def rename_selected(self, new_name: str | None = None) -> None:
        entry = self.selected()
        if entry is None:
            return
        if not isinstance(new_name, str):
            new_name, ok = QInputDialog.getText(self, "Rename model", "New name:", text=entry.name)
            if not ok:
                return
        try:
            rename_model(entry, new_name)
        except RegistryError as exc:
            self._error(exc)
            return
        self.refresh()
        self.changed.emit()

    def delete_selected(self, confirm: bool = True) -> None:
        entry = self.selected()
        if entry is None:
            return
        if confirm and QMessageBox.question(self, "Delete model", f"Delete {entry.name} ({entry.path})?") \
                != QMessageBox.StandardButton.Yes:
            return
        try:
            delete_model(entry)
        except RegistryError as exc:
            self._error(exc)
            return
        self.refresh()
        self.changed.emit()

    def export_selected(self, destination: str | Path | None = None) -> Path | None:
        entry = self.selected()
        if entry is None:
            return None
        if not isinstance(destination, (str, Path)):
            destination = QFileDialog.getExistingDirectory(self, "Export the model into folder")
            if not destination:
                return None
        try:
            return export_model(entry, Path(destination))
        except RegistryError as exc:
            self._error(exc)
            return None
