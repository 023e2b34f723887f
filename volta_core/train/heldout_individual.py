"""Held-out test on individual anatomy: synthetic scans of held-out label maps, full pipeline.

The maps of subset ``individual_heldout`` (every 5th map of the label-map folder, by subject:
:func:`volta_core.data.synth.sources.label_map_specs`) are never drawn during training. For
each one, an image is rendered **in the map's own space and grid** (1 mm, whole head with its
extra-cerebral labels) with a T1-like or a random contrast, blur, bias field and noise, and
then goes through ``volta predict``'s full pipeline (registration to the template, model,
mapping back). The prediction is scored against the map's own labels on that grid, so the
registration, the model and the inverse mapping are all under test.

Contrasts:

* ``t1``: T1-like tissue intensities (white matter bright, CSF dark) with small jitter;
* ``random``: a random intensity per label (the synthesis engine's domain randomisation).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch

from volta_core.data.synth import fs_labels as fsl
from volta_core.data.synth import intensity as inten
from volta_core.data.synth.sources import label_map_specs
from volta_core.infer.predictor import Predictor
from volta_core.io import Volume
from volta_core.contracts.prediction import segmented_structures
from volta_core.train.metrics import segmentation_metrics

CONTRASTS = ("t1", "random")


def render_map(fs_ids: np.ndarray, contrast: str, seed: int) -> np.ndarray:
    """A synthetic MR image of a label map on its own grid.

    Args:
        fs_ids: ``(I, J, K)`` FreeSurfer-id label map (1 mm).
        contrast: ``"t1"`` or ``"random"``.
        seed: random seed (intensities, bias field, noise).

    Returns:
        ``(I, J, K)`` float32 image in [0, 1].
    """
    if contrast not in CONTRASTS:
        raise ValueError(f"contrast must be one of {CONTRASTS}, got {contrast!r}")
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    labels = torch.from_numpy(fsl.to_compact(fs_ids).astype(np.int64))
    if contrast == "t1":
        means, stds = inten.t1_gmm_params(rng)
    else:
        means, stds = inten.random_gmm_params(rng, inten.label_groups(False, False))
    with torch.no_grad():
        image = inten.gmm_image(labels, torch.as_tensor(means), torch.as_tensor(stds), gen)
        image = inten.gaussian_blur(image, (0.6, 0.6, 0.6))
        image = image * inten.bias_field(tuple(image.shape), 0.15, 4, gen, torch.device("cpu"))
        image = inten.add_noise(inten.minmax(image), 0.02, gen)
    return inten.minmax(image).numpy().astype(np.float32)


def reference_classes(fs_ids: np.ndarray, structures: tuple[str, ...]) -> np.ndarray:
    """The map's labels as segmentation classes (0 background, 1/2 hippocampus, 3/4 ...)."""
    return fsl.target_table(structures)[fsl.to_compact(fs_ids)].astype(np.uint8)


