"""Held-out evaluation of a hippocampus model on real label maps, clean and degraded.

The protocol of ``../shared/DATA.md``: a model trained only on DK-derived data is tested on
FreeSurfer's fsaverage ``orig.mgz`` against its ``aseg.mgz`` (and a model trained only on
fsaverage-derived data on the FSL MNI152 T1 against the DK labels: the swap). Both label maps
use FreeSurfer's hippocampus definition (17 left, 53 right), but they come from different
brains and pipelines and agree only to about Dice 0.83, which caps what is measurable.

Each test scan goes through the full prediction pipeline (registration, resampling, model,
mapping back) exactly as ``volta predict`` runs it; metrics are computed on the reference
label map's own grid. Degradations (:data:`DEGRADATIONS`) are applied to the scan only; a
scan on another grid (thick slices, 2 mm) is compared after mapping its labels back by
nearest neighbour. Needs the recipe data packages (``pip install -e .[recipe]``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from scipy import ndimage

from volta_core.data.synth.sources import builtin_specs
from volta_core.infer.predictor import Predictor
from volta_core.io import Volume, load_volume
from volta_core.preprocess.register import register_to_template
from volta_core.preprocess.resample import resample_array, subdivide_grid
from volta_core.preprocess.template import Template, load_template
from volta_core.train.metrics import segmentation_metrics

LEFT, RIGHT = 17, 53


@dataclass
class ReferenceCase:
    """A real T1 with reference hippocampus labels (0/1 left/2 right) on its grid."""

    name: str
    image: Volume
    labels: np.ndarray
    brain_mask: np.ndarray
    source: str


def reference_case(subset: str) -> ReferenceCase:
    """The test scan of a subset: ``"fsaverage"`` (orig.mgz + aseg) or ``"dk"`` (MNI152 T1 + DK).

    Raises:
        MissingSourceError: the recipe data packages are not installed.
    """
    spec = next(s for s in builtin_specs() if s.subset == subset)
    image = load_volume(spec.image_path)
    label_img = nib.load(str(spec.label_path))
    ids = np.asarray(label_img.dataobj).astype(np.int32)
    if not np.allclose(label_img.affine, image.affine, atol=1e-3) or label_img.shape[:3] != image.shape:
        # e.g. the DK map (2 mm) and the MNI152 T1 (1 mm): labels onto the image grid, nearest neighbour
        to_labels = np.linalg.inv(label_img.affine) @ image.affine
        ids = resample_array(ids.astype(np.float32), image.shape, to_labels, order=0).astype(np.int32)
    labels = np.where(ids == LEFT, 1, np.where(ids == RIGHT, 2, 0)).astype(np.uint8)
    brainmask_file = Path(spec.image_path).with_name("brainmask.mgz")
    if brainmask_file.is_file():
        brain = np.asarray(nib.load(str(brainmask_file)).dataobj) > 0
    else:  # labels of the brain, closed and filled
        brain = ndimage.binary_fill_holes(ndimage.binary_closing(ids > 0, iterations=3))
    return ReferenceCase(f"{spec.name}", image, labels, brain, f"{spec.image_path.name} + {spec.label_path.name}")


# ----------------------------------------------------------------------------- degradations
def _slice_axis(volume: Volume) -> int:
    """Voxel axis closest to world superior-inferior (axial slices are stacked along it)."""
    return int(np.argmax(np.abs(volume.affine[2, :3]) / np.linalg.norm(volume.affine[:3, :3], axis=0)))


def block_average(volume: Volume, factors: tuple[int, int, int]) -> Volume:
    """Average ``factors`` voxels per axis into one (a coarser acquisition of the same field of view)."""
    data = volume.data.astype(np.float32)
    shape = [s // f for s, f in zip(data.shape, factors)]
    data = data[: shape[0] * factors[0], : shape[1] * factors[1], : shape[2] * factors[2]]
    data = data.reshape(shape[0], factors[0], shape[1], factors[1], shape[2], factors[2]).mean(axis=(1, 3, 5))
    scale = np.diag([*factors, 1]).astype(np.float64)
    shift = np.eye(4)
    shift[:3, 3] = (np.asarray(factors) - 1) / 2.0  # new voxel centre = centre of its block
    return Volume(data, volume.affine @ shift @ scale, dict(volume.metadata), volume.source)


def thick_slices(volume: Volume, thickness_mm: float) -> Volume:
    """Axial slices ``thickness_mm`` thick (in-plane resolution kept)."""
    axis = _slice_axis(volume)
    spacing = float(volume.spacing[axis])
    factors = [1, 1, 1]
    factors[axis] = max(1, int(round(thickness_mm / spacing)))
    return block_average(volume, tuple(factors))  # type: ignore[arg-type]


def bias_field(volume: Volume, strength: float = 0.4) -> Volume:
    """Multiply by a smooth field varying by about +-``strength`` across the head."""
    ijk = np.indices(volume.shape, dtype=np.float32).reshape(3, -1)
    world = (volume.affine[:3, :3] @ ijk + volume.affine[:3, 3:4]) / 90.0  # ~ -1..1 over a head
    x, y, z = world
    field = np.exp(strength * (0.6 * x - 0.5 * y + 0.7 * z + 0.4 * x * y - 0.3 * z * z))
    return volume.with_data(volume.data.astype(np.float32) * field.reshape(volume.shape))


def rician_noise(volume: Volume, fraction: float = 0.05, seed: int = 0) -> Volume:
    """Magnitude (Rician) noise with sd = ``fraction`` x the 99th intensity percentile."""
    data = volume.data.astype(np.float32)
    sd = fraction * float(np.percentile(data, 99))
    rng = np.random.default_rng(seed)
    noisy = np.sqrt((data + rng.normal(0, sd, data.shape)) ** 2 + rng.normal(0, sd, data.shape) ** 2)
    return volume.with_data(noisy.astype(np.float32))


def inverted_contrast(volume: Volume, brain: np.ndarray) -> Volume:
    """T2-like: intensities inverted inside the head (CSF bright, white matter dark)."""
    data = volume.data.astype(np.float32)
    head = ndimage.binary_fill_holes(ndimage.binary_closing(data > 0.1 * np.percentile(data, 99), iterations=2))
    head |= brain
    top = float(np.percentile(data[head], 99))
    return volume.with_data(np.where(head, np.clip(top - data, 0, None) + 0.05 * top, 0).astype(np.float32))


def skull_stripped(volume: Volume, brain: np.ndarray) -> Volume:
    return volume.with_data(np.where(brain, volume.data, 0).astype(volume.data.dtype))


def skull_added(volume: Volume, brain: np.ndarray) -> Volume:
    return volume  # the fsaverage scan has its head; listed for symmetry of the table


#: name -> (description, function(volume, brain mask) -> degraded volume)
DEGRADATIONS: dict[str, tuple[str, Callable[[Volume, np.ndarray], Volume]]] = {
    "clean": ("as distributed (1 mm)", lambda v, b: v),
    "thick_3mm": ("3 mm axial slices (block average)", lambda v, b: thick_slices(v, 3.0)),
    "thick_6mm": ("6 mm axial slices (block average)", lambda v, b: thick_slices(v, 6.0)),
    # the same scans predicted on their grid cut into 1 mm slices (`volta predict --fine-grid`):
    # a mask on 6 mm slices cannot match 1 mm labels (even the true labels on that grid score 0.80)
    "thick_3mm_fine_grid": ("3 mm axial slices, mask at 1 mm (--fine-grid)",
                            lambda v, b: subdivide_grid(thick_slices(v, 3.0))),
    "thick_6mm_fine_grid": ("6 mm axial slices, mask at 1 mm (--fine-grid)",
                            lambda v, b: subdivide_grid(thick_slices(v, 6.0))),
    "resolution_2mm": ("2 mm isotropic (block average)", lambda v, b: block_average(v, (2, 2, 2))),
    "bias_strong": ("bias field, about +-40 % across the head", lambda v, b: bias_field(v, 0.4)),
    "noise": ("Rician noise, sd 5 % of the 99th percentile", lambda v, b: rician_noise(v, 0.05)),
    "inverted": ("inverted (T2-like) contrast inside the head", inverted_contrast),
    "skull_off": ("skull-stripped with the brain mask", skull_stripped),
}


def _labels_on_reference(labels: np.ndarray, scan: Volume, reference: Volume) -> np.ndarray:
    if labels.shape == reference.shape and np.allclose(scan.affine, reference.affine, atol=1e-4):
        return labels
    to_scan = np.linalg.inv(scan.affine) @ reference.affine
    return resample_array(labels.astype(np.float32), reference.shape, to_scan, order=0).astype(np.uint8)


def evaluate_case(predictor: Predictor, case: ReferenceCase, scan: Volume, *, tta: bool = False) -> dict[str, Any]:
    """Predict on ``scan`` (the case's image, maybe degraded) and score against the reference."""
    started = time.perf_counter()
    prediction = predictor.predict(scan, tta=tta, name=case.name)
    pred = _labels_on_reference(np.asarray(prediction.labels), scan, case.image)
    metrics = segmentation_metrics(pred, case.labels, case.image.spacing)
    reference_ml = {side: float((case.labels == c).sum() * np.prod(case.image.spacing) / 1000.0)
                    for side, c in (("left", 1), ("right", 2))}
    return {**{k: float(v) for k, v in metrics.items()},
            "volume_ml_left": float(prediction.volumes_ml.get("left", float("nan"))),
            "volume_ml_right": float(prediction.volumes_ml.get("right", float("nan"))),
            "reference_ml_left": reference_ml["left"], "reference_ml_right": reference_ml["right"],
            "registration_quality": float(prediction.quality.registration_quality)
            if getattr(prediction.quality, "registration_quality", None) is not None else float("nan"),
            "ood_score": prediction.quality.ood_score if getattr(prediction.quality, "ood_score", None) is not None
            else None,
            "warnings": list(getattr(prediction.quality, "warnings", [])),
            "seconds": time.perf_counter() - started}


def atlas_baseline(subset: str = "fsaverage", *, template: Template | None = None,
                   mode: str = "affine") -> dict[str, Any]:
    """What registration alone gives: the DK label map carried onto the test scan, no model.

    The scan is registered to the template exactly as for prediction. The DK
    map's hippocampi (MNI space, as the template) are then mapped onto the scan's grid through
    that affine (one-hot, trilinear, then the most likely label), and scored like the model.
    A model that only learned "where the hippocampus usually is" scores about this.

    Only defined for the ``"fsaverage"`` test scan. The fsaverage labels are not in template
    space, so the swap has no such baseline.
    """
    if subset != "fsaverage":
        raise ValueError("the registered-atlas baseline is defined for the fsaverage test only")
    case = reference_case(subset)
    template = template or load_template()
    started = time.perf_counter()
    registration = register_to_template(case.image, template, mode=mode)  # type: ignore[arg-type]
    spec = next(s for s in builtin_specs() if s.subset == "dk")
    label_img = nib.load(str(spec.label_path))
    ids = np.asarray(label_img.dataobj).astype(np.int32)
    scan_to_labels = np.linalg.inv(label_img.affine) @ np.linalg.inv(registration.template_to_scan) @ case.image.affine
    channels = [resample_array((ids == c).astype(np.float32), case.image.shape, scan_to_labels, order=1)
                for c in (LEFT, RIGHT)]
    background = 1.0 - channels[0] - channels[1]
    pred = np.argmax(np.stack([background, *channels]), axis=0).astype(np.uint8)
    metrics = segmentation_metrics(pred, case.labels, case.image.spacing)
    return {"description": "the DK label map carried by the affine registration alone (no model)",
            **{k: float(v) for k, v in metrics.items()},
            "registration_quality": float(registration.quality), "seconds": time.perf_counter() - started}


def evaluate_heldout(bundle: str | Path, subset: str = "fsaverage", degradations: list[str] | None = None,
                     *, device: str = "cpu", tta: bool = False,
                     log: Callable[[str], None] | None = None) -> dict[str, dict[str, Any]]:
    """Metrics of ``bundle`` on the ``subset`` test scan, clean and under each degradation.

    Returns:
        ``{degradation: {"dice_left", "hd95_left", "volume_error_left", ... , "description"}}``.
    """
    predictor = Predictor.from_bundle(bundle, device)
    case = reference_case(subset)
    names = degradations or ["clean"]
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        description, degrade = DEGRADATIONS[name]
        result = evaluate_case(predictor, case, degrade(case.image, case.brain_mask), tta=tta)
        out[name] = {"description": description, **result}
        if log:
            log(f"{subset} {name}: Dice L {result['dice_left']:.3f} R {result['dice_right']:.3f} "
                f"({result['seconds']:.1f} s)")
    return out
