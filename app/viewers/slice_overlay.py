"""The overlays of one slice view: every visible layer's slice composited into one RGBA texture.

One textured rectangle per view (built once), between the image (z = 0) and the crosshair;
label maps use nearest-neighbour texture sampling so voxel edges stay crisp.
"""

from __future__ import annotations

import numpy as np

from app.state.layers import LABELS, LayerList
from app.viewers.overlay_colors import blend_layer, to_rgba8
from app.viewers.slice_geometry import PlaneGeometry, SliceGrid, extract_slice
from app.viewers.textured_plane import TexturedPlane

_Z = 0.05  # in front of the image, behind the crosshair


class SliceOverlay:
    """Composites the visible layers of a ``LayerList`` for one slice of one view."""

    def __init__(self) -> None:
        self._plane = TexturedPlane(4, interpolate=False, z=_Z)
        self.actor = self._plane.actor
        self.actor.SetVisibility(False)

    @property
    def rgba(self) -> np.ndarray:
        """``(n_v, n_u, 4)`` what the texture shows."""
        return self._plane.pixels

    def set_grid(self, grid: SliceGrid) -> None:
        self._plane.set_grid(grid)

    def update(self, layers: LayerList, geometry: PlaneGeometry, index: int) -> None:
        """Recompose the overlay texture for display slice ``index``."""
        visible = [layer for layer in layers if layer.visible and layer.opacity > 0]
        if not visible:
            self.actor.SetVisibility(False)
            return
        premultiplied = np.zeros(self.rgba.shape, dtype=np.float32)
        for layer in visible:
            data = layer.segmentation.display if layer.kind == LABELS else layer.segmentation.probability
            if data is None:
                continue
            values = extract_slice(geometry, data, index)
            if values.shape != self.rgba.shape[:2]:
                continue  # a layer from another scan: never drawn on this one
            blend_layer(premultiplied, layer, values)
        to_rgba8(premultiplied, self.rgba)
        self._plane.pixels_changed()
        self.actor.SetVisibility(bool(self.rgba[..., 3].any()))
