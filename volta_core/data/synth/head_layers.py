"""Extra-cerebral head labels, so models trained on synthetic data see skull and scalp.

Two ways, one per kind of source:

* Brain-only maps (DK aparc+aseg): :func:`brain_distance_mm` precomputes, once, the distance
  from the brain surface; :func:`shell_labels` then cuts it per sample into CSF rim, skull,
  soft tissue and fat shells of random, spatially varying thickness (cheap, in torch, on the
  output grid).
* Maps with a real head image (fsaverage ``orig.mgz``): :func:`head_labels_from_intensity`
  classifies head voxels outside the brain into intensity classes (Otsu head mask, 1-D
  k-means), so the real head shape is used.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from volta_core.data.synth import fs_labels as fsl

SHELL_ORDER: tuple[int, ...] = (fsl.CSF_RIM, fsl.SKULL, fsl.SOFT_TISSUE, fsl.FAT)
"""Head labels from the brain outwards."""

DEFAULT_THICKNESS_MM: dict[int, tuple[float, float]] = {
    fsl.CSF_RIM: (1.0, 4.0), fsl.SKULL: (3.0, 8.0), fsl.SOFT_TISSUE: (2.0, 6.0), fsl.FAT: (1.0, 6.0),
}


def brain_distance_mm(brain: np.ndarray, spacing_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Distance (mm) of every voxel from the hole-filled brain mask.

    Args:
        brain: ``(X, Y, Z)`` bool mask of labelled brain voxels.
        spacing_mm: isotropic voxel size.

    Returns:
        ``(distance, filled)``: float32 ``(X, Y, Z)`` distance (0 inside the brain) and the
        hole-filled brain mask (interior unlabelled voxels are brain too).
    """
    filled = ndimage.binary_fill_holes(brain)
    distance = ndimage.distance_transform_edt(~filled) * float(spacing_mm)
    return distance.astype(np.float32), filled


def shell_labels(distance_mm: torch.Tensor, thickness_mm: torch.Tensor,
                 modulation: torch.Tensor | None = None) -> torch.Tensor:
    """Cut a distance-from-brain map into head shells.

    Args:
        distance_mm: ``(D, H, W)`` float distance from the brain surface (0 inside).
        thickness_mm: ``(4,)`` thickness of CSF rim, skull, soft tissue, fat.
        modulation: optional ``(D, H, W)`` positive factor scaling every thickness locally
            (a smooth random field gives irregular, realistic shells).

    Returns:
        ``(D, H, W)`` int64 FreeSurfer ids: a head label in each shell, 0 elsewhere (inside the
        brain and beyond the outer shell).
    """
    bounds = torch.cumsum(thickness_mm.to(distance_mm), 0)  # (4,)
    bounds = torch.cat([bounds.new_tensor([1e-6]), bounds])  # (5,): brain | 4 shells | beyond
    scaled = distance_mm if modulation is None else distance_mm / modulation.clamp_min(1e-3)
    table = torch.tensor((0,) + SHELL_ORDER + (0,), dtype=torch.int64, device=distance_mm.device)
    return table[torch.bucketize(scaled, bounds)]  # (D, H, W); a gather, no boolean indexing


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of a 1-D sample (between-class variance maximum)."""
    hist, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist).astype(np.float64)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres) / np.maximum(w0, 1)
    m1 = (np.sum(hist * centres) - np.cumsum(hist * centres)) / np.maximum(w1, 1)
    between = w0 * w1 * (m0 - m1) ** 2
    return float(centres[int(np.argmax(between))])


def kmeans_1d(values: np.ndarray, k: int, iterations: int = 30) -> np.ndarray:
    """Sorted cluster centres of a 1-D k-means (initialised at quantiles)."""
    centres = np.quantile(values, (np.arange(k) + 0.5) / k)
    for _ in range(iterations):
        assign = np.argmin(np.abs(values[:, None] - centres[None, :]), axis=1)
        centres = np.array([values[assign == j].mean() if np.any(assign == j) else centres[j]
                            for j in range(k)])
    return np.sort(centres)


def head_labels_from_intensity(image: np.ndarray, brain: np.ndarray, spacing_mm: float,
                               rim_mm: float = 3.0) -> np.ndarray:
    """Head labels outside the brain from a T1 with head (e.g. fsaverage ``orig.mgz``).

    Args:
        image: ``(X, Y, Z)`` float T1 with head.
        brain: ``(X, Y, Z)`` bool mask of labelled brain voxels.
        spacing_mm: isotropic voxel size.
        rim_mm: dark voxels closer than this to the brain are CSF rim, farther ones skull.

    Returns:
        ``(X, Y, Z)`` int32 FreeSurfer ids: head labels in the head outside the brain, 0 elsewhere.
    """
    foreground = image > 0.5 * otsu_threshold(image[image > 0])
    structure = ndimage.generate_binary_structure(3, 1)
    head = ndimage.binary_closing(foreground, structure, iterations=2)
    head = ndimage.binary_fill_holes(head | brain)
    filled_brain = ndimage.binary_fill_holes(brain)
    outside = head & ~filled_brain
    values = image[outside].astype(np.float64)
    centres = kmeans_1d(values, 3)
    classes = np.argmin(np.abs(image[..., None] - centres[None, None, None, :]), axis=-1)
    near_brain = ndimage.distance_transform_edt(~filled_brain) * spacing_mm <= rim_mm
    out = np.zeros(image.shape, dtype=np.int32)
    dark = outside & (classes == 0)
    out[dark & near_brain] = fsl.CSF_RIM
    out[dark & ~near_brain] = fsl.SKULL
    out[outside & (classes == 1)] = fsl.SOFT_TISSUE
    out[outside & (classes == 2)] = fsl.FAT
    return out
