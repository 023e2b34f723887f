"""Mapping arrays on a scan's own (native) grid onto the RAS-aligned display grid the views slice.

The views show ``canonical_ras(volume)``. A mask or probability map predicted on the scan's
grid must be shown on exactly the same display grid, voxel for voxel: for axis-aligned scans the
same permutation and flips (``canonical_ras(..., order=0)``), for oblique ones nearest-neighbour
resampling onto the display grid. ``DisplayIndex`` records, for every display voxel, which native
voxel it shows, so an overlay can be cut with one gather and an edit made on screen can be written
back to the native mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from volta_core.io import Volume

OUTSIDE = -1


@dataclass(frozen=True)
class DisplayIndex:
    """``flat``: ``(X, Y, Z)`` int32/int64 native flat index per display voxel (``OUTSIDE`` = -1).

    Attributes:
        native_shape: shape of the scan's own grid.
        display_affine: voxel -> RAS mm affine of the display grid.
        exact: True for axis-aligned scans (a pure permutation/flip, every native voxel shown once).
    """

    flat: np.ndarray
    native_shape: tuple[int, int, int]
    exact: bool
    display_affine: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.flat.shape)  # type: ignore[return-value]

    def to_display(self, native: np.ndarray, fill: float = 0) -> np.ndarray:
        """``native`` ``(I, J, K)`` on the scan grid -> the same values on the display grid ``(X, Y, Z)``."""
        if native.shape != self.native_shape:
            raise ValueError(f"array shape {native.shape} does not match the scan grid {self.native_shape}")
        values = native.reshape(-1)
        if self.exact:
            return values[self.flat]
        out = np.full(self.shape, fill, dtype=native.dtype)
        inside = self.flat >= 0
        out[inside] = values[self.flat[inside]]
        return out

    def native_indices(self, display_voxels: tuple[np.ndarray, ...]) -> np.ndarray:
        """Native flat indices (unique, outside dropped) of display voxels given as index arrays."""
        flat = self.flat[display_voxels]
        return np.unique(flat[flat >= 0])


def display_index(volume: Volume, display_affine: np.ndarray, display_shape: tuple[int, int, int]) -> DisplayIndex:
    """Which native voxel every voxel of the display grid shows (as ``canonical_ras(order=0)`` would).

    Args:
        volume: the scan on its own grid (its affine is used).
        display_affine, display_shape: the grid of ``canonical_ras(volume)``.
    """
    from volta_core.io import Volume as _Volume
    from volta_core.io import canonical_ras

    n = int(np.prod(volume.shape))
    dtype = np.int32 if n < 2**31 else np.int64
    if not volume.is_oblique:
        ids = np.arange(n, dtype=dtype).reshape(volume.shape)
        mapped = canonical_ras(_Volume(ids, volume.affine), order=0)
        return DisplayIndex(np.ascontiguousarray(mapped.data), volume.shape, exact=True,
                            display_affine=np.asarray(display_affine, dtype=np.float64))
    # exactly canonical_ras's own nearest-neighbour resampling, applied to each index axis
    # (1-based so that 0 marks "outside the scan"; float32 holds these small integers exactly)
    coords = []
    for axis in range(3):
        ramp = np.arange(1, volume.shape[axis] + 1, dtype=np.float32)
        along = np.broadcast_to(ramp.reshape([-1 if a == axis else 1 for a in range(3)]), volume.shape)
        mapped = canonical_ras(_Volume(np.ascontiguousarray(along), volume.affine), order=0).data
        if mapped.shape != tuple(display_shape):
            raise ValueError(f"display grid {display_shape} is not canonical_ras's grid {mapped.shape}")
        coords.append(np.rint(mapped).astype(np.int64) - 1)
    inside = (coords[0] >= 0) & (coords[1] >= 0) & (coords[2] >= 0)
    out = np.full(display_shape, OUTSIDE, dtype=dtype)
    out[inside] = np.ravel_multi_index((coords[0][inside], coords[1][inside], coords[2][inside]), volume.shape)
    return DisplayIndex(out, volume.shape, exact=False, display_affine=np.asarray(display_affine, dtype=np.float64))
