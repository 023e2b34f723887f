"""A hippocampus label map (predicted or loaded) on the scan's grid, with its display-grid copy."""

from __future__ import annotations

from typing import Any

import numpy as np

from app.state.display_grid import DisplayIndex
from app.state.signal import Signal
from volta_core.contracts.prediction import LABEL_NAMES, LEFT, RIGHT, label_volumes_ml

Prediction = Any  # a volta_core.infer.Prediction


class Segmentation:
    """Editable labels (0 background, 1 left, 2 right) on the scan's own grid.

    Args:
        name: what the layers panel calls it (e.g. the model's name or the file's).
        labels: ``(I, J, K)`` uint8 on the scan's grid; copied, the copy is edited.
        affine: the scan's voxel -> RAS mm affine.
        index: which native voxel each display voxel shows.
        prediction: the ``Prediction`` it came from (None for a loaded file).
        probability: ``(X, Y, Z)`` uint8 p(left)+p(right) scaled to 0..255 on the display grid, if any.
        display: ``index.to_display(labels)`` if the caller already has it (a worker computed it).

    ``changed`` is emitted (no arguments) after every edit, undo or redo.
    """

    def __init__(self, name: str, labels: np.ndarray, affine: np.ndarray, index: DisplayIndex,
                 prediction: Prediction | None = None, probability: np.ndarray | None = None,
                 source: str = "", display: np.ndarray | None = None) -> None:
        if labels.shape != index.native_shape:
            raise ValueError(f"labels {labels.shape} do not match the scan grid {index.native_shape}")
        self.name = name
        self.labels = np.array(labels, dtype=np.uint8, order="C", copy=True)
        self.original = labels
        self.affine = np.asarray(affine, dtype=np.float64)
        self.index = index
        self.display = index.to_display(self.labels) if display is None else display
        self.prediction = prediction
        self.probability = probability
        self.source = source
        self.convention = ""  # a loaded label map: the convention it was read in (see label_conventions)
        self.intended_use = ""  # a prediction: its model card's intended use (results panel, report)
        self.changed = Signal()
        self._saved: np.ndarray = self.original  # labels as last written to disk (or as predicted)
        self._box: tuple[slice, slice, slice] | None = None

    @property
    def box(self) -> tuple[slice, slice, slice]:
        """A box on the scan grid holding every labelled voxel (may be larger after erasing)."""
        if self._box is None:
            self._box = _nonzero_box(self.labels)
        return self._box

    def display_box(self) -> tuple[slice, slice, slice]:
        """A box on the display grid holding every labelled display voxel (from ``box`` via the affines)."""
        box = self.box
        shape = self.index.shape
        if any(b.stop <= b.start for b in box):
            return (slice(0, 0),) * 3
        corners = np.array([[i, j, k] for i in (box[0].start - 1, box[0].stop) for j in (box[1].start - 1, box[1].stop)
                            for k in (box[2].start - 1, box[2].stop)], dtype=np.float64)
        world = corners @ self.affine[:3, :3].T + self.affine[:3, 3]
        inv = np.linalg.inv(self.index.display_affine)
        ijk = world @ inv[:3, :3].T + inv[:3, 3]
        lo = np.maximum(np.floor(ijk.min(axis=0)).astype(int) - 1, 0)
        hi = np.minimum(np.ceil(ijk.max(axis=0)).astype(int) + 2, shape)
        return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))  # type: ignore[return-value]

    @property
    def is_prediction(self) -> bool:
        return self.prediction is not None

    @property
    def edited(self) -> bool:
        box = self.box
        return not np.array_equal(self.labels[box], self.original[box])  # nothing changes outside the box

    @property
    def has_unsaved_edits(self) -> bool:
        """Edited since the prediction or the last :meth:`mark_saved` (undoing back counts as clean)."""
        box = self.box  # holds every voxel ever labelled or edited, so nothing differs outside it
        return not np.array_equal(self.labels[box], self._saved[box])

    def mark_saved(self, labels: np.ndarray | None = None) -> None:
        """``labels`` (a copy of the labels as written; default: the current ones) are on disk."""
        self._saved = self.labels.copy() if labels is None else labels

    def volumes_ml(self) -> dict[str, float]:
        """Current (possibly corrected) volumes in mL."""
        n_classes = len(self.prediction.label_names) if getattr(self.prediction, "label_names", None) else 3
        return label_volumes_ml(self.labels[self.box], self.affine, n_classes)

    def set_values(self, flat: np.ndarray, values: np.ndarray | int,
                   display_flat: np.ndarray | None = None) -> None:
        """Write ``values`` at native flat indices ``flat`` and emit ``changed``.

        Args:
            display_flat: flat display-grid indices showing those voxels (what the brush
                touched); refreshes just those on axis-aligned scans. Without it (or on oblique
                scans, where one native voxel can show in several display voxels) the whole
                display copy is rebuilt.
        """
        box = self.box  # before writing: erased voxels must stay inside the box (``edited`` relies on it)
        self.labels.reshape(-1)[flat] = values
        self._box = _union(box, np.unravel_index(flat, self.labels.shape))
        if display_flat is not None and self.index.exact:
            self.display.reshape(-1)[display_flat] = self.labels.reshape(-1)[self.index.flat.reshape(-1)[display_flat]]
        else:
            self.display = self.index.to_display(self.labels)
        self.changed.emit()

    def label_at_display(self, ijk: tuple[int, int, int]) -> int:
        return int(self.display[ijk])

    def probability_at_display(self, ijk: tuple[int, int, int]) -> float | None:
        """p(left) + p(right) at a display voxel, or None without probabilities."""
        return None if self.probability is None else float(self.probability[ijk]) / 255.0

    def centroid_world(self, label: int) -> np.ndarray | None:
        """Centre of mass (RAS mm) of one label, None if it is empty."""
        box = self.box
        idx = np.argwhere(self.labels[box] == label) + np.array([b.start for b in box])
        if idx.size == 0:
            return None
        center = idx.mean(axis=0)
        return self.affine[:3, :3] @ center + self.affine[:3, 3]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "edited": self.edited, "volumes_ml": self.volumes_ml()}


