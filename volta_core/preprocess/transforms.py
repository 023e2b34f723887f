"""The spatial record of preprocessing: one composed affine between the scan and model grids.

Reorientation to RAS, registration to the template, the change of voxel size and the
crop/pad to the model's input size are each affine, so their composition is a single
``(4, 4)`` matrix *model voxel -> scan voxel*. The scan is resampled through it once forward
(trilinear) and predictions once backward (labels: per-label linear weights + argmax, or
nearest; probabilities: trilinear), so interpolation error never accumulates across steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from volta_core.preprocess.resample import output_block_covering, resample_array

LabelInversion = Literal["linear", "nearest"]


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    return p @ matrix[:3, :3].T + matrix[:3, 3]


@dataclass(frozen=True)
class SpatialRecord:
    """Geometry of the scan grid, the model grid and the map between them.

    Attributes:
        native_shape: the scan's own grid shape ``(I, J, K)``.
        native_affine: scan voxel -> scan RAS mm.
        native_orientation: axis codes of the scan, e.g. ``"LIA"`` (informational).
        template_to_scan: template RAS mm -> scan RAS mm (identity when ``space="native"``).
        model_shape: model grid shape.
        model_affine: model voxel -> model-space RAS mm (template mm, or scan mm if native).
    """

    native_shape: tuple[int, int, int]
    native_affine: np.ndarray
    native_orientation: str
    template_to_scan: np.ndarray
    model_shape: tuple[int, int, int]
    model_affine: np.ndarray

    @property
    def model_to_native(self) -> np.ndarray:
        """``(4, 4)`` model voxel -> scan voxel (the one composed map)."""
        return np.linalg.inv(self.native_affine) @ self.template_to_scan @ self.model_affine

    @property
    def native_to_model(self) -> np.ndarray:
        """``(4, 4)`` scan voxel -> model voxel."""
        return np.linalg.inv(self.model_to_native)

    # -- points -------------------------------------------------------------------------
    def model_voxels_to_native_voxels(self, ijk: np.ndarray) -> np.ndarray:
        """Model voxel indices ``(..., 3)`` -> (fractional) scan voxel indices."""
        return _apply(self.model_to_native, ijk)

    def native_voxels_to_model_voxels(self, ijk: np.ndarray) -> np.ndarray:
        """Scan voxel indices ``(..., 3)`` -> (fractional) model voxel indices."""
        return _apply(self.native_to_model, ijk)

    def model_voxels_to_scan_mm(self, ijk: np.ndarray) -> np.ndarray:
        """Model voxel indices ``(..., 3)`` -> scan RAS mm (e.g. to place a landmark)."""
        return _apply(self.template_to_scan @ self.model_affine, ijk)

    # -- arrays -------------------------------------------------------------------------
    def to_model(self, native: np.ndarray, *, order: int = 1, fill: float = 0.0) -> np.ndarray:
        """Resample an array on the scan grid onto the model grid.

        Args:
            native: ``(I, J, K)`` on the scan grid (image: ``order=1``; labels: ``order=0``).
            order: 0 nearest, 1 trilinear.
            fill: value outside the scan's field of view.
        """
        self._check_shape(native.shape, self.native_shape, "native")
        return resample_array(native, self.model_shape, self.model_to_native, order=order, fill=fill)

    def to_native(
        self,
        model: np.ndarray,
        *,
        order: int = 1,
        fill: float = 0.0,
        model_box: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Resample an array on the model grid back onto the scan grid (original shape).

        Only the part of the scan grid covered by the model grid (or by ``model_box``, a
        ``(min, max)`` box of model voxels) is interpolated; the rest is ``fill``.
        """
        self._check_shape(model.shape, self.model_shape, "model")
        if model_box is None:
            model_box = (np.zeros(3), np.asarray(self.model_shape, dtype=np.float64) - 1)
        block = output_block_covering(model_box, self.model_to_native, self.native_shape)
        return resample_array(model, self.native_shape, self.native_to_model, order=order, fill=fill, block=block)

    def native_block(self, model_box: tuple[np.ndarray, np.ndarray]) -> tuple[slice, slice, slice]:
        """The index block of the scan grid that covers ``model_box`` (``(min, max)`` model voxels)."""
        start, stop = output_block_covering(model_box, self.model_to_native, self.native_shape)
        return tuple(slice(int(a), int(b)) for a, b in zip(start, stop))  # type: ignore[return-value]

    def to_native_block(self, model: np.ndarray, block: tuple[slice, slice, slice], *, order: int = 1,
                        fill: float = 0.0) -> np.ndarray:
        """Like :meth:`to_native`, but only the scan voxels of ``block`` (from :meth:`native_block`),
        as an array of the block's shape: no scan-sized array is allocated."""
        self._check_shape(model.shape, self.model_shape, "model")
        shift = np.eye(4)
        shift[:3, 3] = [b.start for b in block]
        shape = tuple(b.stop - b.start for b in block)
        return resample_array(model, shape, self.native_to_model @ shift, order=order, fill=fill)

    def invert_labels(self, labels: np.ndarray, *, method: LabelInversion = "linear") -> np.ndarray:
        """Map a model-space label map onto the scan grid.

        Args:
            labels: integer ``(X, Y, Z)`` on the model grid; 0 is background.
            method: ``"linear"`` interpolates each label's indicator trilinearly and keeps
                the label with the largest weight (smooth boundaries at the finer scan
                resolution; what the hippocampus volume in mL is measured on); ``"nearest"``
                copies the nearest model voxel (blocky, but never invents a label).

        Returns:
            Label map with the scan's shape, same dtype as ``labels``.
        """
        labels = np.asarray(labels)
        self._check_shape(labels.shape, self.model_shape, "model")
        if not np.issubdtype(labels.dtype, np.integer) and labels.dtype != np.bool_:
            raise ValueError(f"labels must be integers, got {labels.dtype}")
        out_dtype = np.uint8 if labels.dtype == np.bool_ else labels.dtype
        present = np.unique(labels)
        present = present[present != 0]
        if present.size == 0:
            return np.zeros(self.native_shape, dtype=out_dtype)
        idx = np.argwhere(labels != 0)
        box = (idx.min(0) - 1.0, idx.max(0) + 1.0)
        if method == "nearest":
            return self.to_native(labels.astype(out_dtype), order=0, model_box=box)
        if method != "linear":
            raise ValueError(f"method must be 'linear' or 'nearest', got {method!r}")
        block = output_block_covering(box, self.model_to_native, self.native_shape)
        best = np.zeros(self.native_shape, dtype=out_dtype)
        several = present.size > 1
        # one label: it wins where its weight exceeds 0.5; several: argmax including the
        # background, whose weight is 1 - sum(label weights)
        best_weight = np.full(self.native_shape, 0.0 if several else 0.5, dtype=np.float32)
        background = np.ones(self.native_shape, dtype=np.float32) if several else None
        for value in present:
            weight = resample_array(
                (labels == value).astype(np.float32), self.native_shape, self.native_to_model, order=1, block=block
            )
            if background is not None:
                background -= weight
            take = weight > best_weight
            best[take] = value
            best_weight[take] = weight[take]
        if background is not None:
            best[background >= best_weight] = 0
        return best

    def invert_probabilities(self, probabilities: np.ndarray, *, background_channel: int | None = 0) -> np.ndarray:
        """Map ``(C, X, Y, Z)`` model-space probabilities onto the scan grid: ``(C, I, J, K)``.

        Args:
            probabilities: per-class maps on the model grid.
            background_channel: this channel is 1 outside the model's field of view (others
                0), so the result still sums to one everywhere; None fills all with 0.

        Returns:
            float32 ``(C, I, J, K)``, trilinear inside the model field of view.
        """
        probabilities = np.asarray(probabilities)
        if probabilities.ndim != 4:
            raise ValueError(f"probabilities must be (C, X, Y, Z), got shape {probabilities.shape}")
        self._check_shape(probabilities.shape[1:], self.model_shape, "model")
        out = np.empty((probabilities.shape[0], *self.native_shape), dtype=np.float32)
        for c in range(probabilities.shape[0]):
            fill = 1.0 if c == background_channel else 0.0
            out[c] = self.to_native(probabilities[c].astype(np.float32, copy=False), order=1, fill=fill)
        return out

    def to_dict(self) -> dict[str, object]:
        """JSON-serialisable form (lists of floats)."""
        return {
            "native_shape": list(self.native_shape),
            "native_affine": self.native_affine.tolist(),
            "native_orientation": self.native_orientation,
            "template_to_scan": self.template_to_scan.tolist(),
            "model_shape": list(self.model_shape),
            "model_affine": self.model_affine.tolist(),
        }

    @staticmethod
    def from_dict(data: dict[str, object]) -> SpatialRecord:
        """Inverse of :meth:`to_dict`."""
        return SpatialRecord(
            native_shape=tuple(int(v) for v in data["native_shape"]),  # type: ignore[union-attr, arg-type]
            native_affine=np.asarray(data["native_affine"], dtype=np.float64),
            native_orientation=str(data["native_orientation"]),
            template_to_scan=np.asarray(data["template_to_scan"], dtype=np.float64),
            model_shape=tuple(int(v) for v in data["model_shape"]),  # type: ignore[union-attr, arg-type]
            model_affine=np.asarray(data["model_affine"], dtype=np.float64),
        )

    @staticmethod
    def _check_shape(shape: tuple[int, ...], expected: tuple[int, int, int], name: str) -> None:
        if tuple(shape) != tuple(expected):
            raise ValueError(f"expected an array on the {name} grid {tuple(expected)}, got shape {tuple(shape)}")
