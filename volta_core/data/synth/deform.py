"""Spatial warps: random affine + smooth elastic field + optional L/R mirror, in ONE resampling.

For an output voxel ``v`` (output grid, RAS) with world position ``p = A_out v`` the source is
sampled at ``q = F(M (p - c_out) + c_src + t + d(v))`` where ``M`` is rotation x shear x
1/scale, ``t`` a translation, ``d`` a smooth displacement (mm) and ``F`` an optional mirror
``x -> 2 m - x`` about the brain midline ``m`` of the source (world space). Labels are then
L/R-swapped by the caller. One normalised ``grid_sample`` grid serves labels (nearest), the
real image (linear) and the head-distance map (linear), so image and labels stay aligned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from volta_core.data.synth.interp import upsample


@dataclass
class AffineParams:
    """Random affine parameters (angles in degrees, scale = apparent size factor)."""

    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    shear: tuple[float, float, float] = (0.0, 0.0, 0.0)
    translation_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def matrix(self) -> np.ndarray:
        """``(3, 3)`` output-world -> source-world linear part ``R @ Sh @ diag(1/scale)``."""
        ax, ay, az = (math.radians(a) for a in self.rotation_deg)
        rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
        ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
        rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
        sxy, sxz, syz = self.shear
        sh = np.array([[1, sxy, sxz], [0, 1, syz], [0, 0, 1]])
        return rz @ ry @ rx @ sh @ np.diag([1.0 / s for s in self.scale])


def output_affine(shape: tuple[int, int, int], spacing_mm: float, centre: np.ndarray) -> np.ndarray:
    """RAS voxel -> world affine of an output grid whose centre voxel sits at ``centre``."""
    affine = np.diag([spacing_mm] * 3 + [1.0])
    affine[:3, 3] = np.asarray(centre, dtype=np.float64) - spacing_mm * (np.asarray(shape) - 1) / 2
    return affine


def random_displacement(max_std_mm: float, control_points: int, generator: torch.Generator,
                        device: torch.device | str = "cpu") -> torch.Tensor:
    """Coarse random displacement field (Gaussian noise on a control grid).

    Trilinear upsampling (done together with the affine in :func:`upsample_grid`) makes it a
    smooth elastic deformation.

    Args:
        max_std_mm: the field's std is drawn uniformly in ``[0, max_std_mm]``.
        control_points: size of the control grid per axis (>= 2).
        generator: torch RNG (on ``device``).
        device: where to build the field.

    Returns:
        ``(3, c, c, c)`` float32 displacement in mm (world x, y, z components) at control points
        spread evenly over the output grid (first and last voxel included).
    """
    std = float(torch.rand((), generator=generator, device=device)) * max_std_mm
    return torch.randn((3,) + (control_points,) * 3, generator=generator, device=device) * std


def coarse_sampling_grid(out_affine: np.ndarray, out_shape: tuple[int, int, int],
                         src_affine: np.ndarray, src_shape: tuple[int, int, int],
                         params: AffineParams, centre_out: np.ndarray, centre_src: np.ndarray,
                         flip_midline_x: float | None = None,
                         displacement: torch.Tensor | None = None,
                         device: torch.device | str = "cpu") -> torch.Tensor:
    """Normalised source coordinates at the control points of the output grid.

    The affine part is linear in the voxel index, so trilinear upsampling of this coarse grid
    (:func:`upsample_grid`) reproduces it exactly; the elastic part becomes smooth.

    Args:
        out_affine, out_shape: output grid (RAS voxel -> world).
        src_affine, src_shape: source volume ``(X, Y, Z)`` (voxel -> world).
        params: the random affine.
        centre_out, centre_src: world points that correspond (before translation).
        flip_midline_x: mirror x about this world x in the source (``None``: no flip).
        displacement: optional ``(3, c, c, c)`` mm field (source world space) at the control points.
        device: where to build the grid.

    Returns:
        ``(3, c, c, c)`` float32 normalised source coordinates (x, y, z), ``c = 2`` without field.
    """
    lin = np.eye(4)
    lin[:3, :3] = params.matrix()
    lin[:3, 3] = np.asarray(centre_src) + np.asarray(params.translation_mm) - lin[:3, :3] @ np.asarray(centre_out)
    mirror = np.eye(4)
    if flip_midline_x is not None:
        mirror[0, 0], mirror[0, 3] = -1.0, 2.0 * flip_midline_x
    norm = np.diag([2.0 / max(n - 1, 1) for n in src_shape] + [1.0])
    norm[:3, 3] = -1.0
    to_src = norm @ np.linalg.inv(src_affine) @ mirror  # source world -> normalised source
    total = torch.as_tensor(to_src @ lin @ out_affine, dtype=torch.float32, device=device)
    c = 2 if displacement is None else displacement.shape[-1]
    axes = [torch.linspace(0, n - 1, c, device=device) for n in out_shape]
    i, j, k = torch.meshgrid(*axes, indexing="ij")
    vox = torch.stack([i, j, k, torch.ones_like(i)])  # (4, c, c, c)
    grid = torch.einsum("rq,qdhw->rdhw", total[:3], vox)  # (3, c, c, c)
    if displacement is not None:
        lin_part = torch.as_tensor(to_src[:3, :3], dtype=torch.float32, device=device)
        grid = grid + torch.einsum("rq,qdhw->rdhw", lin_part, displacement)
    return grid


def upsample_grid(coarse: torch.Tensor, size: tuple[int, int, int]) -> torch.Tensor:
    """Trilinear upsampling of a coarse grid to a ``grid_sample`` grid.

    Args:
        coarse: ``(3, c, c, c)`` from :func:`coarse_sampling_grid`.
        size: ``(D, H, W)`` wanted (the output grid or a reduced copy of it).

    Returns:
        ``(1, D, H, W, 3)`` float32 grid, last axis in ``grid_sample`` order (z, y, x).
    """
    return upsample(coarse.flip(0), size, channels_last=True)[None]


def sampling_grid(out_affine: np.ndarray, out_shape: tuple[int, int, int], src_affine: np.ndarray,
                  src_shape: tuple[int, int, int], params: AffineParams, centre_out: np.ndarray,
                  centre_src: np.ndarray, flip_midline_x: float | None = None,
                  displacement: torch.Tensor | None = None,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """Full-resolution ``grid_sample`` grid: :func:`coarse_sampling_grid` + :func:`upsample_grid`.

    Returns:
        ``(1, D, H, W, 3)`` float32 grid for ``grid_sample(..., align_corners=True)`` on a
        ``(1, C, X, Y, Z)`` source.
    """
    coarse = coarse_sampling_grid(out_affine, out_shape, src_affine, src_shape, params, centre_out,
                                  centre_src, flip_midline_x, displacement, device)
    return upsample_grid(coarse, out_shape)


def warp(volume: torch.Tensor, grid: torch.Tensor, mode: str = "bilinear",
         padding_mode: str = "zeros") -> torch.Tensor:
    """Resample a ``(1, C, X, Y, Z)`` source on a grid from :func:`sampling_grid`.

    Args:
        volume: source tensor.
        grid: ``(1, D, H, W, 3)``.
        mode: ``"nearest"`` for labels, ``"bilinear"`` (= trilinear) for images/distances.
        padding_mode: ``"zeros"`` or ``"border"``.

    Returns:
        ``(1, C, D, H, W)`` tensor.
    """
    return F.grid_sample(volume, grid, mode=mode, padding_mode=padding_mode, align_corners=True)
