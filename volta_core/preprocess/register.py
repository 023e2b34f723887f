"""Affine registration of a scan to the template (SimpleITK, Mattes mutual information).

Design, for scans with or without skull and with thick slices:

1. **Working images.** The scan is block-averaged (``BinShrink``) to about ``working_spacing_mm``
   (3 mm) once, so every later smoothing/sampling touches ~0.6 M voxels instead of 16 M. A
   5 mm slice axis is simply not shrunk. Metric gradients are computed at the sampled points
   only (no gradient image of the whole scan per level).
2. **Initialisation by the top of the head.** The translation aligns the centre of mass of the
   upper ``cap_height_mm`` of the foreground with the same statistic of the template brain
   mask. Unlike the centre of mass of the whole foreground it does not move with the neck
   or with how far down the field of view reaches. If the head has a skull, its top lies
   10-30 mm above the brain's (fsaverage: ~20 mm): a few S-I shifts of the
   guess are ranked by the metric on 6 mm copies, and the fit starts from the best. If it
   scores below ``accept_quality`` the next ones are tried and the best fit is kept.
3. **Two stages, coarse to fine.** Similarity (rigid + isotropic scale), then full affine;
   multi-resolution (6 mm then 3 mm; the affine stage only at 3 mm). Mattes mutual information tolerates the skull (absent from the template) and
   contrast differences; it is measured only inside the dilated template brain mask.
4. **Quality score.** How well the warped scan's intensity explains the template's inside the
   eroded template brain mask: the correlation ratio (eta) of the template given the scan, binned
   at scan-intensity quantiles, and at least |normalised cross-correlation|, in [0, 1]. For a
   T1 it equals |NCC| within ~0.01 (> 0.95 for the template warped, ~0.75 for a real head with
   skull (fsaverage), < 0.3 for a failed fit); unlike NCC it does not need the scan's contrast
   to be a linear function of the template's, so it also ranks the fits of a T2-like or
   randomly contrasted scan (a synthetic random-contrast head: 0.30 aligned vs 0.15 at a fit
   20 mm off, where NCC gave 0.16 vs 0.10 and picked the wrong fit). Scans are assumed to
   be roughly upright in the scanner frame (superior = +z), as real acquisitions are.
5. **Contrast-agnostic refit.** When the finished mutual-information fit still scores below
   ``ratio_refit_below``, the similarity is fitted again by maximising the quality score itself
   (:mod:`~volta_core.preprocess.register_ratio`), from a grid of starts ranked on 6 mm copies,
   and the better fit is kept. In a scan whose every structure has its own intensity, mutual
   information is drawn 10-50 mm off towards the scalp and neck (4 held-out synthetic
   random-contrast heads); the refit brings them within 3-5 mm of their T1 fit. It costs ~8 s,
   and only such scans pay it: T1 scans score above the limit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from volta_core.io.volume import Volume
from volta_core.preprocess.normalize import foreground_mask
from volta_core.preprocess.register_ratio import (
    RatioFit,
    compose_similarity,
    correlation_ratio,
    refit_by_correlation_ratio,
)
from volta_core.preprocess.sitk_bridge import (
    array_to_sitk,
    ras_matrix_to_transform,
    sitk_affine,
    sitk_to_array,
    transform_to_ras_matrix,
)
from volta_core.preprocess.template import Template

RegistrationMode = Literal["rigid", "similarity", "affine"]

class RegistrationError(ValueError):
    """The scan cannot be registered (constant, too small, or the optimiser failed)."""


#: Below this quality score a registration is shown to the user as doubtful (the Results panel and
#: ``volta predict`` warn). Derived from 72 real adult T1 scans (OpenNeuro ds002748, skull-stripped,
#: ``scripts/eval_real_scans.py``): their scores run 0.27-0.60, median 0.52, 1st percentile 0.39
#: (NCC gave 0.27-0.59, median 0.51: for T1 scans the correlation ratio is within ~0.01 of it),
#: and scans at 0.43-0.46 are visibly well aligned (an individual brain correlates less with the
#: average template than the average test brains do: 0.63-0.88). 0.35 flags 1 of the 72.
QUALITY_WARNING_THRESHOLD = 0.35


@dataclass(frozen=True)
class RegistrationSettings:
    """Knobs of :func:`register_to_template`.

    The defaults take ~1.3 CPU-s for a 256^3 1 mm scan and fit known affines to < 1 mm
    (landmark error, tests). ``working_spacing_mm=2.0`` gives ~0.3 mm for ~60 % more time.

    Attributes:
        working_spacing_mm: the scan is block-averaged to about this voxel size first.
        shrink_factors: multi-resolution levels of the template grid (stored at 1.5 mm, so
            (4, 2) means 6 mm and 3 mm levels).
        smoothing_sigmas: Gaussian sigma per level, in voxels of that level.
        iterations: maximum optimiser iterations per level.
        sampling_fraction: fraction of mask voxels sampled by the metric per iteration.
        histogram_bins: Mattes mutual-information bins.
        cap_height_mm: height of the head/brain top used for the initial translation.
        max_step_mm: first optimiser step (about mm of displacement, scales from physical shift).
        relaxation: step shrink factor each time the gradient direction reverses.
        accept_quality: a similarity fit with at least this quality is accepted; below it the
            next initialisation is tried (the best one is kept).
        affine_levels: the affine stage, which starts from the similarity fit, runs only the
            last this many levels.
        mask_dilation_voxels: the metric is measured in the template brain mask dilated by
            this many template voxels (a band of background keeps the brain edge in view).
        max_attempts: similarity fits tried at most (from the best-ranked initialisations).
        search_offsets_mm: S-I shifts (mm) of the head-top initialisation that are ranked.
        rotation_search_below: when the best fit so far scores below this, the fit is tried
            again from the best translation with the head pitched (nodding) by each of
            ``search_pitch_deg``, and the best of all is kept: heads tilted 30-50 degrees in the
            scanner (chin down or up) are otherwise fitted several mm off.
        search_pitch_deg: pitch angles (degrees, about the left-right axis) of that search.
        ratio_refit_below: when the mutual-information fit (in ``"affine"`` mode: after its affine
            stage) still scores below this, the similarity is fitted again by maximising the
            quality score itself (the correlation ratio, :mod:`~volta_core.preprocess.register_ratio`)
            from the head-top guesses, the centre of the field of view and the similarity fit;
            the better of the two is kept (real T1s whose affine stage lifts them above the
            limit keep their affine fit and its eTIV). Scans whose structures each have their
            own contrast (no T1, no T2) need it. That fit stays a similarity in ``"affine"``
            mode: mutual information pulls it away again, and the score alone over 12 parameters
            shears it (4 held-out random-contrast heads: the hippocampus 5-7 mm further off than
            with the similarity).
        ratio_search_mm: A-P and S-I shifts (mm; L-R: -10, 0, 10) of the head-top and the
            field-of-view-centre guesses, ranked by the score on 6 mm copies before that fit.
        ratio_search_scales: head scales tried with each of those guesses (and pitches of -15,
            0 and 15 degrees): Powell's method does not find a head 15 % smaller than the
            template from scale 1.
        threads: SimpleITK threads.
        seed: sampling seed (registration is deterministic for a given seed).
    """

    working_spacing_mm: float = 3.0
    shrink_factors: tuple[int, ...] = (4, 2)
    smoothing_sigmas: tuple[float, ...] = (1.0, 0.5)
    iterations: int = 60
    sampling_fraction: float = 0.2
    histogram_bins: int = 32
    cap_height_mm: float = 90.0
    threads: int = 2
    seed: int = 1234
    max_step_mm: float = 2.0
    relaxation: float = 0.7
    accept_quality: float = 0.5
    max_attempts: int = 3
    search_offsets_mm: tuple[float, ...] = (0.0, -10.0, -20.0, -30.0, 10.0)
    rotation_search_below: float = 0.42
    search_pitch_deg: tuple[float, ...] = (-30.0, 30.0, -50.0, 50.0)
    ratio_refit_below: float = 0.42
    ratio_search_mm: tuple[float, ...] = (-20.0, -10.0, 0.0, 10.0, 20.0)
    ratio_search_scales: tuple[float, ...] = (0.85, 1.0)
    affine_levels: int = 1
    mask_dilation_voxels: int = 1


@dataclass(frozen=True)
class RegistrationResult:
    """A fitted template -> scan transform and how good it is.

    Attributes:
        template_to_scan: ``(4, 4)`` map from template RAS mm to scan RAS mm. A voxel of the
            model grid is looked up in the scan through this map.
        mode: ``"rigid"``, ``"similarity"`` or ``"affine"``.
        metric_value: final Mattes mutual information (negative; lower is better).
        quality: how well the warped scan explains the template in the brain, [0, 1]
            (correlation ratio, at least |NCC|; module docstring, point 4).
        converged: True when the last level stopped before its iteration limit.
        iterations: optimiser iterations of the last level.
        seconds: wall time of the registration.
        initial_translation_mm: translation (RAS mm) of the initialisation.
        fitted_by: ``"mutual_information"``, or ``"correlation_ratio"`` when the contrast-agnostic
            refit (``RegistrationSettings.ratio_refit_below``) gave the kept fit.
    """

    template_to_scan: np.ndarray
    mode: str
    metric_value: float
    quality: float
    converged: bool
    iterations: int
    seconds: float
    initial_translation_mm: tuple[float, float, float]
    fitted_by: str = "mutual_information"

    @property
    def is_reliable(self) -> bool:
        """Quality at or above :data:`QUALITY_WARNING_THRESHOLD`."""
        return self.quality >= QUALITY_WARNING_THRESHOLD

    def template_to_scan_points(self, points_mm: np.ndarray) -> np.ndarray:
        """Map template RAS mm points ``(..., 3)`` to scan RAS mm."""
        p = np.asarray(points_mm, dtype=np.float64)
        return p @ self.template_to_scan[:3, :3].T + self.template_to_scan[:3, 3]

    def scan_to_template_points(self, points_mm: np.ndarray) -> np.ndarray:
        """Map scan RAS mm points ``(..., 3)`` to template RAS mm."""
        inv = np.linalg.inv(self.template_to_scan)
        p = np.asarray(points_mm, dtype=np.float64)
        return p @ inv[:3, :3].T + inv[:3, 3]

    @staticmethod
    def identity() -> RegistrationResult:
        """The no-op registration (scan already in template space)."""
        return RegistrationResult(np.eye(4), "identity", 0.0, 1.0, True, 0, 0.0, (0.0, 0.0, 0.0))


def intracranial_volume_ml(template: Template, registration: RegistrationResult) -> float:
    """ICV estimate (eTIV-style): the template's brain-mask volume scaled by the determinant of the
    registration's linear part (how much larger the scan's head is than the template's)."""
    mask = template.mask
    template_ml = float(mask.data.astype(bool).sum()) * abs(float(np.linalg.det(mask.affine[:3, :3]))) / 1000.0
    return template_ml * abs(float(np.linalg.det(registration.template_to_scan[:3, :3])))


