"""The one in-memory image type every part of VolTA-3D Studio shares."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Volume:
    """A 3D scalar image with its geometry.

    Args:
        data: voxel array in storage order, shape ``(I, J, K)``. Never transposed to match
            anatomy: the affine carries the orientation.
        affine: ``(4, 4)`` matrix mapping voxel indices ``(i, j, k, 1)`` to RAS+ world
            millimetres (x increases to the subject's Right, y Anterior, z Superior).
        metadata: free-form, JSON-serialisable facts about the source (format, series
            description, DICOM identifiers, warnings ...). Patient identifiers are kept under
            ``metadata["patient"]`` so that exports can leave them out.
        source: the file or folder this volume was read from, if any.
    """

    data: np.ndarray
    affine: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None

    def __post_init__(self) -> None:
        if self.data.ndim != 3:
            raise ValueError(f"Volume data must be 3D, got shape {self.data.shape}")
        affine = np.asarray(self.affine, dtype=np.float64)
        if affine.shape != (4, 4):
            raise ValueError(f"affine must be 4x4, got {affine.shape}")
        object.__setattr__(self, "affine", affine)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.data.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along each storage axis (column norms of the affine)."""
        s = np.linalg.norm(self.affine[:3, :3], axis=0)
        return (float(s[0]), float(s[1]), float(s[2]))

    @property
    def orientation(self) -> tuple[str, str, str]:
        """Anatomical direction each storage axis points to, e.g. ``('L', 'I', 'A')`` for LIA."""
        return axcodes_from_affine(self.affine)

    @property
    def is_oblique(self) -> bool:
        """True when a storage axis is not aligned with a world axis (beyond 0.1 degree)."""
        direction = self.affine[:3, :3] / np.asarray(self.spacing)
        return bool(np.abs(np.abs(direction).max(axis=0) - 1.0).max() > 1.5e-6)

    def voxel_to_world(self, ijk: np.ndarray) -> np.ndarray:
        """Map voxel indices ``(..., 3)`` to RAS+ mm ``(..., 3)``."""
        ijk = np.asarray(ijk, dtype=np.float64)
        return ijk @ self.affine[:3, :3].T + self.affine[:3, 3]

    def world_to_voxel(self, xyz: np.ndarray) -> np.ndarray:
        """Map RAS+ mm ``(..., 3)`` to (fractional) voxel indices ``(..., 3)``."""
        xyz = np.asarray(xyz, dtype=np.float64)
        inv = np.linalg.inv(self.affine)
        return xyz @ inv[:3, :3].T + inv[:3, 3]

    def with_data(self, data: np.ndarray, **metadata: Any) -> Volume:
        """A volume on the same grid with other voxel values (e.g. a mask for this scan)."""
        if data.shape != self.data.shape:
            raise ValueError(f"data shape {data.shape} does not match the grid {self.data.shape}")
        return replace(self, data=data, metadata={**self.metadata, **metadata})

    def same_grid(self, other: Volume, atol: float = 1e-4) -> bool:
        return self.shape == other.shape and bool(np.allclose(self.affine, other.affine, atol=atol))

    def without_patient(self) -> Volume:
        """The same volume without ``metadata["patient"]`` (what exports write unless asked)."""
        return replace(self, metadata={k: v for k, v in self.metadata.items() if k != "patient"})


_AXIS_LABELS = (("L", "R"), ("P", "A"), ("I", "S"))


def axcodes_from_affine(affine: np.ndarray) -> tuple[str, str, str]:
    """Orientation codes of each storage axis (nearest world axis, with its sign)."""
    direction = np.asarray(affine, dtype=np.float64)[:3, :3]
    direction = direction / np.linalg.norm(direction, axis=0, keepdims=True)
    codes: list[str] = []
    used: set[int] = set()
    # assign the most clearly aligned axes first so ties in oblique scans stay consistent
    order = np.argsort(-np.abs(direction).max(axis=0))
    result: dict[int, str] = {}
    for col in order:
        ranked = np.argsort(-np.abs(direction[:, col]))
        world = next(int(w) for w in ranked if int(w) not in used)
        used.add(world)
        result[int(col)] = _AXIS_LABELS[world][1 if direction[world, col] > 0 else 0]
    codes = [result[c] for c in range(3)]
    return (codes[0], codes[1], codes[2])
