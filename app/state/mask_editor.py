"""Painting and erasing on a segmentation with a round brush in a slice plane (Qt-free)."""

from __future__ import annotations

import numpy as np

from app.state.edit_history import EditHistory, MaskEdit
from app.state.segmentation import LEFT, Segmentation
from app.state.signal import Signal

ERASE = 0


def brush_voxels(center_world: np.ndarray, normal: int, radius_mm: float, display_affine: np.ndarray,
                 display_shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Display voxels of a disc of ``radius_mm`` in the slice through ``center_world``.

    The disc is centred on the display voxel nearest ``center_world``, lies in the slice
    perpendicular to world axis ``normal`` and holds every voxel whose centre is within
    ``radius_mm`` of that voxel's centre (so radius 0 paints one voxel).

    Returns:
        Index arrays ``(x, y, z)`` into the display grid (may be empty outside the grid).
    """
    spacing = np.diag(display_affine)[:3]
    origin = display_affine[:3, 3]
    center = np.rint((np.asarray(center_world, dtype=np.float64) - origin) / spacing).astype(int)
    shape = np.asarray(display_shape)
    if not 0 <= center[normal] < shape[normal]:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty, empty
    axes = [a for a in range(3) if a != normal]
    ranges = []
    for a in axes:
        reach = int(np.floor(radius_mm / spacing[a] + 1e-9))
        ranges.append(np.arange(max(center[a] - reach, 0), min(center[a] + reach, shape[a] - 1) + 1))
    ga, gb = np.meshgrid(ranges[0], ranges[1], indexing="ij")
    inside = ((ga - center[axes[0]]) * spacing[axes[0]]) ** 2 + ((gb - center[axes[1]]) * spacing[axes[1]]) ** 2 \
        <= radius_mm ** 2 + 1e-9
    result: list[np.ndarray] = [np.zeros(0)] * 3
    result[axes[0]], result[axes[1]] = ga[inside], gb[inside]
    result[normal] = np.full(int(inside.sum()), center[normal])
    return result[0], result[1], result[2]


class MaskEditor:
    """Edit mode, brush label/radius and the stroke in progress; strokes become undo steps.

    ``changed`` is emitted with the field name (``active``, ``label``, ``radius``, ``target``).
    """

    def __init__(self, history: EditHistory) -> None:
        self.history = history
        self.active = False
        self.label = LEFT
        self.radius_mm = 2.0
        self.target: Segmentation | None = None
        self.changed = Signal()
        self._stroke: dict[str, list[np.ndarray]] | None = None

    def set_active(self, active: bool) -> None:
        self.active = bool(active)
        self.changed.emit("active")

    def set_label(self, label: int) -> None:
        if label not in (ERASE, 1, 2):
            raise ValueError(f"brush label must be 0 (erase), 1 (left) or 2 (right), got {label}")
        self.label = label
        self.changed.emit("label")

    def set_radius(self, radius_mm: float) -> None:
        self.radius_mm = max(0.0, float(radius_mm))
        self.changed.emit("radius")

    def set_target(self, segmentation: Segmentation | None) -> None:
        self.end_stroke()
        self.target = segmentation
        self.changed.emit("target")

    # strokes ------------------------------------------------------------------------------------
    def begin_stroke(self) -> None:
        self.end_stroke()
        self._stroke = {"native": [], "before": [], "display": []}

    def dab(self, center_world: np.ndarray, normal: int, display_affine: np.ndarray) -> int:
        """Paint one disc (starting a stroke if none is open); returns how many voxels changed."""
        seg = self.target
        if seg is None:
            return 0
        if self._stroke is None:
            self.begin_stroke()
        assert self._stroke is not None
        voxels = brush_voxels(center_world, normal, self.radius_mm, display_affine, seg.index.shape)
        display_flat = np.ravel_multi_index(voxels, seg.index.shape) if voxels[0].size else np.zeros(0, np.intp)
        native = seg.index.flat.reshape(-1)[display_flat]
        keep = native >= 0
        native, display_flat = native[keep], display_flat[keep]
        current = seg.labels.reshape(-1)[native]
        change = current != self.label
        native, display_flat, current = native[change], display_flat[change], current[change]
        if native.size == 0:
            return 0
        native, first = np.unique(native, return_index=True)  # oblique scans: one voxel, many pixels
        self._stroke["native"].append(native)
        self._stroke["before"].append(current[first])
        self._stroke["display"].append(display_flat)
        seg.set_values(native, self.label, display_flat)
        return int(native.size)

    def end_stroke(self) -> MaskEdit | None:
        """Close the stroke in progress and push it to the history (None if nothing changed)."""
        stroke, self._stroke = self._stroke, None
        if not stroke or not stroke["native"] or self.target is None:
            return None
        # dabs of one stroke never overlap in what they changed: a voxel changes at most once
        native = np.concatenate(stroke["native"])
        before = np.concatenate(stroke["before"])
        edit = MaskEdit(self.target, native, before, np.full(native.size, self.label, np.uint8),
                        np.concatenate(stroke["display"]))
        self.history.push(edit)
        return edit
