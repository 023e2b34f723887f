"""Small synthetic scans for preprocessing tests.

Two sources:

- :func:`synthetic_head`: a purely geometric head (skull shell, brain, ventricles, two
  hippocampus blobs) on any grid; no template needed.
- :func:`scan_from_template`: the shipped template warped by a known affine onto any scan grid
  (any orientation, oblique, thick slices), optionally with a synthetic skull, so that
  registration has a known answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from volta_core.io.volume import Volume
from volta_core.preprocess.resample import resample_array
from volta_core.preprocess.template import Template

_AXES = {"R": (0, 1.0), "L": (0, -1.0), "A": (1, 1.0), "P": (1, -1.0), "S": (2, 1.0), "I": (2, -1.0)}


def rotation(degrees: tuple[float, float, float]) -> np.ndarray:
    """``(3, 3)`` rotation about x, then y, then z (degrees)."""
    ax, ay, az = np.deg2rad(degrees)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def similarity_matrix(
    degrees: tuple[float, float, float] = (0, 0, 0),
    translation_mm: tuple[float, float, float] = (0, 0, 0),
    scale: float = 1.0,
    center_mm: tuple[float, float, float] = (0, 0, 0),
) -> np.ndarray:
    """``(4, 4)`` rotation + isotropic scale about ``center_mm``, then translation."""
    m = np.eye(4)
    m[:3, :3] = scale * rotation(degrees)
    c = np.asarray(center_mm, dtype=np.float64)
    m[:3, 3] = c - m[:3, :3] @ c + np.asarray(translation_mm)
    return m


def grid_affine(
    orientation: str,
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    center_mm: tuple[float, float, float] = (0, 0, 0),
    oblique_degrees: tuple[float, float, float] = (0, 0, 0),
) -> np.ndarray:
    """Voxel -> RAS affine of a grid with axis codes ``orientation`` (e.g. ``"LIA"``) centred on ``center_mm``."""
    direction = np.zeros((3, 3))
    for col, code in enumerate(orientation):
        world, sign = _AXES[code]
        direction[world, col] = sign
    direction = rotation(oblique_degrees) @ direction
    affine = np.eye(4)
    affine[:3, :3] = direction * np.asarray(spacing)
    half = (np.asarray(shape) - 1) / 2.0
    affine[:3, 3] = np.asarray(center_mm) - affine[:3, :3] @ half
    return affine


def add_skull(template: Template, scalp: float = 0.9, bone: float = 0.05, csf: float = 0.15) -> np.ndarray:
    """The template image with a synthetic head around its brain (relative intensities).

    Layers outward from the brain: 3 mm CSF, 6 mm dark bone, 5 mm bright scalp/fat.
    """
    image = template.image.data.astype(np.float32)
    brain = template.mask.data > 0
    spacing = float(np.mean(template.image.spacing))
    ball = ndimage.generate_binary_structure(3, 1)

    def grow(mask: np.ndarray, mm: float) -> np.ndarray:
        return ndimage.binary_dilation(mask, ball, iterations=max(1, int(round(mm / spacing))))

    top = float(np.percentile(image[brain], 99))
    csf_mask = grow(brain, 3)
    bone_mask = grow(csf_mask, 6)
    scalp_mask = grow(bone_mask, 5)
    out = image.copy()
    out[scalp_mask & ~bone_mask] = scalp * top
    out[bone_mask & ~csf_mask] = bone * top
    out[csf_mask & ~brain] = csf * top
    return out


def scan_from_template(
    template: Template,
    template_to_scan: np.ndarray,
    scan_affine: np.ndarray,
    shape: tuple[int, int, int],
    *,
    skull: bool = False,
    slice_axis: int | None = None,
    slice_thickness_mm: float | None = None,
) -> Volume:
    """Warp the template onto a scan grid so that scan point ``T @ p`` shows template point ``p``.

    Args:
        template: the shipped template.
        template_to_scan: ``(4, 4)`` RAS mm -> RAS mm, the "true" transform.
        scan_affine: voxel -> RAS mm of the scan grid.
        shape: scan grid shape.
        skull: add a synthetic skull/scalp around the brain first.
        slice_axis: with ``slice_thickness_mm``, the storage axis whose voxels are thick
            slices; intensities are averaged over each slab (partial volume).
        slice_thickness_mm: the slab thickness (must be the grid spacing along ``slice_axis``).
    """
    image = add_skull(template) if skull else template.image.data.astype(np.float32)
    # scan voxel -> scan mm -> template mm -> template voxel
    scan_to_template_voxel = np.linalg.inv(template.image.affine) @ np.linalg.inv(template_to_scan) @ scan_affine
    if slice_axis is None:
        return Volume(resample_array(image, shape, scan_to_template_voxel, order=1), scan_affine)
    assert slice_thickness_mm is not None
    sub = 5  # sub-slices averaged per thick slice
    fine_shape = list(shape)
    fine_shape[slice_axis] *= sub
    fine_to_scan = np.eye(4)
    fine_to_scan[slice_axis, slice_axis] = 1.0 / sub
    fine_to_scan[slice_axis, 3] = -(sub - 1) / (2.0 * sub)
    fine = resample_array(image, tuple(fine_shape), scan_to_template_voxel @ fine_to_scan, order=1)  # type: ignore[arg-type]
    new_shape = list(fine.shape)
    new_shape[slice_axis : slice_axis + 1] = [shape[slice_axis], sub]
    data = fine.reshape(new_shape).mean(axis=slice_axis + 1)
    return Volume(data.astype(np.float32), scan_affine)


@dataclass(frozen=True)
class SyntheticHead:
    """A geometric head: image plus label map on the same grid.

    Attributes:
        volume: T1-like image (brain bright, CSF dark, skull dark, scalp bright).
        labels: 0 background, 1 brain, 2 ventricles, 17 left / 53 right hippocampus.
    """

    volume: Volume
    labels: np.ndarray


def synthetic_head(
    shape: tuple[int, int, int] = (64, 72, 64),
    spacing: float = 3.0,
    orientation: str = "RAS",
    *,
    skull: bool = True,
    noise: float = 0.02,
    seed: int = 0,
) -> SyntheticHead:
    """Ellipsoid head centred at the origin: scalp, skull, CSF, brain, ventricles, hippocampi.

    Semi-axes (mm): brain 70 x 85 x 65, hippocampi 20 x 10 x 10 centred at (+-28, -22, -15).
    """
    affine = grid_affine(orientation, shape, (spacing,) * 3)
    idx = np.indices(shape).reshape(3, -1).T
    xyz = (idx @ affine[:3, :3].T + affine[:3, 3]).T.reshape(3, *shape)
    x, y, z = xyz

    def ellipsoid(c: tuple[float, float, float], r: tuple[float, float, float]) -> np.ndarray:
        return ((x - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((z - c[2]) / r[2]) ** 2 <= 1.0

    brain_r = (70.0, 85.0, 65.0)
    labels = np.zeros(shape, dtype=np.uint8)
    image = np.zeros(shape, dtype=np.float32)
    if skull:
        image[ellipsoid((0, 0, 0), tuple(r + 17 for r in brain_r))] = 0.9  # scalp
        image[ellipsoid((0, 0, 0), tuple(r + 12 for r in brain_r))] = 0.05  # bone
        image[ellipsoid((0, 0, 0), tuple(r + 3 for r in brain_r))] = 0.15  # CSF
    brain = ellipsoid((0, 0, 0), brain_r)
    image[brain] = 0.7
    labels[brain] = 1
    ventricles = ellipsoid((-10, 0, 10), (6, 25, 10)) | ellipsoid((10, 0, 10), (6, 25, 10))
    image[ventricles] = 0.15
    labels[ventricles] = 2
    for label, cx in ((17, -28.0), (53, 28.0)):
        blob = ellipsoid((cx, -22, -15), (10, 20, 10))
        image[blob] = 0.55
        labels[blob] = label
    rng = np.random.default_rng(seed)
    image = image + noise * rng.standard_normal(shape).astype(np.float32)
    return SyntheticHead(Volume(np.clip(image, 0, None), affine), labels)


def fsaverage_whole_head_labels() -> tuple[np.ndarray, np.ndarray]:
    """fsaverage's aseg (the sample scan's own space) with three extra-cerebral shells (CSF, skull,
    scalp), as whole-head label maps have: ``(labels, affine)``."""
    import nibabel as nib

    from volta_core.data.synth.sources import builtin_specs

    aseg = next(s for s in builtin_specs() if s.subset == "fsaverage").label_path
    image = nib.load(str(aseg))
    labels = np.asarray(image.dataobj).astype(np.int32)
    brain = labels > 0
    csf = ndimage.binary_dilation(brain, iterations=3)
    skull = ndimage.binary_dilation(csf, iterations=5)
    scalp = ndimage.binary_dilation(skull, iterations=6)
    labels[csf & ~brain], labels[skull & ~csf], labels[scalp & ~skull] = 901, 902, 903
    return labels, image.affine.astype(np.float64)


def per_structure_contrast(labels: np.ndarray, affine: np.ndarray, seed: int) -> Volume:
    """Each label its own random brightness (dark background), noise, slight blur: a head with no
    T1- or T2-like contrast (seed 5 on :func:`fsaverage_whole_head_labels` is one that mutual
    information fits 3 mm off and the correlation-ratio refit takes over)."""
    rng = np.random.default_rng(seed)
    ids = np.unique(labels)
    brightness = rng.uniform(0.0, 1.0, ids.size)
    brightness[ids == 0] = 0.0
    data = brightness[np.searchsorted(ids, labels)] + rng.normal(0.0, 0.02, labels.shape)
    return Volume(ndimage.gaussian_filter(data.astype(np.float32), 0.6), affine)