def evaluate_individual(bundle: str | Path, label_maps: str | Path, *, contrasts: tuple[str, ...] = CONTRASTS,
                        seed: int = 0, device: str = "cpu", limit: int = 0, tta: bool = False,
                        subset: str = "individual_heldout",
                        log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Scores of ``bundle`` on the held-out individual label maps.

    Args:
        bundle: the model bundle folder.
        label_maps: the label-map folder the recipe trained on (its held-out part is used).
        contrasts: which renderings to test.
        seed: rendering seed.
        limit: only the first N held-out maps (0 = all; tests use 1).
        tta: predict with the mirrored-input test-time augmentation (``volta predict --tta``).
        subset: ``"individual_heldout"`` (the test), or ``"individual"``: the maps the model was
            trained on, rendered afresh (a diagnostic: how much of an error is generalisation).

    Returns:
        ``{"cases": [{map, contrast, dice_left, ..., volume_error_left, ...}], "summary":
        {contrast: {metric: mean}}, "maps": [names]}``.
    """
    if subset not in ("individual", "individual_heldout"):
        raise ValueError(f"subset must be 'individual' or 'individual_heldout', got {subset!r}")
    predictor = Predictor.from_bundle(bundle, device)
    n_classes = predictor.card.segmentation_classes
    structures = tuple(segmented_structures(n_classes))
    specs = [s for s in label_map_specs(label_maps) if s.subset == subset]
    if limit:
        specs = specs[:limit]
    cases: list[dict[str, Any]] = []
    for spec in specs:
        image = nib.load(str(spec.label_path))
        fs_ids = np.asarray(image.dataobj).astype(np.int32)
        reference = reference_classes(fs_ids, structures)
        spacing = tuple(float(z) for z in image.header.get_zooms()[:3])
        for k, contrast in enumerate(contrasts):
            started = time.perf_counter()
            volume = Volume(render_map(fs_ids, contrast, seed + 17 * k), image.affine.astype(np.float64))
            prediction = predictor.predict(volume, name=f"{spec.name}-{contrast}", tta=tta)
            metrics = segmentation_metrics(np.asarray(prediction.labels), reference, spacing, structures)
            voxel_ml = float(np.prod(spacing)) / 1000.0
            case = {"map": spec.name, "contrast": contrast, **{k2: float(v) for k2, v in metrics.items()},
                    "volume_ml_left": prediction.volumes_ml["left"], "volume_ml_right": prediction.volumes_ml["right"],
                    "reference_ml_left": float((reference == 1).sum()) * voxel_ml,
                    "reference_ml_right": float((reference == 2).sum()) * voxel_ml,
                    "registration_quality": prediction.quality.registration_quality,
                    "warnings": list(prediction.quality.warnings),
                    "seconds": time.perf_counter() - started}
            cases.append(case)
            if log:
                log(f"{spec.name} {contrast}: Dice L {case['dice_left']:.3f} R {case['dice_right']:.3f}, "
                    f"volume error L {case['volume_error_left']:+.1%} R {case['volume_error_right']:+.1%} "
                    f"({case['seconds']:.1f} s)")
    summary: dict[str, dict[str, float]] = {}
    for contrast in contrasts:
        rows = [c for c in cases if c["contrast"] == contrast]
        keys = [k for k, v in rows[0].items() if isinstance(v, float)] if rows else []
        summary[contrast] = {k: float(np.nanmean([r[k] for r in rows])) for k in keys}
        if rows:
            summary[contrast]["volume_error_mean"] = float(np.mean(
                [(r["volume_error_left"] + r["volume_error_right"]) / 2 for r in rows]))
    return {"maps": [s.name for s in specs], "cases": cases, "summary": summary, "structures": list(structures)}


def contrast_correlations(bundle: str | Path, label_maps: str | Path, *, contrasts: tuple[str, ...] = CONTRASTS,
                          seeds: tuple[int, ...] = (100, 200), subset: str = "individual", limit: int = 0,
                          device: str = "cpu", log: Callable[[str], None] | None = None) -> dict[str, list[float]]:
    """Template correlation (:meth:`Predictor.template_correlation`) of renderings of the label maps,
    per contrast: what the T1 segmenter's gate is set from. Registration only, no model runs.

    Args:
        subset: ``"individual"`` (the maps the model trains on: the default, so that the gate is
            not tuned on the held-out test) or ``"individual_heldout"``.
        seeds: one rendering per seed and contrast.
    """
    predictor = Predictor.from_bundle(bundle, device)
    specs = [s for s in label_map_specs(label_maps) if s.subset == subset]
    values: dict[str, list[float]] = {c: [] for c in contrasts}
    for spec in specs[:limit] if limit else specs:
        image = nib.load(str(spec.label_path))
        fs_ids = np.asarray(image.dataobj).astype(np.int32)
        for contrast in contrasts:
            for seed in seeds:
                prep, _ = predictor.prepare(Volume(render_map(fs_ids, contrast, seed), image.affine.astype(np.float64)))
                correlation = predictor.template_correlation(prep)
                values[contrast].append(float("nan") if correlation is None else correlation)
                if log:
                    log(f"{spec.name} {contrast} seed {seed}: template correlation {values[contrast][-1]:.3f}")
    return values
