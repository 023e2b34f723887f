"""Preprocessing for the model: reorient, register, resample, normalise, crop, and undo it.

Pure array functions (numpy, scipy, SimpleITK); never imports torch. Main entry points:

- :func:`preprocess` ``(volume, spec) -> Preprocessed(data, affine, record, timings)``
- ``record.invert_labels(labels)`` / ``record.invert_probabilities(probs)``: back onto the
  scan's own grid (shape and affine of the input Volume).
- :func:`register_to_template`, :func:`load_template`, :func:`reorient_to_ras`,
  :func:`resample_to_spacing`, :func:`percentile_normalise`, :func:`crop_or_pad`.
"""

from __future__ import annotations

from volta_core.preprocess.crop import CropRecord, Cropped, crop_or_pad, crop_window
from volta_core.preprocess.normalize import IntensityRecord, Normalised, foreground_mask, percentile_normalise
from volta_core.preprocess.pipeline import (
    ModelInputSpec,
    Preprocessed,
    PreprocessRecord,
    model_grid_affine,
    preprocess,
)
from volta_core.preprocess.register import (
    QUALITY_WARNING_THRESHOLD,
    RegistrationError,
    RegistrationResult,
    RegistrationSettings,
    register_to_template,
)
from volta_core.preprocess.reorient import Reorientation, Reoriented, ras_reorientation, reorient_to_ras
from volta_core.preprocess.resample import (
    ACQUIRED_SPACING,
    FINE_GRID_MM,
    GridTooLargeError,
    Resampled,
    SpacingRecord,
    resample_array,
    resample_to_spacing,
    subdivide_grid,
    subdivision_factors,
)
from volta_core.preprocess.template import RegionOfInterest, Template, default_template_dir, load_template
from volta_core.preprocess.transforms import SpatialRecord

__all__ = [
    "ACQUIRED_SPACING",
    "FINE_GRID_MM",
    "QUALITY_WARNING_THRESHOLD",
    "CropRecord",
    "Cropped",
    "GridTooLargeError",
    "IntensityRecord",
    "ModelInputSpec",
    "Normalised",
    "PreprocessRecord",
    "Preprocessed",
    "RegionOfInterest",
    "RegistrationError",
    "RegistrationResult",
    "RegistrationSettings",
    "Reorientation",
    "Reoriented",
    "Resampled",
    "SpacingRecord",
    "SpatialRecord",
    "Template",
    "crop_or_pad",
    "crop_window",
    "default_template_dir",
    "foreground_mask",
    "load_template",
    "model_grid_affine",
    "percentile_normalise",
    "preprocess",
    "ras_reorientation",
    "register_to_template",
    "reorient_to_ras",
    "resample_array",
    "resample_to_spacing",
    "subdivide_grid",
    "subdivision_factors",
]
