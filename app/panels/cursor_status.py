"""Status-bar readout of the cursor: world mm, the original scan's voxel index and value."""

from __future__ import annotations

import numpy as np
from PyQt6.QtWidgets import QLabel, QWidget

from app.state import CursorModel, ImageLayer, ImageModel


def format_cursor(layer: ImageLayer | None, position: np.ndarray) -> str:
    """``"RAS (x, y, z) mm | voxel (i, j, k) | value v"`` for the status bar."""
    if layer is None:
        return "No scan open"
    sample = layer.sample(position)
    x, y, z = sample.world
    text = f"RAS ({x:+.1f}, {y:+.1f}, {z:+.1f}) mm"
    if sample.index is None:
        return f"{text}   |   outside the scan"
    i, j, k = sample.index
    return f"{text}   |   voxel ({i}, {j}, {k})   |   value {sample.value:.6g}"


class CursorStatus(QLabel):
    """A label that follows the cursor and the current scan."""

    def __init__(self, image: ImageModel, cursor: CursorModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("cursor_status")
        self._image, self._cursor = image, cursor
        image.changed.connect(self._refresh)
        cursor.changed.connect(self._refresh)
        self._refresh()

    def _refresh(self, *_args: object) -> None:
        self.setText(format_cursor(self._image.layer, self._cursor.position))

    def disconnect_models(self) -> None:
        self._image.changed.disconnect(self._refresh)
        self._cursor.changed.disconnect(self._refresh)
