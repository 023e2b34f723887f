"""Preprocess any Volume for the model, and map predictions back onto the scan's own grid.

Defaults (:class:`ModelInputSpec`): **1.5 mm isotropic, 128^3 voxels, RAS, template space**.
The template brain's bounding box is 144 x 181 x 154 mm and a typical adult brain is about
160 x 192 x 160 mm after affine alignment; 128 x 1.5 mm = 192 mm holds it with room for a
registration error or a large head, while 128^3 keeps a patch-16 ViT at 512 tokens
(~0.1 s per forward pass on 2 CPU cores, see DATA.md). 1 mm would need 192^3 (3.4x the
tokens); 2 mm (96^3) halves the hippocampus (40 x 20 x 20 mm) to 20 x 10 x 10 voxels. For
hippocampus detail use ``roi="hippocampus"`` with e.g. ``spacing=(1, 1, 1), size=(96, 64, 64)``.

Steps (all spatial ones compose into one affine, see :mod:`volta_core.preprocess.transforms`):

1. reorient to RAS: implicit, the model grid is RAS-aligned whatever the scan's storage order;
2. register to the template (``space="template"``) or keep scan space (``space="native"``);
3. choose the model grid: ``spacing``, ``size``, centred on the template brain (or the ROI,
   or the scan's head in native space) = resample + crop/pad;
4. one trilinear resampling of the scan onto that grid (after an anti-aliasing Gaussian
   along axes finer than the model grid);
5. percentile normalisation inside the (template) brain mask.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import ndimage

from volta_core.io.volume import Volume
from volta_core.preprocess.normalize import IntensityRecord, foreground_mask, percentile_normalise, zscore_normalise
from volta_core.preprocess.register import (
    RegistrationMode,
    RegistrationResult,
    RegistrationSettings,
    register_to_template,
)
from volta_core.preprocess.resample import output_block_covering, resample_array
from volta_core.preprocess.template import Template, load_template
from volta_core.preprocess.transforms import LabelInversion, SpatialRecord


@dataclass(frozen=True)
class ModelInputSpec:
    """What the model expects as input (see the module docstring for why these defaults).

    Attributes:
        spacing: voxel size of the model grid (mm).
        size: shape of the model grid.
        orientation: storage order of the model grid; only ``"RAS"``.
        space: ``"template"`` (affinely registered to the template) or ``"native"`` (the
            scan's own world space, only reoriented and resampled).
        normalisation: ``"percentile"`` (robust percentiles -> [0, 1]), ``"zscore"`` (zero mean,
            unit variance) or ``"none"``; measured inside the template brain (template space)
            or the scan's foreground (native space).
        percentiles: low/high percentiles mapped to 0/1.
        roi: name of a template region of interest to centre the grid on (e.g.
            ``"hippocampus"``), or None for the whole brain. Needs ``space="template"``.
        registration_mode: ``"rigid"``, ``"similarity"`` or ``"affine"``.
        antialias: Gaussian-smooth the scan along axes whose voxels are finer than the model
            grid before resampling (sigma = sqrt(r^2 - 1) / 2 voxels for a ratio r), so that
            fine texture does not alias into the coarser model grid.
    """

    spacing: tuple[float, float, float] = (1.5, 1.5, 1.5)
    size: tuple[int, int, int] = (128, 128, 128)
    orientation: str = "RAS"
    space: Literal["template", "native"] = "template"
    normalisation: Literal["percentile", "zscore", "none"] = "percentile"
    percentiles: tuple[float, float] = (0.5, 99.5)
    roi: str | None = None
    registration_mode: RegistrationMode = "affine"
    antialias: bool = True

    def __post_init__(self) -> None:
        if self.orientation != "RAS":
            raise ValueError(f"only orientation 'RAS' is supported, got {self.orientation!r}")
        if self.space not in ("template", "native"):
            raise ValueError(f"space must be 'template' or 'native', got {self.space!r}")
        if self.normalisation not in ("percentile", "zscore", "none"):
            raise ValueError(f"normalisation must be 'percentile', 'zscore' or 'none', got {self.normalisation!r}")
        if len(self.spacing) != 3 or any(s <= 0 for s in self.spacing):
            raise ValueError(f"spacing must be three positive numbers, got {self.spacing}")
        if len(self.size) != 3 or any(int(s) < 1 for s in self.size):
            raise ValueError(f"size must be three positive integers, got {self.size}")
        if self.roi is not None and self.space != "template":
            raise ValueError("a region of interest is defined in template space: use space='template'")


@dataclass(frozen=True)
class PreprocessRecord:
    """Everything needed to map model-space outputs back onto the scan.

    Attributes:
        spec: the model input spec used.
        spatial: the composed scan <-> model grid map.
        intensity: normalisation parameters (None if ``normalisation="none"``).
        registration: the registration result (None in native space).
        steps: what was done, in order, for display and provenance.
    """

    spec: ModelInputSpec
    spatial: SpatialRecord
    intensity: IntensityRecord | None
    registration: RegistrationResult | None
    steps: tuple[str, ...] = ()

    def invert_labels(self, labels: np.ndarray, *, method: LabelInversion = "linear") -> np.ndarray:
        """Model-space label map ``(X, Y, Z)`` -> label map on the scan's grid ``(I, J, K)``.

        See :meth:`SpatialRecord.invert_labels` for ``method``.
        """
        return self.spatial.invert_labels(labels, method=method)

    def invert_probabilities(self, probabilities: np.ndarray, *, background_channel: int | None = 0) -> np.ndarray:
        """Model-space ``(C, X, Y, Z)`` probabilities -> ``(C, I, J, K)`` on the scan's grid."""
        return self.spatial.invert_probabilities(probabilities, background_channel=background_channel)

    def to_model(self, native: np.ndarray, *, order: int = 0) -> np.ndarray:
        """Push an array on the scan grid (e.g. a reference label map) onto the model grid."""
        return self.spatial.to_model(native, order=order)

    def as_native_volume(self, native_array: np.ndarray, reference: Volume, **metadata: object) -> Volume:
        """Wrap an inverted array as a Volume on the scan's grid (checks the grid matches)."""
        if reference.shape != self.spatial.native_shape or not np.allclose(reference.affine, self.spatial.native_affine):
            raise ValueError("the reference volume is not the scan this record was made from")
        return reference.with_data(native_array, **metadata)


@dataclass(frozen=True)
class Preprocessed:
    """Output of :func:`preprocess`.

    Attributes:
        data: float32 ``spec.size`` array in model space (RAS storage order).
        affine: model voxel -> model-space RAS mm (template mm in template space).
        record: how to map outputs back to the scan.
        timings: seconds per stage (``register``, ``resample``, ``normalise``).
    """

    data: np.ndarray
    affine: np.ndarray
    record: PreprocessRecord
    timings: dict[str, float] = field(default_factory=dict)


def model_grid_affine(center_mm: np.ndarray, spacing: tuple[float, float, float], size: tuple[int, int, int]) -> np.ndarray:
    """RAS-aligned voxel -> mm affine of a ``size`` grid whose centre is at ``center_mm``."""
    affine = np.diag([*map(float, spacing), 1.0])
    affine[:3, 3] = np.asarray(center_mm, dtype=np.float64) - (np.asarray(size) - 1) / 2.0 * np.asarray(spacing)
    return affine


def template_brain_on_model_grid(spec: ModelInputSpec, template: Template, *, erode_voxels: int = 0) -> np.ndarray:
    """The template's brain mask on a template-space model grid (the same grid for every scan).

    Args:
        spec: a ``space="template"`` input spec.
        template: the registration template.
        erode_voxels: shrink the mask by this many model-grid voxels (a band inside the brain's
            edge, where a skull and a brain extraction's zeros differ most, is left out).

    Raises:
        ValueError: for a native-space spec (there the grid moves with every scan).
    """
    if spec.space != "template":
        raise ValueError("a template brain mask needs a template-space model grid")
    center = template.roi(spec.roi).center_mm if spec.roi else np.asarray(template.brain_center_mm)
    affine = model_grid_affine(center, spec.spacing, spec.size)
    mask = template.brain_on_grid(tuple(spec.size), affine)
    return ndimage.binary_erosion(mask, iterations=erode_voxels) if erode_voxels > 0 else mask


def _native_center_mm(volume: Volume) -> np.ndarray:
    """Centre of the foreground's bounding box in scan mm (the FOV centre if empty)."""
    step = max(1, int(round(max(volume.shape) / 64)))
    coarse = volume.data[::step, ::step, ::step]
    idx = np.argwhere(foreground_mask(coarse)) * step
    if idx.shape[0] == 0:
        idx = np.array([[0, 0, 0], np.asarray(volume.shape) - 1])
    box = np.array([idx.min(0), idx.max(0)], dtype=np.float64)
    return volume.voxel_to_world(box).mean(axis=0)


def antialias_sigmas(spatial: SpatialRecord) -> np.ndarray:
    """Gaussian sigma (scan voxels) per scan axis for resampling onto the model grid.

    The model voxel's extent along each scan axis is the norm of the corresponding row of the
    model -> scan voxel map; sigma = sqrt(r^2 - 1) / 2 for a downsampling ratio r > 1, else 0.
    """
    ratio = np.linalg.norm(spatial.model_to_native[:3, :3], axis=1)
    return np.where(ratio > 1.1, np.sqrt(np.maximum(ratio**2 - 1.0, 0.0)) / 2.0, 0.0)


def _antialiased_to_model(source: np.ndarray, spatial: SpatialRecord) -> np.ndarray:
    """Smooth only the part of the scan the model grid sees, then resample it once."""
    sigmas = antialias_sigmas(spatial)
    if not np.any(sigmas > 0):
        return spatial.to_model(source, order=1)
    model_box = (np.zeros(3), np.asarray(spatial.model_shape, dtype=np.float64) - 1)
    start, stop = output_block_covering(model_box, spatial.model_to_native, spatial.native_shape, margin=4)
    if any(b <= a for a, b in zip(start, stop)):
        return spatial.to_model(source, order=1)
    block = source[start[0] : stop[0], start[1] : stop[1], start[2] : stop[2]].astype(np.float32)
    block = ndimage.gaussian_filter(block, sigmas, truncate=3.0, mode="nearest")
    shift = np.eye(4)
    shift[:3, 3] = -np.asarray(start, dtype=np.float64)
    return resample_array(block, spatial.model_shape, shift @ spatial.model_to_native, order=1)


def preprocess(
    volume: Volume,
    spec: ModelInputSpec | None = None,
    *,
    template: Template | None = None,
    registration: RegistrationResult | None = None,
    registration_settings: RegistrationSettings | None = None,
) -> Preprocessed:
    """Bring a scan onto the model's input grid, recording how to come back.

    Args:
        volume: the scan, any orientation/spacing, with or without skull.
        spec: the model's input; defaults to :class:`ModelInputSpec()`.
        template: template for ``space="template"``; defaults to the shipped one.
        registration: a registration computed before (e.g. to reuse it); skips registering.
            Ignored when ``spec.space == "native"``.
        registration_settings: speed/accuracy knobs of the registration.

    Returns:
        :class:`Preprocessed`; ``result.record.invert_labels(...)`` and
        ``result.record.invert_probabilities(...)`` give arrays on the scan's own grid.

    Raises:
        ValueError: for an invalid spec or a constant image.
        RegistrationError: (a ValueError) when the scan cannot be registered; check
            ``record.registration.is_reliable`` for fits that ran but look wrong.
    """
    spec = spec or ModelInputSpec()
    timings: dict[str, float] = {}
    steps = [f"reorient {''.join(volume.orientation)} -> RAS (folded into one resampling)"]
    started = time.perf_counter()
    template_obj: Template | None = None
    if spec.space == "template":
        template_obj = template or load_template()
        if registration is None:
            registration = register_to_template(
                volume, template_obj, mode=spec.registration_mode, settings=registration_settings
            )
        steps.append(f"register to {template_obj.name} ({registration.mode}, quality {registration.quality:.2f})")
        template_to_scan = registration.template_to_scan
        center = template_obj.roi(spec.roi).center_mm if spec.roi else np.asarray(template_obj.brain_center_mm)
    else:
        registration = None
        template_to_scan = np.eye(4)
        center = _native_center_mm(volume)
    timings["register"] = time.perf_counter() - started

    started = time.perf_counter()
    model_affine = model_grid_affine(center, spec.spacing, spec.size)
    spatial = SpatialRecord(
        native_shape=volume.shape,
        native_affine=volume.affine.copy(),
        native_orientation="".join(volume.orientation),
        template_to_scan=np.asarray(template_to_scan, dtype=np.float64),
        model_shape=tuple(int(s) for s in spec.size),  # type: ignore[arg-type]
        model_affine=model_affine,
    )
    source = volume.data
    if np.issubdtype(source.dtype, np.floating) and not np.isfinite(source).all():
        source = np.nan_to_num(source, nan=0.0, posinf=0.0, neginf=0.0)  # a copy: Volume stays intact
    if spec.antialias:
        data = _antialiased_to_model(source, spatial)
    else:
        data = spatial.to_model(source, order=1)
    steps.append(f"resample to {spec.spacing} mm, crop/pad to {tuple(spec.size)} around {np.round(center, 1).tolist()}")
    timings["resample"] = time.perf_counter() - started

    started = time.perf_counter()
    intensity: IntensityRecord | None = None
    if spec.normalisation in ("percentile", "zscore"):
        mask = None
        if template_obj is not None:  # the template brain: same statistics with or without skull
            mask = template_obj.brain_on_grid(spatial.model_shape, model_affine) & (data > 0)
        if spec.normalisation == "zscore":
            normalised = zscore_normalise(data, mask)
            steps.append("normalise to zero mean, unit variance")
        else:
            low, high = spec.percentiles
            normalised = percentile_normalise(data, mask, low_percentile=low, high_percentile=high)
            steps.append(f"normalise percentiles {low}/{high} -> 0/1")
        data, intensity = normalised.data, normalised.record
    timings["normalise"] = time.perf_counter() - started

    record = PreprocessRecord(spec, spatial, intensity, registration, tuple(steps))
    return Preprocessed(data.astype(np.float32, copy=False), model_affine, record, timings)
