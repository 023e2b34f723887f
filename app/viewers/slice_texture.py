"""The slice image of a view: a textured rectangle whose RGB texture is coloured in numpy.

Cheaper than ``vtkImageActor`` on software OpenGL (about 3 ms instead of 10-30 ms a frame in a
large view): window/level and the colour map are applied to the 2D slice with one table look-up
(~1 ms for 256x256), and only that small texture changes per frame.
"""

from __future__ import annotations

import numpy as np

from app.viewers.colormaps import colormap_table
from app.viewers.slice_geometry import SliceGrid
from app.viewers.textured_plane import TexturedPlane


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
        self._plane = TexturedPlane(3, interpolate=True)
        self.actor = self._plane.actor
        self.values = np.zeros((1, 1), dtype=np.float32)  # (n_v, n_u) voxel values
        self._table = (colormap_table("gray") * 255).round().astype(np.uint8)
        self._range = (0.0, 1.0)

    @property
    def rgb(self) -> np.ndarray:
        """``(n_v, n_u, 3)`` colours shown."""
        return self._plane.pixels

    @property
    def image_data(self):  # noqa: ANN201 - vtkImageData
        """The VTK image behind the texture (for reference-count leak checks)."""
        return self._plane.image_data

    def set_grid(self, grid: SliceGrid) -> None:
        """Size the buffers for ``grid`` and place the rectangle over its voxels (edges included)."""
        self._plane.set_grid(grid)
        if self.values.shape != self.rgb.shape[:2]:
            self.values = np.zeros(self.rgb.shape[:2], dtype=np.float32)

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
        self._plane.pixels_changed()
