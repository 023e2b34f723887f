"""The advanced editor: the job's full config as YAML, checked before it is accepted."""

from __future__ import annotations

from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.state.job_config import JobConfigError, resolve


class ConfigEditorDialog(QDialog):
    """Edit ``text`` (YAML); OK only if the engine would accept it (``resolve``)."""

    def __init__(self, task: str, text: str, default_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("config_editor")
        self.setWindowTitle("Training config (advanced)")
        self.resize(560, 620)
        self.task, self._default = task, default_text
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Every setting of the run (see configs/ and volta_core/config.py). "
                                "Dataset, starting model, device and threads are set by the panel.", self))
        self.editor = QPlainTextEdit(self)
        self.editor.setObjectName("config_text")
        self.editor.setFont(QFont("monospace", 9))
        self.editor.setPlainText(text)
        layout.addWidget(self.editor, 1)
        self.error = QLabel(self)
        self.error.setObjectName("config_error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #e57373;")
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
                                   | QDialogButtonBox.StandardButton.RestoreDefaults, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        restore = buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults)
        if restore is not None:
            restore.clicked.connect(lambda: self.editor.setPlainText(self._default))
        layout.addWidget(buttons)

    @property
    def text(self) -> str:
        return self.editor.toPlainText()

    def accept(self) -> None:
        try:
            resolve(self.task, self.text)
        except JobConfigError as exc:
            self.error.setText(str(exc))
            return
        super().accept()
