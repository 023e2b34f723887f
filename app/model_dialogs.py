"""Dialogs of the model flow: run errors, the model-card viewer and the export options.

Error boxes are non-blocking (``open()``) and named ``model_error_box`` so tests can find them.
"""

from __future__ import annotations

import html
from pathlib import Path

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMessageBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.dialogs import show_message_box
from app.state.model_card_html import card_html, scrub_paths
from app.state.model_catalog import card_rows, read_card_dict

MODEL_ERROR_BOX = "model_error_box"
MODEL_CARD_DIALOG = "model_card_dialog"


def show_model_error(parent: QWidget, title: str, message: str, hint: str) -> QMessageBox:
    """A warning box that returns at once (window-modal)."""
    return show_message_box(parent, title, message, hint, object_name=MODEL_ERROR_BOX)


def describe_run_error(error: BaseException) -> tuple[str, str, str]:
    """``(title, message, hint)`` for an exception raised while running a model."""
    from volta_core.infer import PredictionError
    from volta_core.contracts.model_card import BundleError
    from volta_core.model.device import DeviceError

    keep = "The scan and any earlier results stay open."
    if isinstance(error, BundleError):
        return "Could not load the model", str(error), f"Choose another model bundle. {keep}"
    if isinstance(error, DeviceError):
        return "Device not available", str(error), f"Choose Model > Device > CPU or Auto. {keep}"
    if isinstance(error, MemoryError) or "out of memory" in str(error).lower():
        return ("Out of memory", f"The model ran out of memory: {error}",
                f"Close other programs, or choose Model > Device > CPU. {keep}")
    if isinstance(error, PredictionError):
        return "The model failed on this scan", str(error), keep
    return ("Unexpected error while running the model", f"{type(error).__name__}: {error}",
            f"{keep} Please report this problem.")


def show_run_error(parent: QWidget, error: BaseException) -> QMessageBox:
    title, message, hint = describe_run_error(error)
    return show_model_error(parent, title, message, hint)


class ModelCardDialog(QDialog):
    """The model card as a readable page: intended use, limitations, heads, training data and
    metrics tables (``browser``, a QTextBrowser), with no machine paths. ``rows`` keeps the short
    field summary (name, intended use, heads ...) for other uses."""

    def __init__(self, bundle: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(MODEL_CARD_DIALOG)
        self.setWindowTitle(f"Model card - {bundle.name}")
        self.resize(760, 640)
        layout = QVBoxLayout(self)
        self.rows: dict[str, str] = {}
        try:
            card = read_card_dict(bundle)
            page = card_html(card)
            self.rows = {key: scrub_paths(text) for key, text in card_rows(card)}
        except ValueError as exc:
            page = f"<h2>This model card cannot be read</h2><p>{html.escape(scrub_paths(str(exc)))}</p>"
            self.rows = {"Error": scrub_paths(str(exc))}
        self.browser = QTextBrowser(self)
        self.browser.setObjectName("model_card_page")
        self.browser.setOpenLinks(False)
        self.browser.setHtml(page)
        layout.addWidget(self.browser)
        note = QLabel("<b>For research use only. Not for diagnosis.</b>", self)
        layout.addWidget(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


def show_model_card(parent: QWidget, bundle: Path) -> ModelCardDialog:
    dialog = ModelCardDialog(bundle, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog


def ask_include_patient(parent: QWidget, what: str) -> bool | None:
    """Export options: ``True``/``False`` for "include patient identifiers", ``None`` if cancelled."""
    dialog = QDialog(parent)
    dialog.setWindowTitle(f"Export {what}")
    layout = QVBoxLayout(dialog)
    text = QLabel(f"Export the {what}. Patient identifiers, and the scan's file name and folder (which often "
                  "hold a name or record number), are left out unless you tick the box.", dialog)
    text.setWordWrap(True)
    layout.addWidget(text)
    box = QCheckBox("Include patient identifiers and the scan's file name and path", dialog)
    box.setObjectName("include_patient")
    layout.addWidget(box)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
                               dialog)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    layout.addWidget(buttons)
    try:
        return box.isChecked() if dialog.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dialog.deleteLater()
