"""The overlays of one slice view: every visible layer's slice composited into one RGBA texture.

One textured rectangle per view (built once), between the image (z = 0) and the crosshair;
label maps use nearest-neighbour texture sampling so voxel edges stay crisp.
"""

from __future__ import annotations

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkFiltersSources import vtkPlaneSource
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkTexture

from app.state.layers import LABELS, LayerList
from app.viewers.overlay_colors import blend_layer, to_rgba8
from app.viewers.slice_geometry import PlaneGeometry, SliceGrid, extract_slice

_Z = 0.05  # in front of the image, behind the crosshair


class SliceOverlay:
    """Composites the visible layers of a ``LayerList`` for one slice of one view."""

    def __init__(self) -> None:
        self._image = vtkImageData()
        self._texture = vtkTexture()
        self._texture.SetInputData(self._image)
        self._texture.InterpolateOff()
        self._texture.EdgeClampOn()
        self._plane = vtkPlaneSource()
        mapper = vtkPolyDataMapper()
        mapper.SetInputConnection(self._plane.GetOutputPort())
        self.actor = vtkActor()
        self.actor.SetMapper(mapper)
        self.actor.SetTexture(self._texture)
        self.actor.GetProperty().LightingOff()
        self.actor.SetPickable(False)
        self.actor.SetVisibility(False)
        self.rgba = np.zeros((1, 1, 4), dtype=np.uint8)  # (n_v, n_u, 4) what the texture shows
        self._allocate(1, 1)

    def _allocate(self, n_u: int, n_v: int) -> None:
        self.rgba = np.zeros((n_v, n_u, 4), dtype=np.uint8)
        self._image.SetDimensions(n_u, n_v, 1)
        self._image.GetPointData().SetScalars(numpy_to_vtk(self.rgba.reshape(-1, 4), deep=False))

    def set_grid(self, grid: SliceGrid) -> None:
        (n_u, n_v), (s_u, s_v), (u0, v0) = grid.dims, grid.spacing, grid.origin
        if self.rgba.shape[:2] != (n_v, n_u):
            self._allocate(n_u, n_v)
        self._plane.SetOrigin(u0 - s_u / 2, v0 - s_v / 2, _Z)
        self._plane.SetPoint1(u0 + (n_u - 0.5) * s_u, v0 - s_v / 2, _Z)
        self._plane.SetPoint2(u0 - s_u / 2, v0 + (n_v - 0.5) * s_v, _Z)

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
        self._image.GetPointData().GetScalars().Modified()
        self._image.Modified()
        self.actor.SetVisibility(bool(self.rgba[..., 3].any()))
