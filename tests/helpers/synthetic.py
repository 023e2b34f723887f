"""Synthetic scans for tests: grids in any orientation, and a head phantom defined in world mm.

The phantom is a function of RAS+ world coordinates, so the same head evaluated on an LAS, LIA,
RAS or oblique grid is "the same scan acquired differently": its bright marker sits at one known
world position whatever the grid.

Example:
    >>> vol = make_synthetic_head((24, 28, 20), grid_affine((24, 28, 20), axcodes="LIA"))
    >>> vol.orientation
    ('L', 'I', 'A')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from volta_core.io import Volume

_WORLD_AXES = {"R": (0, 1.0), "L": (0, -1.0), "A": (1, 1.0), "P": (1, -1.0), "S": (2, 1.0), "I": (2, -1.0)}


def rotation_matrix(degrees: tuple[float, float, float]) -> np.ndarray:
    """Rotation about world x, then y, then z (degrees) as a ``(3, 3)`` matrix."""
    ax, ay, az = np.deg2rad(degrees)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def grid_affine(shape: tuple[int, int, int], *, axcodes: str = "RAS",
                spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
                rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0),
                center: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """Voxel -> RAS+ affine of a grid whose storage axes point along ``axcodes`` (then rotated),
    with the grid's centre voxel at world ``center``.

    Args:
        shape: grid shape ``(I, J, K)``.
        axcodes: direction of each storage axis, e.g. ``"LIA"`` (FreeSurfer) or ``"LAS"``.
        spacing: voxel size along each storage axis in mm.
        rotation_deg: extra rotation (makes the grid oblique when not a multiple of 90).
        center: world position of the grid centre.
    """
    direction = np.zeros((3, 3))
    for column, code in enumerate(axcodes.upper()):
        row, sign = _WORLD_AXES[code]
        direction[row, column] = sign
    if abs(abs(np.linalg.det(direction)) - 1) > 1e-9:
        raise ValueError(f"axcodes {axcodes!r} must name three different world axes")
    affine = np.eye(4)
    affine[:3, :3] = rotation_matrix(rotation_deg) @ direction @ np.diag(spacing)
    middle = (np.asarray(shape, dtype=np.float64) - 1) / 2
    affine[:3, 3] = np.asarray(center, dtype=np.float64) - affine[:3, :3] @ middle
    return affine


@dataclass(frozen=True)
class HeadPhantom:
    """An ellipsoidal head (scalp/skull shell, brain, one ventricle) plus a bright marker ball.

    Everything is in RAS+ mm; intensities: background 0, shell 60, brain 100 (+ a gentle
    left-right ramp, so the image is not mirror-symmetric), two hippocampus-like ellipsoids 80,
    ventricle 30, marker 250. :meth:`labels` gives the matching FreeSurfer-style label map.
    """

    center: tuple[float, float, float] = (0.0, 0.0, 0.0)
    radii: tuple[float, float, float] = (9.0, 11.0, 8.0)
    shell_mm: float = 1.5
    marker: tuple[float, float, float] = (3.0, 4.0, 2.5)
    marker_radius: float = 1.6

    def evaluate(self, world: np.ndarray) -> np.ndarray:
        """Intensities at world points ``(..., 3)`` -> ``(...)`` float32."""
        offset = world - np.asarray(self.center)
        radii = np.asarray(self.radii)
        outer = np.sum((offset / radii) ** 2, axis=-1)
        inner = np.sum((offset / np.maximum(radii - self.shell_mm, 0.5)) ** 2, axis=-1)
        values = np.zeros(world.shape[:-1], dtype=np.float32)
        values[outer <= 1] = 60
        brain = inner <= 1
        values[brain] = 100 + 10 * offset[..., 0][brain] / radii[0]
        for hippocampus in self._hippocampi(offset).values():
            values[hippocampus & brain] = 80
        values[self._ventricle(offset)] = 30
        values[self._marker(world)] = 250
        return values

    def labels(self, world: np.ndarray) -> np.ndarray:
        """FreeSurfer-style labels at world points ``(..., 3)`` -> ``(...)`` uint8: 0 background,
        2 brain, 4 ventricle, 17 left / 53 right hippocampus (the marker and shell count as 0)."""
        offset = world - np.asarray(self.center)
        radii = np.asarray(self.radii)
        brain = np.sum((offset / np.maximum(radii - self.shell_mm, 0.5)) ** 2, axis=-1) <= 1
        labels = np.zeros(world.shape[:-1], dtype=np.uint8)
        labels[brain] = 2
        for value, hippocampus in self._hippocampi(offset).items():
            labels[hippocampus & brain] = value
        labels[self._ventricle(offset)] = 4
        labels[self._marker(world)] = 0
        return labels

    def _hippocampi(self, offset: np.ndarray) -> dict[int, np.ndarray]:
        radii = np.asarray(self.radii)
        shape = radii * np.array([0.12, 0.3, 0.12])  # elongated front-to-back, like the real ones
        left = np.sum(((offset - radii * np.array([-0.45, -0.1, -0.3])) / shape) ** 2, axis=-1) <= 1
        right = np.sum(((offset - radii * np.array([0.45, -0.1, -0.3])) / shape) ** 2, axis=-1) <= 1
        return {17: left, 53: right}

    def _ventricle(self, offset: np.ndarray) -> np.ndarray:
        radii = np.asarray(self.radii)
        return np.sum(((offset - np.array([-1.5, -1.0, 0.5])) / (radii * 0.25)) ** 2, axis=-1) <= 1

    def _marker(self, world: np.ndarray) -> np.ndarray:
        return np.linalg.norm(world - np.asarray(self.marker), axis=-1) <= self.marker_radius


def phantom_for_grid(shape: tuple[int, int, int], affine: np.ndarray) -> HeadPhantom:
    """A phantom sized to fit inside the grid (its world bounding box), marker off-centre."""
    corners = np.array([[i, j, k] for i in (0, shape[0] - 1) for j in (0, shape[1] - 1) for k in (0, shape[2] - 1)])
    world = corners @ affine[:3, :3].T + affine[:3, 3]
    low, high = world.min(axis=0), world.max(axis=0)
    center = (low + high) / 2
    half = (high - low) / 2
    radii = 0.8 * half
    marker = center + np.array([0.35, 0.4, 0.3]) * radii
    return HeadPhantom(center=tuple(center), radii=tuple(radii), shell_mm=float(0.15 * radii.min()),
                       marker=tuple(marker), marker_radius=float(max(1.6, 0.12 * radii.min())))


def make_synthetic_head(shape: tuple[int, int, int] = (24, 28, 20), affine: np.ndarray | None = None, *,
                        phantom: HeadPhantom | None = None, dtype: np.dtype | type = np.float32,
                        noise: float = 0.0, seed: int = 0) -> Volume:
    """A synthetic head scan on any grid.

    Args:
        shape: grid shape ``(I, J, K)``.
        affine: voxel -> RAS+ affine; default: 1 mm RAS grid centred on the world origin.
        phantom: the head to draw; default: one fitted to this grid (pass the same phantom to
            several grids to get copies of one scan in different orientations).
        dtype: voxel dtype (integers are rounded).
        noise: standard deviation of added Gaussian noise.
        seed: noise seed.

    Returns:
        A :class:`Volume` with ``metadata['phantom']`` holding the marker's world position.
    """
    affine = grid_affine(shape) if affine is None else np.asarray(affine, dtype=np.float64)
    phantom = phantom_for_grid(shape, affine) if phantom is None else phantom
    data = phantom.evaluate(_voxel_centres_world(shape, affine))
    if noise:
        data = data + np.random.default_rng(seed).normal(0, noise, data.shape).astype(np.float32)
    if np.dtype(dtype).kind in "iu":
        data = np.rint(np.clip(data, 0, None))
    data = data.astype(dtype)
    return Volume(data=data, affine=affine, metadata={"phantom": {"marker": list(phantom.marker)}})


def make_synthetic_labels(shape: tuple[int, int, int] = (24, 28, 20), affine: np.ndarray | None = None, *,
                          phantom: HeadPhantom | None = None) -> Volume:
    """The label map (uint8) matching :func:`make_synthetic_head` with the same arguments."""
    affine = grid_affine(shape) if affine is None else np.asarray(affine, dtype=np.float64)
    phantom = phantom_for_grid(shape, affine) if phantom is None else phantom
    labels = phantom.labels(_voxel_centres_world(shape, affine))
    return Volume(data=labels, affine=affine, metadata={"labels": {2: "brain", 4: "ventricle",
                                                                     17: "Left-Hippocampus", 53: "Right-Hippocampus"}})


def _voxel_centres_world(shape: tuple[int, int, int], affine: np.ndarray) -> np.ndarray:
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1).astype(np.float64)
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def random_volume(shape: tuple[int, int, int] = (24, 28, 20), affine: np.ndarray | None = None, *,
                  dtype: np.dtype | type = np.int16, seed: int = 0) -> Volume:
    """A volume of random voxels: any transposition or flip in a round trip changes it."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        data = rng.normal(100, 30, shape).astype(dtype)
    else:
        info = np.iinfo(dtype)
        data = rng.integers(max(info.min, -1000), min(info.max, 3000), shape, endpoint=True).astype(dtype)
    return Volume(data=data, affine=grid_affine(shape) if affine is None else affine)


def marker_world_position(volume: Volume, threshold: float = 200.0) -> np.ndarray:
    """Intensity-weighted centroid (RAS+ mm) of voxels above ``threshold``: where the marker is."""
    data = np.asarray(volume.data, dtype=np.float64)
    ijk = np.argwhere(data > threshold)
    if ijk.size == 0:
        raise AssertionError("no marker voxels above the threshold")
    weights = data[tuple(ijk.T)]
    centroid = (ijk * weights[:, None]).sum(axis=0) / weights.sum()
    return volume.voxel_to_world(centroid)


def probe_world_points(volume: Volume) -> np.ndarray:
    """World positions (RAS mm) of the 8 corner voxels and two inner voxels ``(10, 3)``: compare
    them between a volume and its round-tripped copy to prove identical geometry."""
    i, j, k = (s - 1 for s in volume.shape)
    ijk = [[a, b, c] for a in (0, i) for b in (0, j) for c in (0, k)] + [[1, 2, 1], [i // 2, j // 3, k - 1]]
    return volume.voxel_to_world(np.array(ijk, dtype=np.float64))
