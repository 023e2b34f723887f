"""Dock showing the open scan's name, shape, spacing, orientation and intensity range."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QDockWidget, QFormLayout, QLabel, QWidget

from app.panels.scrolling import scrolling
from app.state import ImageLayer, ImageModel

_FIELDS = ("Name", "Shape", "Spacing (mm)", "Orientation", "Data type", "Intensity range", "Format",
           "Source")


class InfoPanel(QDockWidget):
    """Read-only facts about the current scan (original storage geometry)."""

    def __init__(self, image: ImageModel, parent: QWidget | None = None) -> None:
        super().__init__("Scan", parent)
        self.setObjectName("info_panel")
        self._image = image
        body = QWidget(self)
        form = QFormLayout(body)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.values: dict[str, QLabel] = {}
        for field in _FIELDS:
            label = QLabel("-", body)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            self.values[field] = label
            form.addRow(f"{field}:", label)
        body.setMinimumWidth(240)  # long paths wrap instead of squeezing every value
        self.setWidget(scrolling(body, self))
        image.changed.connect(self._on_image_changed)
        self._on_image_changed(image.layer)

    def _on_image_changed(self, layer: ImageLayer | None) -> None:
        facts = layer.describe() if layer is not None else {}
        for field, label in self.values.items():
            label.setText(facts.get(field, "-"))

    def disconnect_models(self) -> None:
        self._image.changed.disconnect(self._on_image_changed)
