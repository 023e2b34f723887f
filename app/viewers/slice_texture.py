"""The slice image of a view: a textured rectangle whose RGB texture is coloured in numpy.

Cheaper than ``vtkImageActor`` on software OpenGL (about 3 ms instead of 10-30 ms a frame in a
large view): window/level and the colour map are applied to the 2D slice with one table look-up
(~1 ms for 256x256), and only that small texture changes per frame.
"""

from __future__ import annotations

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkFiltersSources import vtkPlaneSource
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkTexture

from app.viewers.colormaps import colormap_table
from app.viewers.slice_geometry import SliceGrid


def apply_window(values: np.ndarray, low: float, high: float, table: np.ndarray,
                 out: np.ndarray) -> np.ndarray:
    """Colour ``values`` ``(n_v, n_u)``: ``low`` -> first table entry, ``high`` -> last, into ``out``.

    Args:
        table: ``(256, 3)`` uint8 colours.
        out: ``(n_v, n_u, 3)`` uint8 buffer, filled in place and returned.
    """
    scale = (len(table) - 1) / max(high - low, 1e-12)
    index = (values - low) * scale
    np.clip(index, 0, len(table) - 1, out=index)
    np.take(table, index.astype(np.intp), axis=0, out=out)
    return out


class SliceTexture:
    """One slice as a texture on a rectangle at ``z = 0`` in plane coordinates."""

    def __init__(self) -> None:
        self.values = np.zeros((1, 1), dtype=np.float32)  # (n_v, n_u) voxel values
        self.rgb = np.zeros((1, 1, 3), dtype=np.uint8)  # (n_v, n_u, 3) colours shown
        self._table = (colormap_table("gray") * 255).round().astype(np.uint8)
        self._range = (0.0, 1.0)
        self._image = vtkImageData()
        self._texture = vtkTexture()
        self._texture.SetInputData(self._image)
        self._texture.InterpolateOn()
        self._texture.EdgeClampOn()
        self._plane = vtkPlaneSource()
        mapper = vtkPolyDataMapper()
        mapper.SetInputConnection(self._plane.GetOutputPort())
        self.actor = vtkActor()
        self.actor.SetMapper(mapper)
        self.actor.SetTexture(self._texture)
        self.actor.GetProperty().LightingOff()
        self.actor.SetPickable(False)
        self._allocate(1, 1)

    def _allocate(self, n_u: int, n_v: int) -> None:
        self.values = np.zeros((n_v, n_u), dtype=np.float32)
        self.rgb = np.zeros((n_v, n_u, 3), dtype=np.uint8)
        self._image.SetDimensions(n_u, n_v, 1)
        self._image.GetPointData().SetScalars(numpy_to_vtk(self.rgb.reshape(-1, 3), deep=False))

    def set_grid(self, grid: SliceGrid) -> None:
        """Size the buffers for ``grid`` and place the rectangle over its voxels (edges included)."""
        (n_u, n_v), (s_u, s_v), (u0, v0) = grid.dims, grid.spacing, grid.origin
        if self.values.shape != (n_v, n_u):
            self._allocate(n_u, n_v)
        self._plane.SetOrigin(u0 - s_u / 2, v0 - s_v / 2, 0.0)
        self._plane.SetPoint1(u0 + (n_u - 0.5) * s_u, v0 - s_v / 2, 0.0)
        self._plane.SetPoint2(u0 - s_u / 2, v0 + (n_v - 0.5) * s_v, 0.0)

    def set_values(self, values: np.ndarray) -> None:
        """Show a new slice ``(n_v, n_u)`` (any dtype; copied)."""
        np.copyto(self.values, values, casting="unsafe")
        self._recolor()

    def set_window(self, low: float, high: float) -> None:
        self._range = (low, high)
        self._recolor()

    def set_colormap(self, table: np.ndarray) -> None:
        """``table``: ``(256, 3)`` RGB in 0..1."""
        self._table = (np.asarray(table) * 255).round().astype(np.uint8)
        self._recolor()

    def _recolor(self) -> None:
        apply_window(self.values, self._range[0], self._range[1], self._table, self.rgb)
        self._image.GetPointData().GetScalars().Modified()
        self._image.Modified()
