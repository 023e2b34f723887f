"""Where each slice view's plane lies in world space and how its pixels map to RAS+ mm.

Pure numpy, no VTK: every view draws in its own 2D "plane" coordinates ``(u, v)`` in mm, with
``u`` to the screen's right and ``v`` up. Each maps to one world axis with a sign, so the
radiological convention is only a sign flip here and the camera never has to move.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_POSITIVE = ("R", "A", "S")
_NEGATIVE = ("L", "P", "I")


@dataclass(frozen=True)
class PlaneGeometry:
    """The mapping between a slice view's plane coordinates and world (RAS+) coordinates.

    Attributes:
        normal: world axis the view looks along (0 = x, 1 = y, 2 = z).
        u_axis, v_axis: world axes shown horizontally and vertically.
        u_sign: +1 if world coordinates grow to the screen's right, -1 if to the left.
    """

    name: str
    normal: int
    u_axis: int
    v_axis: int
    u_sign: int

    def to_plane(self, world: np.ndarray) -> tuple[float, float]:
        """World point (3,) -> plane coordinates ``(u, v)`` in mm."""
        return (self.u_sign * float(world[self.u_axis]), float(world[self.v_axis]))

    def to_world(self, u: float, v: float, depth: float) -> np.ndarray:
        """Plane coordinates plus the slice's world coordinate along the normal -> world (3,)."""
        world = np.zeros(3)
        world[self.u_axis] = self.u_sign * u
        world[self.v_axis] = v
        world[self.normal] = depth
        return world

    def edge_labels(self) -> dict[str, str]:
        """Anatomical direction at each screen edge: keys ``left, right, top, bottom``."""
        right = _POSITIVE[self.u_axis] if self.u_sign > 0 else _NEGATIVE[self.u_axis]
        left = _NEGATIVE[self.u_axis] if self.u_sign > 0 else _POSITIVE[self.u_axis]
        return {"left": left, "right": right, "top": _POSITIVE[self.v_axis],
                "bottom": _NEGATIVE[self.v_axis]}


def plane_geometry(name: str, radiological: bool) -> PlaneGeometry:
    """The geometry of the ``axial``, ``coronal`` or ``sagittal`` view.

    Radiological: the patient's right is on the screen's left in the axial and coronal views.
    Sagittal views show anterior on the left (the patient faces left) in both conventions.
    """
    lr_sign = -1 if radiological else 1
    if name == "axial":
        return PlaneGeometry(name, normal=2, u_axis=0, v_axis=1, u_sign=lr_sign)
    if name == "coronal":
        return PlaneGeometry(name, normal=1, u_axis=0, v_axis=2, u_sign=lr_sign)
    if name == "sagittal":
        return PlaneGeometry(name, normal=0, u_axis=1, v_axis=2, u_sign=-1)
    raise ValueError(f"unknown slice view {name!r}")


@dataclass(frozen=True)
class SliceGrid:
    """The 2D image grid of one view for one display volume (what the vtkImageData needs)."""

    dims: tuple[int, int]  # (n_u, n_v)
    spacing: tuple[float, float]
    origin: tuple[float, float]  # plane coordinates of pixel (0, 0)
    n_slices: int  # along the normal


def slice_grid(geometry: PlaneGeometry, shape: tuple[int, int, int], spacing: np.ndarray,
               origin: np.ndarray) -> SliceGrid:
    """Grid of a RAS-aligned display volume (``shape``, ``spacing`` and ``origin`` along x, y, z)."""
    n_u, n_v = shape[geometry.u_axis], shape[geometry.v_axis]
    s_u, s_v = float(spacing[geometry.u_axis]), float(spacing[geometry.v_axis])
    first_u = float(origin[geometry.u_axis])
    u0 = first_u if geometry.u_sign > 0 else -(first_u + (n_u - 1) * s_u)
    return SliceGrid((n_u, n_v), (s_u, s_v), (u0, float(origin[geometry.v_axis])),
                     shape[geometry.normal])


def extract_slice(geometry: PlaneGeometry, data: np.ndarray, index: int) -> np.ndarray:
    """The slice at display index ``index`` along the normal, as ``(n_v, n_u)``.

    Rows are ``v`` (bottom row first) and columns ``u`` (left first): VTK's point order, so the
    result can be copied straight into an image buffer. A view of ``data``, never a copy.
    """
    index = int(np.clip(index, 0, data.shape[geometry.normal] - 1))
    where: list[slice | int] = [slice(None)] * 3
    where[geometry.normal] = index
    plane = data[tuple(where)]  # 2D view, remaining axes in x, y, z order
    remaining = [a for a in range(3) if a != geometry.normal]
    if remaining.index(geometry.u_axis) != 0:
        plane = plane.T
    if geometry.u_sign < 0:
        plane = plane[::-1, :]
    return plane.T  # (n_v, n_u)
