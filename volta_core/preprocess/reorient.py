"""Exact reorientation to RAS storage order: axis permutation and flips, no interpolation.

For an oblique scan the storage axes are matched to their nearest world axes; the residual
rotation stays in the affine (the voxels are not resampled), exactly as ``nibabel.as_closest_canonical``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from volta_core.io.volume import Volume


@dataclass(frozen=True)
class Reorientation:
    """An exact axis permutation + flip taking a grid to RAS storage order.

    Attributes:
        permutation: ``permutation[r]`` is the input axis that becomes output axis ``r``.
        flips: ``flips[r]`` is True when output axis ``r`` runs against its input axis.
        input_shape: shape of the input grid.
        input_affine: voxel -> RAS mm of the input grid.
        output_affine: voxel -> RAS mm of the reoriented grid (same world positions).
    """

    permutation: tuple[int, int, int]
    flips: tuple[bool, bool, bool]
    input_shape: tuple[int, int, int]
    input_affine: np.ndarray
    output_affine: np.ndarray

    @property
    def output_shape(self) -> tuple[int, int, int]:
        return tuple(self.input_shape[p] for p in self.permutation)  # type: ignore[return-value]

    @property
    def is_identity(self) -> bool:
        return self.permutation == (0, 1, 2) and not any(self.flips)

    @property
    def input_to_output(self) -> np.ndarray:
        """``(4, 4)`` map from input voxel indices to output (RAS-ordered) voxel indices."""
        return np.linalg.inv(self.output_affine) @ self.input_affine

    def apply(self, array: np.ndarray) -> np.ndarray:
        """Reorder an array on the input grid (trailing 3 axes) into RAS storage order."""
        lead = array.ndim - 3
        out = np.transpose(array, (*range(lead), *(lead + p for p in self.permutation)))
        flip_axes = tuple(lead + r for r, f in enumerate(self.flips) if f)
        return np.flip(out, flip_axes) if flip_axes else out

    def invert(self, array: np.ndarray) -> np.ndarray:
        """Exact inverse of :meth:`apply`: back to the input grid's storage order."""
        lead = array.ndim - 3
        flip_axes = tuple(lead + r for r, f in enumerate(self.flips) if f)
        out = np.flip(array, flip_axes) if flip_axes else array
        inverse = np.argsort(self.permutation)
        return np.transpose(out, (*range(lead), *(lead + int(p) for p in inverse)))


def ras_reorientation(shape: tuple[int, int, int], affine: np.ndarray) -> Reorientation:
    """Compute the permutation/flip that puts a grid in RAS storage order.

    Args:
        shape: grid shape ``(I, J, K)``.
        affine: ``(4, 4)`` voxel -> RAS mm.

    Returns:
        The :class:`Reorientation` (identity for grids already in RAS order).
    """
    affine = np.asarray(affine, dtype=np.float64)
    direction = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0, keepdims=True)
    # assign the storage axis most aligned with each world axis, clearest first
    world_for_axis = [-1, -1, -1]
    used: set[int] = set()
    for col in np.argsort(-np.abs(direction).max(axis=0)):
        world = next(int(w) for w in np.argsort(-np.abs(direction[:, col])) if int(w) not in used)
        used.add(world)
        world_for_axis[int(col)] = world
    permutation = tuple(world_for_axis.index(r) for r in range(3))
    flips = tuple(bool(direction[r, permutation[r]] < 0) for r in range(3))
    # output voxel o -> input voxel i: i[perm[r]] = o[r] or (n-1-o[r]) when flipped
    out_to_in = np.zeros((4, 4))
    out_to_in[3, 3] = 1.0
    for r, (axis, flip) in enumerate(zip(permutation, flips)):
        out_to_in[axis, r] = -1.0 if flip else 1.0
        out_to_in[axis, 3] = shape[axis] - 1 if flip else 0.0
    return Reorientation(
        permutation=permutation,  # type: ignore[arg-type]
        flips=flips,  # type: ignore[arg-type]
        input_shape=tuple(int(s) for s in shape),  # type: ignore[arg-type]
        input_affine=affine,
        output_affine=affine @ out_to_in,
    )


@dataclass(frozen=True)
class Reoriented:
    """Output of :func:`reorient_to_ras`: the RAS-ordered volume and how to undo it."""

    volume: Volume
    record: Reorientation


def reorient_to_ras(volume: Volume) -> Reoriented:
    """Exactly reorder a volume's voxels into RAS storage order (no interpolation).

    Args:
        volume: any volume.

    Returns:
        :class:`Reoriented`; ``record.invert(array)`` puts any array on the RAS grid back
        into the scan's own storage order.
    """
    record = ras_reorientation(volume.shape, volume.affine)
    data = np.ascontiguousarray(record.apply(volume.data))
    return Reoriented(Volume(data, record.output_affine, dict(volume.metadata), volume.source), record)
