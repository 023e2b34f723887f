"""Synthetic head scans for the app tests, defined in world space so any grid samples the same head."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np


def head_intensity(world: np.ndarray, marker: np.ndarray | None = None) -> np.ndarray:
    """T1-like intensity of a crude head at world points ``(..., 3)`` (RAS mm, head centred at 0).

    Scalp (bright ring), skull (dark), grey matter, brighter white matter, dark ventricles; an
    optional bright 5 mm cube ``marker`` at a known position.
    """
    x, y, z = world[..., 0], world[..., 1], world[..., 2]
    r = np.sqrt((x / 70.0) ** 2 + (y / 90.0) ** 2 + (z / 75.0) ** 2)
    out = np.full(r.shape, 4.0, dtype=np.float32)  # air, a little noise floor
    out[r < 1.0] = 110.0  # scalp
    out[r < 0.94] = 20.0  # skull
    out[r < 0.88] = 70.0  # grey matter
    out[r < 0.72] = 100.0  # white matter
    vent = np.sqrt(((np.abs(x) - 8) / 6.0) ** 2 + (y / 22.0) ** 2 + ((z - 8) / 9.0) ** 2) < 1.0
    out[vent] = 25.0
    if marker is not None:
        inside = np.all(np.abs(world - marker) <= 2.5, axis=-1)
        out[inside] = 400.0
    return out


def sample_on_grid(affine: np.ndarray, shape: tuple[int, int, int],
                   marker: np.ndarray | None = None) -> np.ndarray:
    """The head sampled at the voxel centres of a grid, shape ``shape`` float32."""
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1).astype(np.float64)
    world = ijk @ affine[:3, :3].T + affine[:3, 3]
    return head_intensity(world, marker)


def grid_affine(codes: str, spacing: float, shape: tuple[int, int, int], rotation_deg: float = 0.0) -> np.ndarray:
    """An affine whose storage axes point along ``codes`` (e.g. ``"LIA"``), centred on world 0,
    optionally rotated about the superior axis by ``rotation_deg`` (an oblique scan)."""
    axis_of = {"R": (0, 1), "L": (0, -1), "A": (1, 1), "P": (1, -1), "S": (2, 1), "I": (2, -1)}
    linear = np.zeros((3, 3))
    for col, code in enumerate(codes):
        axis, sign = axis_of[code]
        linear[axis, col] = sign * spacing
    t = np.deg2rad(rotation_deg)
    rot = np.array([[np.cos(t), -np.sin(t), 0.0], [np.sin(t), np.cos(t), 0.0], [0.0, 0.0, 1.0]])
    linear = rot @ linear
    affine = np.eye(4)
    affine[:3, :3] = linear
    affine[:3, 3] = -linear @ ((np.asarray(shape) - 1) / 2.0)
    return affine


def write_head(path: Path, codes: str = "RAS", shape: tuple[int, int, int] = (48, 56, 48),
               spacing: float = 4.0, rotation_deg: float = 0.0, marker: np.ndarray | None = None,
               dtype: type = np.float32) -> Path:
    """Write a synthetic head scan as NIfTI (or MGZ if ``path`` ends in .mgz) and return ``path``."""
    affine = grid_affine(codes, spacing, shape, rotation_deg)
    data = sample_on_grid(affine, shape, marker).astype(dtype)
    if str(path).endswith(".mgz"):
        nib.save(nib.MGHImage(data, affine), str(path))
    else:
        nib.save(nib.Nifti1Image(data, affine), str(path))
    return path