def _working_image(volume: Volume, spacing_mm: float) -> sitk.Image:
    """The scan as float32 SimpleITK image, block-averaged to about ``spacing_mm``."""
    image = array_to_sitk(volume.data, volume.affine)
    factors = [max(1, int(round(spacing_mm / s))) for s in image.GetSpacing()]
    if any(f > 1 for f in factors):
        image = sitk.BinShrink(image, factors)
    return image


def _cap_center(data: np.ndarray, mask: np.ndarray, affine: np.ndarray, cap_height_mm: float) -> np.ndarray:
    """Centre of mass (RAS mm) of the top ``cap_height_mm`` of ``mask``."""
    idx = np.argwhere(mask)
    if idx.shape[0] < 10:
        idx = np.argwhere(np.ones_like(mask))
    world = idx @ affine[:3, :3].T + affine[:3, 3]
    top = np.percentile(world[:, 2], 99.5)
    return world[world[:, 2] > top - cap_height_mm].mean(axis=0)


def _head_mask(data: np.ndarray) -> np.ndarray:
    """Largest connected component of the foreground, holes filled."""
    mask = foreground_mask(data)
    labels, n = ndimage.label(mask)
    if n > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        mask = labels == int(sizes.argmax())
    return mask


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else 0.0


class _QualityScorer:
    """How well the warped scan explains the template inside the eroded brain, on a 3 mm template
    grid: max(correlation ratio, |NCC|) (module docstring, point 4)."""

    def __init__(self, fixed: sitk.Image, mask_affine: np.ndarray, brain: np.ndarray) -> None:
        self.grid = sitk.BinShrink(fixed, [2, 2, 2])
        small_brain = sitk.BinShrink(array_to_sitk(brain.astype(np.float32), mask_affine), [2, 2, 2])
        self.inside = ndimage.binary_erosion(sitk_to_array(small_brain) > 0.99, iterations=2)
        self.template_values = sitk_to_array(self.grid)[self.inside].astype(np.float64)

    def __call__(self, moving: sitk.Image, template_to_scan: np.ndarray) -> float:
        if not self.inside.any():
            return 0.0
        warped = sitk.Resample(moving, self.grid, ras_matrix_to_transform(template_to_scan), sitk.sitkLinear, 0.0)
        # |NCC|: a T2-like (inverted) scan that is well aligned correlates strongly *negatively*;
        # eta: a scan whose contrast is not a linear function of T1 (random, mixed) still scores
        # its alignment. The contrast itself is judged separately (quality.signed_correlation).
        values = sitk_to_array(warped)[self.inside].astype(np.float64)
        ncc = abs(_ncc(self.template_values, values))
        return float(np.clip(max(ncc, correlation_ratio(self.template_values, values)), 0.0, 1.0))


