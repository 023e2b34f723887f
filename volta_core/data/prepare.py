"""Scan -> model input: the ONE function that does it, shared by training and inference.

Steps (in order): reorient to RAS (exact axis permutation/flip, as nibabel's
``as_closest_canonical``), resample to isotropic ``spacing`` mm (linear for the image, nearest
for the mask), normalise intensities, then crop/pad to ``size``^3 centred on the foreground's
bounding box. The returned ``affine`` maps model-space voxels to the scan's world mm, so a
prediction can be resampled back onto the scan's own grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np
from scipy import ndimage

NORMALISATIONS = ("percentile", "zscore")


@dataclass
class PreparedSample:
    """Model-space arrays.

    Attributes:
        image: ``(S, S, S)`` float32, RAS storage order (axis 0 runs left -> right).
        mask: ``(S, S, S)`` int64 labels or ``None``.
        affine: ``(4, 4)`` model voxel -> world mm.
    """

    image: np.ndarray
    mask: np.ndarray | None
    affine: np.ndarray


def reorient_ras(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact reorientation of an array to the RAS axis order (no interpolation)."""
    ornt = nib.orientations.io_orientation(affine)
    ras = nib.orientations.axcodes2ornt(("R", "A", "S"))
    transform = nib.orientations.ornt_transform(ornt, ras)
    out = nib.orientations.apply_orientation(data, transform)
    new_affine = affine @ nib.orientations.inv_ornt_aff(transform, data.shape)
    return np.ascontiguousarray(out), new_affine


def resample_isotropic(data: np.ndarray, affine: np.ndarray, spacing: float,
                       order: int) -> tuple[np.ndarray, np.ndarray]:
    """Resample an RAS-ordered array to ``spacing`` mm voxels along each axis."""
    current = np.linalg.norm(affine[:3, :3], axis=0)
    if np.allclose(current, spacing, rtol=1e-4):
        return data, affine
    factor = spacing / current  # new voxel in old voxel units
    out_shape = np.maximum(1, np.round(np.array(data.shape) / factor)).astype(int)
    # map new voxel centres onto old ones, keeping the field of view centred
    offset = (np.array(data.shape) - 1) / 2.0 - factor * (out_shape - 1) / 2.0
    out = ndimage.affine_transform(data.astype(np.float32) if order > 0 else data,
                                   np.diag(factor), offset=offset, output_shape=tuple(out_shape),
                                   order=order, mode="constant", cval=0.0, prefilter=False)
    step = np.eye(4)
    step[:3, :3] = np.diag(factor)
    step[:3, 3] = offset
    return out, affine @ step


def normalise_intensity(image: np.ndarray, method: str = "percentile") -> np.ndarray:
    """Robust 0.5/99.5 percentile scaling to [0, 1], or z-score inside the foreground."""
    image = image.astype(np.float32)
    if method == "percentile":
        lo, hi = np.percentile(image, [0.5, 99.5])
        if hi <= lo:
            return np.zeros_like(image)
        return np.clip((image - lo) / (hi - lo), 0.0, 1.0)
    if method == "zscore":
        fg = image > np.percentile(image, 1.0)
        if not fg.any():
            fg = np.ones_like(image, dtype=bool)
        mean, std = float(image[fg].mean()), float(image[fg].std())
        return ((image - mean) / max(std, 1e-6)).astype(np.float32)
    raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {method!r}")


def foreground_centre(image: np.ndarray) -> np.ndarray:
    """Centre of the bounding box of voxels above 10 % of the robust maximum."""
    thr = 0.1 * float(np.percentile(image, 99.5))
    idx = np.argwhere(image > thr)
    if len(idx) == 0:
        return (np.array(image.shape) - 1) / 2.0
    return (idx.min(axis=0) + idx.max(axis=0)) / 2.0


def crop_or_pad(data: np.ndarray, start: np.ndarray, size: int, fill: float = 0.0) -> np.ndarray:
    """The ``size``^3 window starting at voxel ``start`` (may lie partly outside: padded)."""
    out = np.full((size,) * 3, fill, dtype=data.dtype)
    src = [slice(max(0, s), min(d, s + size)) for s, d in zip(start, data.shape)]
    dst = [slice(sl.start - s, sl.stop - s) for sl, s in zip(src, start)]
    if all(sl.stop > sl.start for sl in src):
        out[tuple(dst)] = data[tuple(src)]
    return out


def prepare_sample(image: np.ndarray, affine: np.ndarray, *, spacing: float = 1.5, size: int = 96,
                   normalisation: str = "percentile", mask: np.ndarray | None = None) -> PreparedSample:
    """Turn a scan (and optionally its label mask on the same grid) into model space.

    Args:
        image: ``(I, J, K)`` voxels in storage order.
        affine: ``(4, 4)`` voxel -> RAS mm of ``image`` (and ``mask``).
        spacing: isotropic model voxel size in mm.
        size: edge of the cubic output in voxels.
        normalisation: see :func:`normalise_intensity`.
        mask: integer labels on the image grid, resampled with nearest neighbour.

    Returns:
        The prepared arrays and the model voxel -> world affine.
    """
    if image.ndim != 3:
        raise ValueError(f"image must be 3D, got shape {image.shape}")
    if mask is not None and mask.shape != image.shape:
        raise ValueError(f"mask shape {mask.shape} != image shape {image.shape}")
    img, aff = reorient_ras(np.asarray(image, dtype=np.float32), np.asarray(affine, dtype=np.float64))
    img, aff_rs = resample_isotropic(img, aff, spacing, order=1)
    img = normalise_intensity(img, normalisation)
    start = np.round(foreground_centre(img) - (size - 1) / 2.0).astype(int)
    out_img = crop_or_pad(img, start, size, fill=float(img.min()))
    out_mask = None
    if mask is not None:
        m, _ = reorient_ras(np.asarray(mask).astype(np.int16), np.asarray(affine, dtype=np.float64))
        m, _ = resample_isotropic(m, aff, spacing, order=0)
        out_mask = crop_or_pad(m, start, size, fill=0).astype(np.int64)
    shift = np.eye(4)
    shift[:3, 3] = start
    return PreparedSample(image=out_img.astype(np.float32), mask=out_mask, affine=aff_rs @ shift)
