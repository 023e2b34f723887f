"""Quality checks on a scan and its preprocessing: is this a T1 head scan the model can read?"""

from __future__ import annotations

import numpy as np

from volta_core.io.volume import Volume
from volta_core.preprocess.pipeline import Preprocessed
from volta_core.preprocess.register import QUALITY_WARNING_THRESHOLD
from volta_core.preprocess.resample import resample_array
from volta_core.preprocess.template import Template

# Registration quality below QUALITY_WARNING_THRESHOLD (volta_core.preprocess.register, the one
# place it is set) is shown as doubtful; below NOT_A_HEAD the image does not resemble a brain at all.
NOT_A_HEAD = 0.15
THICK_SLICE_MM = 3.0
TINY_VOXEL_MM = 0.3
OOD_LIMIT = 1.0


def template_on_model_grid(template: Template, prep: Preprocessed) -> tuple[np.ndarray, np.ndarray]:
    """Template T1 and brain mask resampled onto the model grid (template space only)."""
    shape = tuple(int(s) for s in prep.data.shape)
    image = resample_array(template.image.data.astype(np.float32), shape,
                           np.linalg.inv(template.image.affine) @ prep.affine, order=1)
    mask = resample_array(template.mask.data, shape, np.linalg.inv(template.mask.affine) @ prep.affine, order=0) > 0
    return image, mask


def signed_correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float | None:
    """Pearson correlation of ``a`` and ``b`` inside ``mask`` (None if either is constant)."""
    x, y = a[mask].astype(np.float64), b[mask].astype(np.float64)
    if x.size < 10 or x.std() == 0 or y.std() == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def resolution_warnings(volume: Volume) -> list[str]:
    spacing = np.asarray(volume.spacing)
    warnings = []
    if spacing.max() > THICK_SLICE_MM:
        warnings.append(f"extreme resolution: {spacing.max():.1f} mm slices (the model is most reliable at "
                        f"<= {THICK_SLICE_MM:.0f} mm); volumes may be biased")
    if spacing.min() < TINY_VOXEL_MM:
        warnings.append(f"extreme resolution: {spacing.min():.2f} mm voxels - is the header's voxel size right?")
    return warnings


def quality_warnings(
    *,
    registration_quality: float | None,
    registration_converged: bool | None,
    template_correlation: float | None,
    ood_score: float | None,
    total_ml: float,
) -> list[str]:
    """Plain-language warnings from the measured quality figures."""
    warnings: list[str] = []
    if registration_quality is not None and registration_quality < NOT_A_HEAD:
        warnings.append("not a head: the image does not resemble a brain MRI; results are meaningless")
    elif registration_quality is not None and registration_quality < QUALITY_WARNING_THRESHOLD:
        warnings.append(f"registration doubtful: alignment to the template is poor (quality "
                        f"{registration_quality:.2f}, below {QUALITY_WARNING_THRESHOLD:.2f}); check the mask "
                        "before using the volumes")
    elif registration_converged is False:
        warnings.append("registration did not fully converge; check the mask")
    if template_correlation is not None and template_correlation < 0:
        warnings.append("wrong contrast: intensities look inverted relative to a T1 (T2-like?); "
                        "the model was trained for T1-weighted scans")
    if ood_score is not None and ood_score > OOD_LIMIT:
        warnings.append(f"unlike the training data (out-of-distribution score {ood_score:.2f} > {OOD_LIMIT:.0f}); "
                        "treat the results with caution")
    if total_ml == 0:
        warnings.append("no hippocampus found")
    elif total_ml < 1.0 or total_ml > 15.0:
        warnings.append(f"implausible hippocampus volume ({total_ml:.1f} mL in total); check the mask")
    return warnings