class _IterationCounter:
    def __init__(self, method: sitk.ImageRegistrationMethod) -> None:
        self.method = method
        self.count = 0

    def __call__(self) -> None:
        self.count = int(self.method.GetOptimizerIteration())


def _run_stage(
    fixed: sitk.Image,
    moving: sitk.Image,
    fixed_mask: sitk.Image,
    initial: sitk.Transform,
    settings: RegistrationSettings,
    levels: int | None = None,
) -> tuple[sitk.Transform, float, int, bool]:
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=settings.histogram_bins)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(settings.sampling_fraction, settings.seed)
    method.SetMetricFixedMask(fixed_mask)
    # gradients only at the sampled points, not as a filtered image of the whole scan per level
    method.MetricUseMovingImageGradientFilterOff()
    method.MetricUseFixedImageGradientFilterOff()
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=settings.max_step_mm,
        minStep=0.05,
        numberOfIterations=settings.iterations,
        relaxationFactor=settings.relaxation,
        gradientMagnitudeTolerance=1e-6,
    )
    method.SetOptimizerScalesFromPhysicalShift()
    first_level = 0 if levels is None else max(0, len(settings.shrink_factors) - levels)
    method.SetShrinkFactorsPerLevel(list(settings.shrink_factors[first_level:]))
    method.SetSmoothingSigmasPerLevel(list(settings.smoothing_sigmas[first_level:]))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    method.SetInitialTransform(initial, inPlace=True)
    counter = _IterationCounter(method)
    method.AddCommand(sitk.sitkIterationEvent, counter)
    try:
        method.Execute(fixed, moving)
    except RuntimeError as error:  # ITK exceptions: e.g. all samples mapped outside the scan
        raise RegistrationError(
            f"registration to the template failed ({str(error).strip().splitlines()[-1]}); "
            "check that the file is a 3D head scan, or preprocess with space='native'"
        ) from error
    converged = counter.count + 1 < settings.iterations
    return initial, float(method.GetMetricValue()), counter.count + 1, converged


