"""Affine resampling of voxel arrays, and resampling a Volume to a target spacing.

Every spatial step of preprocessing (reorientation, registration, change of spacing, crop) is
an affine map between voxel grids, so one primitive serves them all: :func:`resample_array`
pulls values from an input grid onto an output grid through a 4x4 *output voxel -> input voxel*
matrix. Work can be limited to a block of the output (the rest gets ``fill``), which is what
makes mapping a small hippocampus mask back onto a 256^3 scan cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from volta_core.io.volume import Volume


def resample_array(
    array: np.ndarray,
    output_shape: tuple[int, int, int],
    output_to_input: np.ndarray,
    *,
    order: int = 1,
    fill: float = 0.0,
    block: tuple[tuple[int, int, int], tuple[int, int, int]] | None = None,
    dtype: np.dtype | type | None = None,
) -> np.ndarray:
    """Resample ``array`` onto another voxel grid.

    Args:
        array: input values, shape ``(I, J, K)``.
        output_shape: shape of the output grid.
        output_to_input: ``(4, 4)`` map from output voxel indices to input voxel indices.
        order: 0 = nearest neighbour (labels), 1 = trilinear (images, probabilities).
        fill: value for output voxels that fall outside the input.
        block: optional ``(start, stop)`` index box of the output to compute; voxels outside
            it are set to ``fill`` without any interpolation.
        dtype: output dtype; defaults to float32 for ``order > 0`` and the input dtype else.

    Returns:
        The resampled array, shape ``output_shape``.
    """
    if array.ndim != 3:
        raise ValueError(f"expected a 3D array, got shape {array.shape}")
    if order not in (0, 1):
        raise ValueError(f"order must be 0 (nearest) or 1 (linear), got {order}")
    matrix = np.asarray(output_to_input, dtype=np.float64)
    if dtype is None:
        dtype = np.float32 if order > 0 else array.dtype
    source = array
    if order > 0 and not np.issubdtype(array.dtype, np.floating):
        source = array.astype(np.float32)
    out = np.full(output_shape, fill, dtype=dtype)
    if block is None:
        start, stop = np.zeros(3, dtype=int), np.asarray(output_shape, dtype=int)
    else:
        start = np.clip(np.asarray(block[0], dtype=int), 0, output_shape)
        stop = np.clip(np.asarray(block[1], dtype=int), 0, output_shape)
    if np.any(stop <= start):
        return out
    # output index o = start + local index; input = M o + t = M local + (M start + t)
    offset = matrix[:3, :3] @ start + matrix[:3, 3]
    sub = ndimage.affine_transform(
        source,
        matrix[:3, :3],
        offset=offset,
        output_shape=tuple(int(s) for s in stop - start),
        order=order,
        mode="constant",
        cval=fill,
        prefilter=False,
        output=np.dtype(dtype) if np.dtype(dtype) != np.bool_ else np.uint8,
    )
    out[start[0] : stop[0], start[1] : stop[1], start[2] : stop[2]] = sub
    return out


def nearest_on_grid(volume: Volume, grid: Volume) -> np.ndarray:
    """``volume``'s voxel values on ``grid``'s voxels by nearest neighbour, 0 outside ``volume``.

    Values and dtype are kept exactly (a label map stays a label map); when the grids match the
    data come back as they are.

    Returns:
        An array of ``grid.shape``.
    """
    if volume.same_grid(grid):
        return volume.data
    ijk = np.indices(grid.shape).reshape(3, -1).T  # (n, 3)
    src = np.rint(volume.world_to_voxel(grid.voxel_to_world(ijk))).astype(int)
    inside = np.all((src >= 0) & (src < np.asarray(volume.shape)), axis=1)
    out = np.zeros(ijk.shape[0], dtype=volume.data.dtype)
    out[inside] = volume.data[tuple(src[inside].T)]
    return out.reshape(grid.shape)


def output_block_covering(
    input_box: tuple[np.ndarray, np.ndarray],
    input_to_output: np.ndarray,
    output_shape: tuple[int, int, int],
    margin: int = 2,
) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Index box of the output grid that covers a box of the input grid.

    Args:
        input_box: ``(min, max)`` voxel indices (inclusive, may be fractional) in the input.
        input_to_output: ``(4, 4)`` map from input voxels to output voxels.
        output_shape: shape of the output grid (the box is clipped to it).
        margin: extra voxels on every side (interpolation support).

    Returns:
        ``(start, stop)`` with ``stop`` exclusive.
    """
    lo, hi = (np.asarray(v, dtype=np.float64) for v in input_box)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    mapped = corners @ input_to_output[:3, :3].T + input_to_output[:3, 3]
    start = np.clip(np.floor(mapped.min(0)).astype(int) - margin, 0, output_shape)
    stop = np.clip(np.ceil(mapped.max(0)).astype(int) + 1 + margin, 0, output_shape)
    return tuple(int(v) for v in start), tuple(int(v) for v in stop)  # type: ignore[return-value]


