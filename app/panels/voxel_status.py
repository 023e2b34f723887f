"""Status-bar readout of the overlays at the cursor: label and probability of the clicked voxel."""

from __future__ import annotations

import numpy as np
from PyQt6.QtWidgets import QLabel, QWidget

from app.state import CursorModel, ImageModel
from app.state.layers import LABELS, LayerList
from app.state.segmentation import LABEL_NAMES


def format_voxel(image: ImageModel, layers: LayerList, position: np.ndarray) -> str:
    """``"mask: left hippocampus, p = 0.93"`` for the top label layer at ``position`` ('' without one)."""
    layer = image.layer
    labels = [lay for lay in reversed(layers.layers) if lay.kind == LABELS]
    if layer is None or not labels:
        return ""
    index = np.rint(layer.display_index(position)).astype(int)
    seg = labels[0].segmentation
    if np.any(index < 0) or np.any(index >= np.asarray(seg.display.shape)):
        return ""
    ijk = (int(index[0]), int(index[1]), int(index[2]))
    text = f"{seg.name}: {LABEL_NAMES.get(seg.label_at_display(ijk), '?')}"
    p = seg.probability_at_display(ijk)
    return text + ("" if p is None else f", p(hippocampus) = {p:.2f}")


class VoxelStatus(QLabel):
    """Follows the cursor (which a click moves) and the layers."""

    def __init__(self, image: ImageModel, cursor: CursorModel, layers: LayerList, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("voxel_status")
        self._image, self._cursor, self._layers = image, cursor, layers
        cursor.changed.connect(self._refresh)
        layers.changed.connect(self._refresh)
        self._refresh()

    def _refresh(self, *_args: object) -> None:
        self.setText(format_voxel(self._image, self._layers, self._cursor.position))

    def disconnect_models(self) -> None:
        self._cursor.changed.disconnect(self._refresh)
        self._layers.changed.disconnect(self._refresh)
