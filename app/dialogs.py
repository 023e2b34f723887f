"""Every dialog the app shows, as small functions the main window calls through this module.

Tests replace the blocking ones (``choose_series``, ``choose_volume_index``,
``confirm_replace_nonfinite``) with monkeypatch; the error box is non-blocking (``open()``)
so a test can find it among the top-level widgets and read it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QInputDialog,
    QLabel,
    QListWidget,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from volta_core.io import NonFiniteVoxelsError, SeriesInfo, VolumeReadError

READ_ERROR_BOX = "read_error_box"
RESEARCH_USE = "For research use only. Not for diagnosis."


def show_message_box(parent: QWidget, title: str, message: str, hint: str = "", *, object_name: str,
                     icon: QMessageBox.Icon = QMessageBox.Icon.Warning) -> QMessageBox:
    """A message box that returns at once (window-modal), deletes itself on close and is found
    by tests through ``object_name``; ``hint`` (what to do) goes under the message."""
    box = QMessageBox(icon, title, message, QMessageBox.StandardButton.Ok, parent)
    box.setObjectName(object_name)
    if hint:
        box.setInformativeText(hint)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


def show_read_error(parent: QWidget, error: VolumeReadError) -> QMessageBox:
    """A warning box with what went wrong and what to do; returns at once (window-modal)."""
    return show_message_box(parent, "Could not open scan", error.message, error.hint, object_name=READ_ERROR_BOX)


def show_unexpected_error(parent: QWidget, error: BaseException) -> QMessageBox:
    """For failures that are not a ``VolumeReadError`` (a bug, or out of memory)."""
    return show_message_box(parent, "Could not open scan", f"Unexpected error: {type(error).__name__}: {error}",
                            "The scan that was open stays open. Please report this problem.",
                            object_name=READ_ERROR_BOX, icon=QMessageBox.Icon.Critical)


class SeriesDialog(QDialog):
    """Pick one DICOM series of a folder; ``selected_uid()`` after ``accept``."""

    def __init__(self, series: list[SeriesInfo], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose a DICOM series")
        self._series = list(series)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("This folder holds several series. Which one do you want to open?"))
        self.list = QListWidget(self)
        self.list.addItems([info.label() for info in self._series])
        self.list.setCurrentRow(0)
        self.list.itemDoubleClicked.connect(self.accept)
        layout.addWidget(self.list)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open
                                   | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def selected_uid(self) -> str | None:
        row = self.list.currentRow()
        return self._series[row].uid if 0 <= row < len(self._series) else None


def choose_series(parent: QWidget, series: list[SeriesInfo]) -> str | None:
    """Ask which series to open; the chosen SeriesInstanceUID or ``None`` (cancelled)."""
    dialog = SeriesDialog(series, parent)
    try:
        return dialog.selected_uid() if dialog.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dialog.deleteLater()


def choose_volume_index(parent: QWidget, n_volumes: int, name: str) -> int | None:
    """Ask which volume of a 4D image to open (shown 1-based); 0-based index or ``None``."""
    value, ok = QInputDialog.getInt(
        parent, "Choose a volume",
        f"'{name}' holds {n_volumes} volumes (e.g. time points).\nWhich one do you want to open?",
        1, 1, n_volumes, 1)
    return value - 1 if ok else None


def _clicked(box: QMessageBox) -> object:
    """Show the modal ``box`` and return the button that closed it (then let Qt delete the box)."""
    box.exec()
    clicked = box.clickedButton()
    box.deleteLater()
    return clicked


def confirm_replace_nonfinite(parent: QWidget, error: NonFiniteVoxelsError) -> bool:
    """Offer to open the scan with its NaN/infinite voxels replaced by 0."""
    box = QMessageBox(QMessageBox.Icon.Question, "Scan has invalid voxels", error.message,
                      QMessageBox.StandardButton.Cancel, parent)
    box.setInformativeText(f"{error.n_nonfinite:,} voxels are NaN or infinite.")
    replace = box.addButton("Replace with 0 and open", QMessageBox.ButtonRole.AcceptRole)
    return _clicked(box) is replace


def show_about(parent: QWidget, version: str) -> None:
    """The About box, with the research-use statement."""
    QMessageBox.about(
        parent, "About VolTA-3D Studio",
        f"<h3>VolTA-3D Studio {version}</h3>"
        "<p>Open brain MRI scans in linked slice and 3D views, and segment the hippocampus "
        "with a self-supervised 3D vision transformer, locally.</p>"
        f"<p><b>{RESEARCH_USE}</b></p>")


SAVE, DISCARD, CANCEL = "save", "discard", "cancel"
RESTORE, LATER = "restore", "later"


def ask_unsaved_edits(parent: QWidget, action: str, names: list[str]) -> str:
    """Before ``action`` (e.g. "open another scan") with corrected masks not saved: ``SAVE``,
    ``DISCARD`` or ``CANCEL`` (Escape and closing the box cancel)."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved corrections",
                      f"The corrections to {', '.join(names)} are not saved.", QMessageBox.StandardButton.NoButton,
                      parent)
    box.setObjectName("unsaved_edits_box")
    box.setInformativeText(f"Save them before you {action}? If you discard them, they are lost.")
    save = box.addButton(QMessageBox.StandardButton.Save)
    discard = box.addButton(QMessageBox.StandardButton.Discard)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(save)
    box.setEscapeButton(cancel)
    clicked = _clicked(box)
    return SAVE if clicked is save else DISCARD if clicked is discard else CANCEL


def ask_restore_autosave(parent: QWidget, scan: str, model: str, saved_at: str) -> str:
    """A corrected mask of this scan was autosaved and never saved (the app closed without
    asking, e.g. a crash): ``RESTORE``, ``DISCARD`` (delete it) or ``LATER`` (ask next time)."""
    box = QMessageBox(QMessageBox.Icon.Question, "Restore unsaved corrections?",
                      f"Corrections to the {model} mask of {scan} from {saved_at} were never saved.",
                      QMessageBox.StandardButton.NoButton, parent)
    box.setObjectName("restore_autosave_box")
    box.setInformativeText("Restore them? The model runs again and the corrections are applied on top "
                           "(Edit > Undo takes them back).")
    restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
    discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
    later = box.addButton("Ask again later", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(restore)
    box.setEscapeButton(later)
    clicked = _clicked(box)
    return RESTORE if clicked is restore else DISCARD if clicked is discard else LATER


def ask_mask_side(parent: QWidget, name: str) -> str | None:
    """A single-label mask: which hippocampus it holds, ``"left"``, ``"right"`` or ``"both"`` (split
    at the midline); None if cancelled."""
    items = ["Both (split at the midline)", "Left hippocampus", "Right hippocampus"]
    item, ok = QInputDialog.getItem(
        parent, "Which side is this mask?",
        f"'{name}' holds a single label, so it does not say which hippocampus it is.\nIt holds:", items, 0, False)
    if not ok:
        return None
    return {items[0]: "both", items[1]: "left", items[2]: "right"}[item]