def _mutual_information(fixed: sitk.Image, moving: sitk.Image, fixed_mask: sitk.Image, transform: sitk.Transform,
                        bins: int) -> float:
    """Mattes mutual information (negative; lower is better) of ``moving`` under ``transform``."""
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=bins)
    method.SetMetricFixedMask(fixed_mask)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetInitialTransform(transform, inPlace=False)
    return float(method.MetricEvaluate(fixed, moving))


def _rank_candidates(
    fixed: sitk.Image,
    moving: sitk.Image,
    fixed_mask: sitk.Image,
    transforms: list[sitk.Transform],
    translations: list[np.ndarray],
    settings: RegistrationSettings,
) -> list[np.ndarray]:
    """Initial translations sorted by Mattes MI (best first), evaluated on ~6 mm copies."""
    factor = settings.shrink_factors[0]
    small_fixed = sitk.BinShrink(fixed, [factor] * 3)
    small_mask = sitk.Cast(sitk.BinShrink(sitk.Cast(fixed_mask, sitk.sitkFloat32), [factor] * 3) > 0.5, sitk.sitkUInt8)
    moving_factors = [max(1, int(round(small_fixed.GetSpacing()[0] / s))) for s in moving.GetSpacing()]
    small_moving = sitk.BinShrink(moving, moving_factors)
    scores = [_mutual_information(small_fixed, small_moving, small_mask, t, settings.histogram_bins) for t in transforms]
    return [translations[i] for i in np.argsort(scores, kind="stable")]


