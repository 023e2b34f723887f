"""Intensity statistics of a scan and the window/level presets computed from them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Percentiles on a strided subsample: exact enough for display, ~50x cheaper on a 256^3 scan.
_MAX_SAMPLES = 400_000


@dataclass(frozen=True)
class ImageStats:
    """Intensities that the window/level presets need (image units)."""

    minimum: float
    maximum: float
    p0_5: float
    p99_5: float
    foreground_low: float
    foreground_high: float

    @classmethod
    def from_array(cls, data: np.ndarray) -> ImageStats:
        """Compute the statistics of ``data`` (any shape; non-finite values are ignored)."""
        flat = np.asarray(data).reshape(-1)
        step = max(1, flat.size // _MAX_SAMPLES)
        sample = flat[::step].astype(np.float64)
        sample = sample[np.isfinite(sample)]
        if sample.size == 0:
            return cls(0.0, 1.0, 0.0, 1.0, 0.0, 1.0)
        p0_5, p99_5 = np.percentile(sample, [0.5, 99.5])
        # "Foreground": voxels brighter than the dark background (air), a crude but robust
        # head mask; its percentiles make a brain-tissue window that ignores the air.
        threshold = sample.min() + 0.1 * (p99_5 - sample.min())
        fg = sample[sample > threshold]
        fg_low, fg_high = np.percentile(fg, [2.0, 99.8]) if fg.size else (p0_5, p99_5)
        return cls(float(sample.min()), float(sample.max()), float(p0_5), float(p99_5),
                   float(fg_low), float(fg_high))


PRESETS = ("Auto (0.5-99.5 %)", "T1 brain", "Full range")


def preset_range(stats: ImageStats, preset: str) -> tuple[float, float]:
    """The ``(black, white)`` intensities of a named preset (one of ``PRESETS``)."""
    if preset == PRESETS[0]:
        low, high = stats.p0_5, stats.p99_5
    elif preset == PRESETS[1]:
        low, high = stats.foreground_low, stats.foreground_high
    elif preset == PRESETS[2]:
        low, high = stats.minimum, stats.maximum
    else:
        raise ValueError(f"unknown window/level preset {preset!r}; choose one of {PRESETS}")
    if high <= low:
        high = low + 1.0
    return (low, high)
