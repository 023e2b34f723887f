"""Crop and/or pad an array to a fixed size around a centre, with an exact inverse."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CropRecord:
    """Where the output window sits on the input grid.

    Attributes:
        input_shape: spatial shape of the input.
        start: input index of output voxel ``(0, 0, 0)`` (may be negative: padding).
        size: spatial shape of the output.
    """

    input_shape: tuple[int, int, int]
    start: tuple[int, int, int]
    size: tuple[int, int, int]

    @property
    def output_to_input(self) -> np.ndarray:
        """``(4, 4)`` voxel map output -> input (a pure shift)."""
        m = np.eye(4)
        m[:3, 3] = self.start
        return m

    def _slices(self) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
        src, dst = [], []
        for n, s, w in zip(self.input_shape, self.start, self.size):
            lo, hi = max(s, 0), min(s + w, n)
            src.append(slice(lo, max(hi, lo)))
            dst.append(slice(lo - s, lo - s + max(hi - lo, 0)))
        return tuple(src), tuple(dst)

    def apply(self, array: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Crop/pad an array on the input grid (trailing 3 axes) to the output window."""
        lead = array.shape[:-3]
        if tuple(array.shape[-3:]) != self.input_shape:
            raise ValueError(f"expected spatial shape {self.input_shape}, got {array.shape[-3:]}")
        out = np.full((*lead, *self.size), fill, dtype=array.dtype)
        src, dst = self._slices()
        out[(..., *dst)] = array[(..., *src)]
        return out

    def invert(self, array: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Put an output-window array back on the input grid; voxels cut off get ``fill``."""
        lead = array.shape[:-3]
        if tuple(array.shape[-3:]) != self.size:
            raise ValueError(f"expected spatial shape {self.size}, got {array.shape[-3:]}")
        out = np.full((*lead, *self.input_shape), fill, dtype=array.dtype)
        src, dst = self._slices()
        out[(..., *src)] = array[(..., *dst)]
        return out


@dataclass(frozen=True)
class Cropped:
    """Output of :func:`crop_or_pad`."""

    data: np.ndarray
    record: CropRecord


def crop_window(
    input_shape: tuple[int, int, int], size: tuple[int, int, int], center: tuple[float, float, float] | None = None
) -> CropRecord:
    """The window of ``size`` voxels centred on ``center`` (default: the grid centre).

    Args:
        input_shape: spatial shape of the input.
        size: spatial shape of the output.
        center: voxel coordinates of the window centre on the input grid.
    """
    if len(size) != 3 or any(int(s) <= 0 for s in size):
        raise ValueError(f"size must be three positive integers, got {size}")
    if center is None:
        center = tuple((n - 1) / 2.0 for n in input_shape)  # type: ignore[assignment]
    start = tuple(int(np.floor(c - (w - 1) / 2.0 + 0.5)) for c, w in zip(center, size))  # type: ignore[arg-type]
    return CropRecord(tuple(int(n) for n in input_shape), start, tuple(int(s) for s in size))  # type: ignore[arg-type]


def crop_or_pad(
    array: np.ndarray,
    size: tuple[int, int, int],
    center: tuple[float, float, float] | None = None,
    fill: float = 0.0,
) -> Cropped:
    """Crop and/or pad the trailing 3 axes of ``array`` to ``size`` around ``center``.

    Args:
        array: ``(..., I, J, K)``.
        size: output spatial shape.
        center: window centre in voxels (default: the grid centre).
        fill: value for padded voxels.

    Returns:
        :class:`Cropped`; ``record.invert`` restores the input shape exactly (cropped-away
        voxels come back as ``fill``).
    """
    record = crop_window(tuple(array.shape[-3:]), size, center)  # type: ignore[arg-type]
    return Cropped(record.apply(array, fill), record)