def _nonzero_box(labels: np.ndarray) -> tuple[slice, slice, slice]:
    """The smallest box holding every non-zero voxel (empty slices if there is none)."""
    box = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        hit = np.flatnonzero(labels.any(axis=other))
        box.append(slice(int(hit[0]), int(hit[-1]) + 1) if hit.size else slice(0, 0))
    return tuple(box)  # type: ignore[return-value]


def _union(box: tuple[slice, slice, slice], indices: tuple[np.ndarray, ...]) -> tuple[slice, slice, slice]:
    if indices[0].size == 0:
        return box
    out = []
    for b, idx in zip(box, indices):
        lo, hi = int(idx.min()), int(idx.max()) + 1
        out.append(slice(lo, hi) if b.stop <= b.start else slice(min(b.start, lo), max(b.stop, hi)))
    return tuple(out)  # type: ignore[return-value]


def box_dice(a: Segmentation, b: Segmentation, label: int) -> float | None:
    """Dice of one label between two segmentations of the same scan, counted inside their boxes."""
    union = _union(a.box, tuple(np.array([s.start, s.stop - 1]) for s in b.box)) \
        if all(s.stop > s.start for s in b.box) else a.box
    return dice(a.labels[union], b.labels[union], label)


def dice(a: np.ndarray, b: np.ndarray, label: int) -> float | None:
    """Dice overlap of one label between two label maps on the same grid (None if both empty)."""
    if a.shape != b.shape:
        raise ValueError(f"label maps differ in shape: {a.shape} vs {b.shape}")
    in_a, in_b = a == label, b == label
    total = int(in_a.sum()) + int(in_b.sum())
    return None if total == 0 else 2.0 * float(np.logical_and(in_a, in_b).sum()) / total