@dataclass(frozen=True)
class SpacingRecord:
    """How :func:`resample_to_spacing` changed the grid, so it can be undone.

    Attributes:
        original_shape: shape of the input grid.
        original_affine: voxel -> RAS mm of the input grid.
        resampled_shape: shape of the output grid.
        resampled_affine: voxel -> RAS mm of the output grid.
    """

    original_shape: tuple[int, int, int]
    original_affine: np.ndarray
    resampled_shape: tuple[int, int, int]
    resampled_affine: np.ndarray

    @property
    def original_to_resampled(self) -> np.ndarray:
        """``(4, 4)`` map from original voxels to resampled voxels."""
        return np.linalg.inv(self.resampled_affine) @ self.original_affine

    def invert(self, array: np.ndarray, *, order: int = 0, fill: float = 0.0) -> np.ndarray:
        """Map an array on the resampled grid back onto the original grid (original shape).

        Args:
            array: values on the resampled grid.
            order: 0 for labels, 1 for images or probabilities.
            fill: value outside the resampled field of view.
        """
        if tuple(array.shape) != self.resampled_shape:
            raise ValueError(f"expected shape {self.resampled_shape}, got {array.shape}")
        return resample_array(array, self.original_shape, self.original_to_resampled, order=order, fill=fill)


@dataclass(frozen=True)
class Resampled:
    """Output of :func:`resample_to_spacing`: the new volume and how to undo it."""

    volume: Volume
    record: SpacingRecord


def resample_to_spacing(
    volume: Volume, spacing: tuple[float, float, float], *, order: int = 1, fill: float = 0.0
) -> Resampled:
    """Resample a volume to another voxel size, keeping its orientation and field of view.

    The new grid has the same axis directions and first-voxel centre; its extent covers the
    original one (``shape = floor(extent / spacing) + 1`` per axis).

    Args:
        volume: the input volume (any orientation, may be oblique).
        spacing: target voxel size in mm along each storage axis.
        order: 0 = nearest (labels), 1 = trilinear (images).
        fill: value outside the input field of view.

    Returns:
        :class:`Resampled` with the new volume and a :class:`SpacingRecord`.
    """
    target = np.asarray(spacing, dtype=np.float64)
    if target.shape != (3,) or np.any(target <= 0):
        raise ValueError(f"spacing must be three positive numbers, got {spacing}")
    old_spacing = np.asarray(volume.spacing)
    extent = (np.asarray(volume.shape) - 1) * old_spacing
    new_shape = tuple(int(np.floor(e / s + 1e-6)) + 1 for e, s in zip(extent, target))
    scale = target / old_spacing  # new voxel -> old voxel along each axis
    new_affine = volume.affine.copy()
    new_affine[:3, :3] = volume.affine[:3, :3] @ np.diag(scale)
    new_to_old = np.diag([*scale, 1.0])
    data = resample_array(volume.data, new_shape, new_to_old, order=order, fill=fill)  # type: ignore[arg-type]
    record = SpacingRecord(volume.shape, volume.affine.copy(), new_shape, new_affine)  # type: ignore[arg-type]
    return Resampled(Volume(data, new_affine, dict(volume.metadata), volume.source), record)


