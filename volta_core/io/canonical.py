"""``canonical_ras``: the same image on a grid whose axes point Right, Anterior, Superior."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from nibabel.orientations import apply_orientation, axcodes2ornt, inv_ornt_aff, io_orientation, ornt_transform

from volta_core.io.errors import VolumeTooLargeError
from volta_core.io.volume import Volume

MAX_RESAMPLED_VOXELS = 100_000_000
_SLAB_VOXELS = 2_000_000  # resample in slabs so coordinate arrays stay ~50 MB


def canonical_ras(volume: Volume, *, order: int = 1, max_voxels: int = MAX_RESAMPLED_VOXELS) -> Volume:
    """The same image on a RAS-aligned grid, every voxel keeping its world position.

    Axis-aligned scans (any of the 48 orientations) are permuted and flipped exactly: no
    interpolation, voxel values unchanged, affine updated. Oblique scans are resampled onto an
    axis-aligned grid covering the whole scan at its smallest voxel spacing (trilinear by
    default; ``order=0`` for label maps); outside the scan is 0.

    Args:
        volume: any volume.
        order: spline order for oblique scans (1 = trilinear, 0 = nearest for labels).
        max_voxels: refuse to build a resampled grid larger than this.

    Returns:
        A new volume; ``metadata['canonical']`` records ``resampled`` (bool),
        ``source_orientation`` and ``source_shape``.

    Raises:
        VolumeTooLargeError: the resampled grid would exceed ``max_voxels``.
    """
    record = {"source_orientation": "".join(volume.orientation), "source_shape": list(volume.shape)}
    if not volume.is_oblique:
        data, affine = _reorient_exactly(volume)
        record["resampled"] = False
    else:
        data, affine = _resample_axis_aligned(volume, order=order, max_voxels=max_voxels)
        record["resampled"] = True
    metadata = {**volume.metadata, "canonical": record}
    return replace(volume, data=data, affine=affine, metadata=metadata)


def _reorient_exactly(volume: Volume) -> tuple[np.ndarray, np.ndarray]:
    current = io_orientation(volume.affine)
    transform = ornt_transform(current, axcodes2ornt(("R", "A", "S")))
    data = apply_orientation(volume.data, transform)  # a view: permuted/flipped strides
    affine = volume.affine @ inv_ornt_aff(transform, volume.shape)
    return np.ascontiguousarray(data), affine


def _resample_axis_aligned(volume: Volume, *, order: int, max_voxels: int) -> tuple[np.ndarray, np.ndarray]:
    from scipy.ndimage import map_coordinates  # ~0.2 s to import: paid only when an oblique scan is shown

    spacing = float(min(volume.spacing))
    corners = np.array([[i, j, k] for i in (0, volume.shape[0] - 1)
                        for j in (0, volume.shape[1] - 1) for k in (0, volume.shape[2] - 1)], dtype=np.float64)
    world = volume.voxel_to_world(corners)
    low, high = world.min(axis=0), world.max(axis=0)
    shape = tuple(int(n) for n in np.floor((high - low) / spacing + 1e-6).astype(int) + 1)
    n_voxels = int(np.prod(np.asarray(shape, dtype=np.float64)))
    if n_voxels > max_voxels:
        raise VolumeTooLargeError(
            f"Showing this oblique scan on an axis-aligned grid needs {n_voxels:,} voxels {shape}, more than "
            f"{max_voxels:,}.", hint="Resample the scan to a coarser resolution first.")
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = low
    to_source = np.linalg.inv(volume.affine) @ affine  # target voxel -> source voxel
    integer = volume.data.dtype.kind in "biu"
    source = volume.data.astype(np.float32) if volume.data.dtype != np.float32 else volume.data
    out = np.empty(shape, dtype=np.float32)
    slab = max(1, _SLAB_VOXELS // (shape[0] * shape[1]))
    grid_i, grid_j = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    for k0 in range(0, shape[2], slab):
        ks = np.arange(k0, min(k0 + slab, shape[2]))
        ijk = np.stack([np.broadcast_to(grid_i[..., None], grid_i.shape + (ks.size,)),
                        np.broadcast_to(grid_j[..., None], grid_j.shape + (ks.size,)),
                        np.broadcast_to(ks, grid_i.shape + (ks.size,))], axis=0).reshape(3, -1).astype(np.float64)
        coords = to_source[:3, :3] @ ijk + to_source[:3, 3:4]
        values = map_coordinates(source, coords, order=order, mode="constant", cval=0.0, prefilter=False)
        out[:, :, ks[0]:ks[-1] + 1] = values.reshape(shape[0], shape[1], ks.size)
    if integer:
        info = np.iinfo(volume.data.dtype) if volume.data.dtype.kind != "b" else np.iinfo(np.uint8)
        out = np.clip(np.rint(out), info.min, info.max).astype(volume.data.dtype if volume.data.dtype.kind != "b" else np.uint8)
    return out, affine
