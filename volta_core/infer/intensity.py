"""Make a scan's intensities safe for preprocessing: extreme outlier voxels and absurd scales.

Registration and normalisation take the image's minimum, maximum and sums: one voxel at −1e6
in a 0..1000 scan moved the ICV by 7 %, and a scan scaled to 3e38 overflowed float32 and gave
a NaN registration quality. Intensities carry no absolute meaning in MRI, so:

- voxels far outside the scan's robust range (beyond the 0.1–99.9 percentiles by more than
  ``OUTLIER_SPREADS`` times their spread) are set to the nearest value inside the normal range,
  with a warning that says how many;
- a scan whose range is absurdly large or small is divided by a constant (a note, no warning:
  nothing the model sees changes).

Scans without outliers and with ordinary ranges are passed through untouched, so training and
prediction see the same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from volta_core.io.volume import Volume

OUTLIER_SPREADS = 3.0
LOW_PERCENTILE, HIGH_PERCENTILE = 0.1, 99.9
#: robust spreads outside this range are rescaled (ordinary MRI: 10^1 .. 10^5)
MIN_SPREAD, MAX_SPREAD = 1e-3, 1e6
TARGET_SPREAD = 1000.0
_SAMPLE = 2_000_000


@dataclass
class IntensityReport:
    """What :func:`robust_intensities` changed. ``warnings`` are for the user, ``notes`` for the record."""

    n_clipped: int = 0
    scale: float = 1.0
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _robust_range(data: np.ndarray) -> tuple[float, float] | None:
    flat = data.ravel()
    step = max(1, flat.size // _SAMPLE)
    sample = flat[::step].astype(np.float64)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return None
    low, high = (float(v) for v in np.percentile(sample, [LOW_PERCENTILE, HIGH_PERCENTILE]))
    return low, high


def robust_intensities(volume: Volume) -> tuple[Volume, IntensityReport]:
    """``volume`` with outlier voxels clipped and an absurd scale undone (see the module docstring).

    Returns:
        The volume to preprocess (the same object when nothing changed) and what was done.
    """
    report = IntensityReport()
    robust = _robust_range(volume.data)
    if robust is None:
        return volume, report
    low, high = robust
    spread = high - low
    data = volume.data
    if spread > 0:
        lo_limit, hi_limit = low - OUTLIER_SPREADS * spread, high + OUTLIER_SPREADS * spread
        outliers = (data < lo_limit) | (data > hi_limit)
        n_out = int(np.count_nonzero(outliers))
        if n_out:
            inliers = data[~outliers]
            data = np.clip(data.astype(np.float32), np.float32(inliers.min()), np.float32(inliers.max()))
            report.n_clipped = n_out
            extreme = float(volume.data[outliers].astype(np.float64).flat[0])
            report.warnings.append(
                f"{n_out} voxel(s) with extreme intensities (e.g. {extreme:.3g}, the scan's normal range is "
                f"{low:.3g} to {high:.3g}) were clipped to the normal range; check the scan")
    magnitude = max(abs(low), abs(high), spread)
    if magnitude > MAX_SPREAD or (0 < magnitude < MIN_SPREAD):
        scale = magnitude / TARGET_SPREAD
        data = (data.astype(np.float64) / scale).astype(np.float32)
        report.scale = scale
        report.notes.append(f"intensities were divided by {scale:.3g} (their range was {low:.3g} to {high:.3g})")
    if data is volume.data:
        return volume, report
    return Volume(data, volume.affine, volume.metadata, volume.source), report
