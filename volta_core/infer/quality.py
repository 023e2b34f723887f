"""Quality checks on a scan and its preprocessing: is this a T1 head scan the model can read?"""

from __future__ import annotations

import numpy as np

from volta_core.io.volume import Volume
from volta_core.preprocess.normalize import foreground_mask
from volta_core.preprocess.pipeline import Preprocessed
from volta_core.preprocess.register import QUALITY_WARNING_THRESHOLD
from volta_core.preprocess.resample import ACQUIRED_SPACING, resample_array
from volta_core.preprocess.template import Template

# Registration quality below QUALITY_WARNING_THRESHOLD (volta_core.preprocess.register, the one
# place it is set) is shown as doubtful; below NOT_A_HEAD the alignment has failed outright, and
# when the foreground is not head-sized either, the image does not resemble a brain at all.
NOT_A_HEAD = 0.15
#: a head (or a skull-stripped brain) spans at least this many mm along its two longest axes ...
HEAD_MIN_EXTENT_MM = 100.0
#: ... and at most this many along every axis (larger: a body or a wrong voxel size)
HEAD_MAX_EXTENT_MM = 400.0
#: ... and fills at most this share of its bounding box
HEAD_MAX_FILL = 0.7
REGISTRATION_HINT = ("check that the header's orientation is right (the slice views should show the head "
                     "upright), crop a field of view that reaches far below the head (neck, shoulders), "
                     "or skull-strip the scan, then run again")
THICK_SLICE_MM = 3.0
TINY_VOXEL_MM = 0.3
OOD_LIMIT = 1.0


def template_on_model_grid(template: Template, prep: Preprocessed) -> tuple[np.ndarray, np.ndarray]:
    """Template T1 and brain mask resampled onto the model grid (template space only)."""
    shape = tuple(int(s) for s in prep.data.shape)
    image = resample_array(template.image.data.astype(np.float32), shape,
                           np.linalg.inv(template.image.affine) @ prep.affine, order=1)
    return image, template.brain_on_grid(shape, prep.affine)


def signed_correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float | None:
    """Pearson correlation of ``a`` and ``b`` inside ``mask`` (None if either is constant)."""
    x, y = a[mask].astype(np.float64), b[mask].astype(np.float64)
    if x.size < 10 or x.std() == 0 or y.std() == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def looks_like_head(volume: Volume) -> bool:
    """Whether the scan's foreground has the size of a head or a brain (mm, from the affine).

    Independent of registration, so that a head whose registration failed is named as such
    and not as "not a head".
    """
    step = max(1, int(round(3.0 / max(min(volume.spacing), 1e-3))))
    data = np.asarray(volume.data)[::step, ::step, ::step]
    mask = foreground_mask(data)
    if mask.sum() < 50:
        return False
    idx = np.argwhere(mask)
    lo, hi = idx.min(0), idx.max(0)
    corners = np.stack([lo, hi]).astype(np.float64) * step
    world = corners @ np.asarray(volume.affine)[:3, :3].T
    extent = np.sort(np.abs(world[1] - world[0]))
    # a head is round: it fills about half of its bounding box (0.35-0.56 measured on real scans,
    # with and without skull); noise or a filled block fills (nearly) all of it
    fill = float(mask.sum()) / float(np.prod(hi - lo + 1))
    return bool(extent[-2] >= HEAD_MIN_EXTENT_MM and extent[-1] <= HEAD_MAX_EXTENT_MM and fill <= HEAD_MAX_FILL)


def resolution_warnings(volume: Volume) -> list[str]:
    """Warnings about the acquired voxel size (a scan on a subdivided grid is judged by what it was acquired at)."""
    acquired = volume.metadata.get(ACQUIRED_SPACING)
    spacing = np.asarray(acquired if acquired is not None else volume.spacing)
    warnings = []
    if spacing.max() > THICK_SLICE_MM:
        where = ("the mask is on a finer grid, but detail across the slices is that of the acquisition"
                 if acquired is not None else
                 "the mask follows the slices; on a 1 mm grid it follows the anatomy more closely (File > Reopen "
                 "on a 1 mm grid in the app, `volta predict --fine-grid`)")
        warnings.append(f"extreme resolution: {spacing.max():.1f} mm slices (the model is most reliable at "
                        f"<= {THICK_SLICE_MM:.0f} mm); volumes may be biased; {where}")
    if spacing.min() < TINY_VOXEL_MM:
        warnings.append(f"extreme resolution: {spacing.min():.2f} mm voxels - is the header's voxel size right?")
    return warnings


def quality_warnings(
    *,
    registration_quality: float | None,
    registration_converged: bool | None,
    template_correlation: float | None,
    ood_score: float | None,
    total_ml: float | None,
    head_like: bool = True,
) -> list[str]:
    """Plain-language warnings from the measured quality figures.

    Args:
        head_like: :func:`looks_like_head` of the scan; a very poor registration of a head-sized
            scan is a registration failure, of anything else "not a head".
    """
    warnings: list[str] = []
    if registration_quality is not None and registration_quality < NOT_A_HEAD and not head_like:
        warnings.append("not a head: the image does not resemble a brain MRI; results are meaningless")
    elif registration_quality is not None and registration_quality < NOT_A_HEAD:
        warnings.append(f"registration failed: the scan could not be aligned to the template (quality "
                        f"{registration_quality:.2f}), so the masks and volumes are meaningless; {REGISTRATION_HINT}")
    elif registration_quality is not None and registration_quality < QUALITY_WARNING_THRESHOLD:
        warnings.append(f"registration doubtful: alignment to the template is poor (quality "
                        f"{registration_quality:.2f}, below {QUALITY_WARNING_THRESHOLD:.2f}); check the mask "
                        f"before using the volumes; if it is off, {REGISTRATION_HINT}")
    elif registration_converged is False:
        warnings.append("registration did not fully converge; check the mask")
    if template_correlation is not None and template_correlation < 0:
        warnings.append("wrong contrast: intensities look inverted relative to a T1 (T2-like?); "
                        "the model was trained for T1-weighted scans")
    if ood_score is not None and ood_score > OOD_LIMIT:
        warnings.append(f"unlike the training data (out-of-distribution score {ood_score:.2f} > {OOD_LIMIT:.0f}); "
                        "treat the results with caution")
    if total_ml is None:  # a model without a trained segmentation head measures no volume
        pass
    elif total_ml == 0:
        warnings.append("no hippocampus found")
    elif total_ml < 1.0 or total_ml > 15.0:
        warnings.append(f"implausible hippocampus volume ({total_ml:.1f} mL in total); check the mask")
    return warnings
