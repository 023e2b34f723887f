"""A rectangle in a slice view that shows a numpy ``uint8`` buffer as its texture.

The slice image and the overlays are both drawn this way: colours are computed in numpy on the
small 2D slice, and only that texture changes per frame (cheaper than ``vtkImageActor`` on
software OpenGL).
"""

from __future__ import annotations

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkFiltersSources import vtkPlaneSource
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkTexture

from app.viewers.slice_geometry import SliceGrid


class TexturedPlane:
    """One textured rectangle, built once; ``pixels`` is the texture's memory (no copy).

    Args:
        channels: 3 (RGB) or 4 (RGBA).
        interpolate: linear texture sampling (images) or nearest (label maps: crisp voxel edges).
        z: depth of the rectangle in view coordinates (overlays sit in front of the image).
    """

    def __init__(self, channels: int, *, interpolate: bool, z: float = 0.0) -> None:
        if channels not in (3, 4):
            raise ValueError(f"channels must be 3 or 4, got {channels}")
        self.channels, self.z = channels, z
        self._image = vtkImageData()
        self._texture = vtkTexture()
        self._texture.SetInputData(self._image)
        self._texture.SetInterpolate(bool(interpolate))
        self._texture.EdgeClampOn()
        self._plane = vtkPlaneSource()
        mapper = vtkPolyDataMapper()
        mapper.SetInputConnection(self._plane.GetOutputPort())
        self.actor = vtkActor()
        self.actor.SetMapper(mapper)
        self.actor.SetTexture(self._texture)
        self.actor.GetProperty().LightingOff()
        self.actor.SetPickable(False)
        self.pixels = np.zeros((1, 1, channels), dtype=np.uint8)  # (n_v, n_u, C) what the texture shows
        self._allocate(1, 1)

    @property
    def image_data(self) -> vtkImageData:
        """The VTK image behind the texture (for reference-count leak checks)."""
        return self._image

    def _allocate(self, n_u: int, n_v: int) -> None:
        self.pixels = np.zeros((n_v, n_u, self.channels), dtype=np.uint8)
        self._image.SetDimensions(n_u, n_v, 1)
        self._image.GetPointData().SetScalars(numpy_to_vtk(self.pixels.reshape(-1, self.channels), deep=False))

    def set_grid(self, grid: SliceGrid) -> None:
        """Size the buffer for ``grid`` and place the rectangle over its voxels (edges included)."""
        (n_u, n_v), (s_u, s_v), (u0, v0) = grid.dims, grid.spacing, grid.origin
        if self.pixels.shape[:2] != (n_v, n_u):
            self._allocate(n_u, n_v)
        self._plane.SetOrigin(u0 - s_u / 2, v0 - s_v / 2, self.z)
        self._plane.SetPoint1(u0 + (n_u - 0.5) * s_u, v0 - s_v / 2, self.z)
        self._plane.SetPoint2(u0 - s_u / 2, v0 + (n_v - 0.5) * s_v, self.z)

    def pixels_changed(self) -> None:
        """Tell VTK that ``pixels`` was written in place."""
        self._image.GetPointData().GetScalars().Modified()
        self._image.Modified()