#: metadata key of a subdivided volume: the voxel size it was acquired at (mm, per storage axis)
ACQUIRED_SPACING = "acquired_spacing"


#: largest grid :func:`subdivide_grid` makes (voxels): the scan, its display copy and a model's
#: per-class probabilities on it must fit in a desktop's memory
MAX_SUBDIVIDED_VOXELS = 200_000_000


class GridTooLargeError(ValueError):
    """Cutting the scan's voxels down would give a grid too large to work with."""


#: voxel size (mm) the fine grid cuts a scan's voxels down to (``volta predict --fine-grid``,
#: File > Reopen on a 1 mm grid)
FINE_GRID_MM = 1.0


def subdivision_factors(spacing: tuple[float, float, float] | np.ndarray,
                        max_spacing_mm: float = FINE_GRID_MM) -> np.ndarray:
    """Into how many parts :func:`subdivide_grid` cuts each axis: ``spacing / max_spacing_mm``
    rounded to the nearest integer, halves down (6 mm -> 6, 1.5 mm -> 1), at least 1."""
    return np.maximum(1, np.floor(np.asarray(spacing) / max_spacing_mm + 0.5 - 1e-6)).astype(int)


def subdivide_grid(volume: Volume, max_spacing_mm: float = FINE_GRID_MM, *, max_voxels: int | None = None) -> Volume:
    """The scan on a finer grid: every voxel side longer than about ``max_spacing_mm`` is cut into equal parts.

    Each axis is divided by :func:`subdivision_factors` (so 6 mm slices become six 1 mm ones,
    1.5 mm stays), the new voxels tiling the old ones exactly: a mask
    predicted on this grid lies on the old voxels' footprint and can be shown over the scan in
    any world-aware viewer. Values are interpolated linearly along the divided axes (clamped at
    the edges). Nothing is invented: the through-plane detail is still that of the acquisition,
    which ``metadata[ACQUIRED_SPACING]`` keeps for warnings.

    Returns:
        ``volume`` itself when no axis needs dividing, else a new float32 volume.

    Raises:
        GridTooLargeError: the new grid would have more than ``max_voxels`` voxels (default
            :data:`MAX_SUBDIVIDED_VOXELS`).
    """
    if max_spacing_mm <= 0:
        raise ValueError(f"max_spacing_mm must be positive, got {max_spacing_mm}")
    spacing = np.asarray(volume.spacing)
    factors = subdivision_factors(spacing, max_spacing_mm)
    if np.all(factors == 1):
        return volume
    max_voxels = MAX_SUBDIVIDED_VOXELS if max_voxels is None else max_voxels
    n_voxels = int(np.prod(np.asarray(volume.shape) * factors))
    if n_voxels > max_voxels:
        shape = " x ".join(str(int(n)) for n in np.asarray(volume.shape) * factors)
        raise GridTooLargeError(f"cut to about {max_spacing_mm:g} mm, this scan would have {shape} voxels "
                                f"({n_voxels / 1e6:.0f} million; at most {max_voxels / 1e6:.0f} million are "
                                "allowed): crop it to the head first, or use it on its own grid")
    data = np.asarray(volume.data, dtype=np.float32)
    step = np.eye(4)
    for axis, f in enumerate(factors):
        if f == 1:
            continue
        n = data.shape[axis]
        x = np.clip((np.arange(n * f) + 0.5) / f - 0.5, 0, n - 1)  # new voxel centre, in old voxels
        lo = np.floor(x).astype(int)
        hi = np.minimum(lo + 1, n - 1)
        shape = [1, 1, 1]
        shape[axis] = -1
        w = (x - lo).astype(np.float32).reshape(shape)
        data = np.take(data, lo, axis=axis) * (1 - w) + np.take(data, hi, axis=axis) * w
        step[axis, axis] = 1.0 / f
        step[axis, 3] = (1.0 / f - 1.0) / 2.0
    acquired = volume.metadata.get(ACQUIRED_SPACING, tuple(float(s) for s in spacing))
    metadata = {**volume.metadata, ACQUIRED_SPACING: acquired}
    return Volume(np.ascontiguousarray(data, dtype=np.float32), volume.affine @ step, metadata, volume.source)