def _translation(translation_ras: np.ndarray) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, 3] = translation_ras
    return matrix


def _ratio_starts(bases: list[np.ndarray], fitted: np.ndarray, center: np.ndarray,
                  settings: RegistrationSettings, scales: tuple[float, ...]) -> list[np.ndarray]:
    """Starts of the correlation-ratio refit: the translation guesses shifted over a grid, each
    with the head pitched by -15, 0 and 15 degrees and scaled by ``scales`` (about ``center``,
    template RAS mm), and the mutual-information fit shifted over the same grid."""
    shifts = [np.array([dx, dy, dz]) for dx in (-10.0, 0.0, 10.0) for dy in settings.ratio_search_mm
              for dz in settings.ratio_search_mm]
    starts = [compose_similarity(_translation(base + shift), center, (pitch, 0, 0, 0, 0, 0, np.log(scale)))
              for pitch in (-15.0, 0.0, 15.0) for scale in scales for base in bases for shift in shifts]
    return starts + [_translation(shift) @ fitted for shift in shifts]


def register_to_template(
    volume: Volume,
    template: Template,
    *,
    mode: RegistrationMode = "affine",
    settings: RegistrationSettings | None = None,
) -> RegistrationResult:
    """Fit the transform that maps template space onto the scan.

    Args:
        volume: the scan (any orientation, spacing, with or without skull).
        template: the template to register to (:func:`~volta_core.preprocess.template.load_template`).
        mode: ``"rigid"`` (6 dof), ``"similarity"`` (7 dof) or ``"affine"`` (12 dof; the
            similarity fit initialises it).
        settings: speed/accuracy knobs; defaults to :class:`RegistrationSettings`.

    Returns:
        :class:`RegistrationResult` with ``template_to_scan`` (RAS mm -> RAS mm).

    Raises:
        ValueError: for an unknown mode or inconsistent settings.
        RegistrationError: for a constant or too small scan, or when the optimiser fails.
    """
    if mode not in ("rigid", "similarity", "affine"):
        raise ValueError(f"mode must be 'rigid', 'similarity' or 'affine', got {mode!r}")
    settings = settings or RegistrationSettings()
    if len(settings.shrink_factors) != len(settings.smoothing_sigmas):
        raise ValueError("shrink_factors and smoothing_sigmas need one entry per level")
    started = time.perf_counter()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(settings.threads)

    fixed = array_to_sitk(template.image.data, template.image.affine)
    brain = template.mask.data > 0
    fixed_mask_arr = brain
    if settings.mask_dilation_voxels > 0:
        fixed_mask_arr = ndimage.binary_dilation(brain, iterations=settings.mask_dilation_voxels)
    fixed_mask_arr = fixed_mask_arr.astype(np.uint8)
    fixed_mask = sitk.Cast(array_to_sitk(fixed_mask_arr, template.mask.affine), sitk.sitkUInt8)
    extent_mm = np.asarray(volume.shape) * np.asarray(volume.spacing)
    if extent_mm.min() < 40.0:
        raise RegistrationError(
            f"the scan covers only {extent_mm.round(1).tolist()} mm: registration to the template "
            "needs a 3D volume of the head (at least 40 mm along every axis)"
        )
    moving = _working_image(volume, settings.working_spacing_mm)
    moving_arr = sitk_to_array(moving)
    if not np.any(moving_arr != moving_arr.flat[0]):
        raise RegistrationError("the scan is constant: nothing to register")
    moving_affine = sitk_affine(moving)

    head = _head_mask(moving_arr)
    fixed_center = _cap_center(template.image.data, brain, template.image.affine, settings.cap_height_mm)
    cap_center = _cap_center(moving_arr, head, moving_affine, settings.cap_height_mm)
    center_lps = (float(-fixed_center[0]), float(-fixed_center[1]), float(fixed_center[2]))

    def initial_transform(translation_ras: np.ndarray, pitch_deg: float = 0.0) -> sitk.Transform:
        transform = sitk.Euler3DTransform() if mode == "rigid" else sitk.Similarity3DTransform()
        transform.SetCenter(center_lps)
        if pitch_deg:
            if mode == "rigid":
                transform.SetRotation(float(np.deg2rad(pitch_deg)), 0.0, 0.0)
            else:
                transform.SetRotation((1.0, 0.0, 0.0), float(np.deg2rad(pitch_deg)))
        transform.SetTranslation((float(-translation_ras[0]), float(-translation_ras[1]), float(translation_ras[2])))
        return transform

    # robust initialisation: the head-top guess shifted along S-I (a skull raises the top of
    # the head above the brain's, by a subject-dependent amount), ranked by the metric on
    # coarse copies; the similarity fit runs from the best, then the next ones while the fit
    # scores below accept_quality (field of view cutting the head, unusual neck ...)
    candidates = [cap_center - fixed_center + np.array([0.0, 0.0, dz]) for dz in settings.search_offsets_mm]
    candidates = _rank_candidates(fixed, moving, fixed_mask, [initial_transform(c) for c in candidates], candidates, settings)
    scorer = _QualityScorer(fixed, template.mask.affine, brain)

    best: tuple[float, sitk.Transform, float, int, bool, np.ndarray] | None = None
    for translation_ras in candidates[: settings.max_attempts]:
        fitted, metric, iterations, converged = _run_stage(
            fixed, moving, fixed_mask, initial_transform(translation_ras), settings
        )
        quality = scorer(moving, transform_to_ras_matrix(fitted))
        if best is None or quality > best[0]:
            best = (quality, fitted, metric, iterations, converged, translation_ras)
        if quality >= settings.accept_quality:
            break
    assert best is not None
    if best[0] < settings.rotation_search_below:  # a tilted head: try pitched starts, keep the best
        for pitch in settings.search_pitch_deg:
            fitted, metric, iterations, converged = _run_stage(
                fixed, moving, fixed_mask, initial_transform(best[5], pitch), settings
            )
            quality = scorer(moving, transform_to_ras_matrix(fitted))
            if quality > best[0]:
                best = (quality, fitted, metric, iterations, converged, best[5])
            if quality >= settings.accept_quality:
                break
    quality, transform, metric, iterations, converged, translation_ras = best
    similarity = transform
    if mode == "affine":
        second = sitk.AffineTransform(3)
        second.SetCenter(center_lps)
        second.SetMatrix(transform.GetMatrix())
        second.SetTranslation(transform.GetTranslation())
        transform, metric, iterations, converged = _run_stage(
            fixed, moving, fixed_mask, second, settings, levels=settings.affine_levels
        )
        quality = scorer(moving, transform_to_ras_matrix(transform))
    fitted_by = "mutual_information"
    if quality < settings.ratio_refit_below:  # no T1/T2-like contrast? fit the quality score itself
        fov_center = (volume.affine @ np.append((np.asarray(volume.shape) - 1) / 2.0, 1.0))[:3]
        bases = [cap_center - fixed_center, fov_center - np.asarray(template.brain_center_mm)]
        scales = (1.0,) if mode == "rigid" else settings.ratio_search_scales
        starts = _ratio_starts(bases, transform_to_ras_matrix(similarity), np.asarray(fixed_center), settings, scales)
        fit: RatioFit = refit_by_correlation_ratio(fixed, brain, template.mask.affine, moving, starts,
                                                   shrink_factors=settings.shrink_factors, with_scale=mode != "rigid")
        ratio_quality = scorer(moving, fit.template_to_scan)
        if ratio_quality > quality:  # a similarity, also in affine mode (settings, ratio_refit_below)
            transform = ras_matrix_to_transform(fit.template_to_scan)
            metric = _mutual_information(fixed, moving, fixed_mask, transform, settings.histogram_bins)
            quality, iterations, converged, fitted_by = ratio_quality, fit.evaluations, fit.converged, "correlation_ratio"
    template_to_scan = transform_to_ras_matrix(transform)
    return RegistrationResult(
        template_to_scan=template_to_scan,
        mode=mode,
        metric_value=metric,
        quality=quality,
        converged=converged,
        iterations=iterations,
        seconds=time.perf_counter() - started,
        initial_translation_mm=tuple(float(v) for v in translation_ras),  # type: ignore[arg-type]
        fitted_by=fitted_by,
    )
